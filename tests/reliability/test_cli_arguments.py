"""The CLI's own checks: numbers refused as they are parsed, evaluate's memory estimate, notices as one
line, and outputs that would overwrite an input."""

from __future__ import annotations

import shutil
import warnings

import pytest

from napari_singan import cli
from napari_singan.cli import main
from napari_singan.core import memory
from napari_singan.core.errors import SinGANNotice

from .conftest import assert_one_line, snapshot

QUIET = ["--device", "cpu", "--quiet"]
SIZE = ["--preset", "paper", "--max-size", "32", "--min-size", "14", "--iters", "2"]
TRAIN = ["train", "{d}/in.tif", "-o", "{d}/t.singan", *SIZE, *QUIET]
SAMPLE = ["sample", "{d}/m.singan", "-o", "{d}/s.tif", *QUIET]
AUGMENT = ["augment", "{d}/m.singan", "-o", "{d}/ds", *QUIET]
SR = ["sr", "{d}/m.singan", "{d}/in.tif", "-o", "{d}/sr.tif", *QUIET]
PAINT = ["paint", "{d}/m.singan", "{d}/in.tif", "-o", "{d}/p.tif", *QUIET]
EVALUATE = ["evaluate", "{d}/m.singan", "--device", "cpu"]
MASKED = ["{d}/m.singan", "{d}/in.tif", "--mask", "{d}/mask.tif", "-o", "{d}/e.tif"]
ANIMATE = ["animate", "{d}/m.singan", "-o", "{d}/a.gif", "--frames", "2", *QUIET]
SEED, COUNT, FINITE, POSITIVE = (
    "a whole number of at least 0",
    "a whole number of at least 1",
    "a finite number",
    "a finite number above 0",
)
UNIT = "a number from 0 to 1"
#: (command line with {d} for the workspace, the flag as argparse names it, its bad value, what it wants).
BAD_NUMBERS = [
    (SAMPLE, "--seed", "-1", SEED),
    (AUGMENT, "--seed", "-1", SEED),
    (EVALUATE, "--seed", "-1", SEED),
    (PAINT, "--seed", "-1", SEED),
    (SR, "--seed", "-1", SEED),
    (["edit", *MASKED, *QUIET], "--seed", "-1", SEED),
    (["harmonize", *MASKED, *QUIET], "--seed", "-1", SEED),
    (ANIMATE, "--seed", "-1", SEED),
    (TRAIN, "--seed", "-5", SEED),
    (["train-many", "{d}/in.tif", "-o", "{d}/models", "--device", "cpu"], "--seed", "-1", SEED),
    (SAMPLE, "--scale-w", "nan", FINITE),
    (SAMPLE, "--scale-h", "inf", FINITE),
    (SR, "--factor", "nan", POSITIVE),
    (SR, "--factor", "inf", POSITIVE),
    (ANIMATE, "--fps", "0", POSITIVE),
    (ANIMATE, "--fps", "-1", POSITIVE),
    (ANIMATE, "--fps", "nan", POSITIVE),
    (ANIMATE, "--alpha", "nan", FINITE),
    (["edit", *MASKED, *QUIET], "--radius", "nan", FINITE),
    (["harmonize", *MASKED, *QUIET], "--sigma", "inf", FINITE),
    (TRAIN, "--lr", "inf", POSITIVE),
    (TRAIN, "--rec-weight", "inf", FINITE),
    (PAINT, "-n/--num", "0", COUNT),
    (PAINT, "-n/--num", "-1", COUNT),
    (AUGMENT, "-n/--num", "0", COUNT),
    (EVALUATE, "-n/--num", "0", COUNT),
    (ANIMATE, "--frames", "0", COUNT),
    (SAMPLE, "--variation", "1.5", UNIT),
    (AUGMENT, "--variation", "-0.1", UNIT),
    (AUGMENT, "--variation", "nan", UNIT),
]


@pytest.mark.parametrize(
    ("argv", "flag", "value", "wanted"), BAD_NUMBERS, ids=[f"{c[0][0]} {c[1]} {c[2]}" for c in BAD_NUMBERS]
)
def test_bad_numbers_are_refused_as_they_are_parsed(argv, flag, value, wanted, workspace, capsys):
    before = snapshot(workspace)
    with pytest.raises(SystemExit) as stop:
        main([*(arg.format(d=workspace) for arg in argv), flag.split("/")[0], value])
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert_one_line(captured.err.splitlines()[-1], f"error: argument {flag}: give {wanted}, not ")
    assert "Traceback" not in captured.err and captured.out == ""  # e.g. no training plan
    assert snapshot(workspace) == before


def test_evaluate_refuses_more_samples_than_memory_holds(workspace, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 100 * 10**6)
    from napari_singan.core import sampling

    # the first step after generate's check: a check placed later would fail here, not hang
    monkeypatch.setattr(sampling, "torch_generators", lambda *a: pytest.fail("sampled before the check"))
    assert main(["evaluate", str(workspace / "m.singan"), "-n", "100000000", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-singan: error: ")
    assert_one_line(err, "only 100.0 MB is available on cpu: choose a smaller output size or fewer samples")


def test_evaluate_force_measures_despite_the_estimate(workspace, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1)
    argv = ["evaluate", str(workspace / "m.singan"), "-n", "2", "--device", "cpu", "--json"]
    assert main(argv) == 2
    assert_one_line(capsys.readouterr().err, "or pass --force to try anyway")
    assert main([*argv, "--force"]) == 0
    assert '"patch_swd": ' in capsys.readouterr().out


def test_notices_are_one_note_line(workspace, capsys):
    argv = ["animate", str(workspace / "m.singan"), "--frames", "2", "-o", str(workspace / "a.gif"), *QUIET]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert err.startswith("napari-singan: note: this model was trained with zero padding; animations keep")
    assert_one_line(err, "(train with --padding noise, as the reference does)")


def test_other_warnings_and_the_global_warning_hook_are_left_alone(monkeypatch, capsys):
    def warn_both(args) -> int:
        warnings.warn("not a notice", UserWarning, stacklevel=1)
        warnings.warn("a notice", SinGANNotice, stacklevel=1)
        return 0

    monkeypatch.setitem(cli.COMMANDS, "info", warn_both)
    hook = warnings.showwarning
    with pytest.warns(UserWarning) as shown:
        assert main(["info", "m.singan"]) == 0
    assert [str(w.message) for w in shown] == ["not a notice"]
    assert capsys.readouterr().err == "napari-singan: note: a notice\n"
    assert warnings.showwarning is hook


#: (case, command line with {d} for the workspace); model.tif is a model, link.tif a link to in.tif.
SAME_FILE = [
    ("sr onto its image", ["sr", "{d}/m.singan", "{d}/in.tif", "-o", "{d}/./in.tif"]),
    ("sr onto a link to its image", ["sr", "{d}/m.singan", "{d}/in.tif", "-o", "{d}/link.tif"]),
    ("paint onto its paint", ["paint", "{d}/m.singan", "{d}/in.tif", "-o", "{d}/in.tif"]),
    ("edit onto its image", ["edit", *MASKED[:-1], "{d}/in.tif"]),
    ("harmonize onto its mask", ["harmonize", *MASKED[:-1], "{d}/mask.tif"]),
    ("sample onto its model", ["sample", "{d}/model.tif", "-o", "{d}/model.tif"]),
    ("animate onto its model", ["animate", "{d}/model.tif", "-o", "{d}/model.tif"]),
    ("train onto its image", ["train", "{d}/in.tif", "-o", "{d}/in.tif", *SIZE]),
    ("train onto its labels", ["train", "{d}/in.tif", "--labels", "{d}/labels.tif", "-o", "{d}/labels.tif"]),
]


@pytest.mark.parametrize("argv", [c[1] for c in SAME_FILE], ids=[c[0] for c in SAME_FILE])
def test_output_that_is_an_input_is_refused(argv, workspace, capsys):
    shutil.copy(workspace / "m.singan", workspace / "model.tif")
    (workspace / "link.tif").symlink_to(workspace / "in.tif")
    before = snapshot(workspace)
    assert main([*(arg.format(d=workspace) for arg in argv), *QUIET]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("napari-singan: error: the output ")
    assert_one_line(captured.err, ": choose another output path")
    assert captured.out == ""
    assert snapshot(workspace) == before
