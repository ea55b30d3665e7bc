"""Bad input to every CLI command: exit code 2, one line on stderr, nothing written, nothing overwritten."""

from __future__ import annotations

import os

import pytest

from napari_singan.cli import main
from napari_singan.core import memory

from .conftest import assert_one_line, snapshot

QUIET = ["--device", "cpu", "--quiet"]
TRAIN = ["--preset", "paper", "--max-size", "32", "--min-size", "14", "--iters", "2", *QUIET]
#: What the tests pretend the machine has free, so that memory refusals do not depend on it.
AVAILABLE = 100 * 10**6

#: (case, command line with {d} for the workspace, part of the message).
IMAGES = [
    ("empty image", ["train", "{d}/empty.tif", "-o", "{d}/existing.singan"], "empty or too small"),
    ("1-px image", ["train", "{d}/pixel.tif", "-o", "{d}/existing.singan"], "empty or too small"),
    ("NaN image", ["train", "{d}/nan.tif", "-o", "{d}/existing.singan"], "NaN or infinite"),
    ("inf image", ["train", "{d}/inf.tif", "-o", "{d}/existing.singan"], "NaN or infinite"),
    ("constant image", ["train", "{d}/constant.tif", "-o", "{d}/existing.singan"], "constant"),
    ("boolean image", ["train", "{d}/bool.png", "-o", "{d}/existing.singan"], "boolean mask"),
    ("2-valued labels", ["train", "{d}/labels.tif", "-o", "{d}/existing.singan"], "only two values"),
    ("4-D image", ["train", "{d}/stack4d.tif", "-o", "{d}/existing.singan"], "ONE 2-D image"),
    ("junk .png", ["train", "{d}/junk.png", "-o", "{d}/existing.singan"], "is not an image napari-singan"),
    ("text as .tif", ["train", "{d}/text.tif", "-o", "{d}/existing.singan"], "is not an image napari-singan"),
    ("truncated .png", ["train", "{d}/trunc.png", "-o", "{d}/existing.singan"], "is not an image napari"),
    ("missing image", ["train", "{d}/missing.tif", "-o", "{d}/existing.singan"], "no image file"),
    ("NaN input to sr", ["sr", "{d}/m.singan", "{d}/nan.tif", "-o", "{d}/out.tif"], "NaN or infinite"),
    ("4-D paint", ["paint", "{d}/m.singan", "{d}/stack4d.tif", "-o", "{d}/out.tif"], "ONE 2-D image"),
    (
        "junk composite",
        ["edit", "{d}/m.singan", "{d}/junk.png", "--mask", "{d}/mask.tif", "-o", "{d}/out.tif"],
        "is not an image",
    ),
]
MASKS = [
    (
        f"{cmd} {what} mask",
        [cmd, "{d}/m.singan", "{d}/in.tif", "--mask", f"{{d}}/{name}", "-o", "{d}/out.tif"],
        match,
    )
    for cmd in ("harmonize", "edit")
    for what, name, match in [
        ("all-zero", "mask_zero.tif", "the mask is empty"),
        ("3-D", "mask_3d.tif", "the mask must be a 2-D image"),
        ("unreadable", "text.tif", "is not an image napari-singan"),
    ]
]
MODELS = [
    (f"{what} model", ["sample", f"{{d}}/{name}", "-o", "{d}/out.tif"], match)
    for what, name, match in [
        ("corrupt", "junk.singan", "is not a napari-singan model file"),
        ("truncated", "trunc.singan", "is not a napari-singan model file"),
        ("empty", "empty.singan", "is not a napari-singan model file"),
        ("foreign dict", "foreign.singan", "is not a napari-singan model file"),
        ("foreign pickle", "pickled.singan", "is not a napari-singan model file"),
        ("newer-version", "future.singan", "newer napari-singan"),
        ("non-numeric version", "badversion.singan", "is not a napari-singan model file"),
        ("inconsistent", "inconsistent.singan", "incomplete or inconsistent"),
        ("missing", "missing.singan", "no model file"),
    ]
] + [
    ("corrupt model to resume", ["train", "--resume", "{d}/junk.singan", *QUIET], "is not a napari-singan"),
    (
        "resume with a new model's settings",
        ["train", "--resume", "{d}/m.singan", "--iters", "5", "--seed", "3", *QUIET],
        "its own image, settings and seed; drop --seed, --iters",
    ),
    (
        "resume with a preset",
        ["train", "--resume", "{d}/m.singan", "--preset", "fast", *QUIET],
        "drop --preset",
    ),
]
OUTPUTS = [
    (
        "sample, no extension",
        ["sample", "{d}/m.singan", "-o", "{d}/out"],
        "no extension; name the output with one",
    ),
    ("sample, unknown extension", ["sample", "{d}/m.singan", "-o", "{d}/out.xyz"], ".tif, .tiff, .png, .jpg"),
    (
        "sample to a model file",
        ["sample", "{d}/m.singan", "-o", "{d}/existing.singan"],
        "extension '.singan'",
    ),
    ("sample, missing folder", ["sample", "{d}/m.singan", "-o", "{d}/nowhere/s.tif"], "does not exist"),
    ("sample, folder is a file", ["sample", "{d}/m.singan", "-o", "{d}/in.tif/s.tif"], "is not a folder"),
    ("sample onto a folder", ["sample", "{d}/m.singan", "-o", "{d}/folder.tif"], "is a folder"),
    (
        "float samples as .png",
        ["sample", "{d}/float.singan", "-o", "{d}/out.png"],
        "cannot hold float images",
    ),
    (
        "train, no extension",
        ["train", "{d}/in.tif", "-o", "{d}/out", *TRAIN],
        "name the output with one of .singan",
    ),
    ("train to an image", ["train", "{d}/in.tif", "-o", "{d}/out.tif", *TRAIN], "one of .singan"),
    (
        "train, missing folder",
        ["train", "{d}/in.tif", "-o", "{d}/nowhere/m.singan", *TRAIN],
        "does not exist",
    ),
    ("train without -o", ["train", "{d}/in.tif", *TRAIN], "give the model file to write with -o"),
    ("sr, no extension", ["sr", "{d}/m.singan", "{d}/in.tif", "-o", "{d}/out"], "no extension"),
    ("paint, unknown extension", ["paint", "{d}/m.singan", "{d}/in.tif", "-o", "{d}/out.xyz"], "'.xyz'"),
    (
        "harmonize, no extension",
        ["harmonize", "{d}/m.singan", "{d}/in.tif", "--mask", "{d}/mask.tif", "-o", "{d}/out"],
        "no extension",
    ),
    (
        "edit, missing folder",
        ["edit", "{d}/m.singan", "{d}/in.tif", "--mask", "{d}/mask.tif", "-o", "{d}/nowhere/e.tif"],
        "does not exist",
    ),
    ("animate as .png", ["animate", "{d}/m.singan", "-o", "{d}/out.png"], ".gif, .mp4, .tif, .tiff"),
    ("animate, unknown extension", ["animate", "{d}/m.singan", "-o", "{d}/out.xyz"], "'.xyz'"),
]
MEMORY = [
    (
        "sample 400x larger",
        ["sample", "{d}/m.singan", "--scale-h", "400", "--scale-w", "400", "-o", "{d}/out.tif"],
        "pass --force",
    ),
    ("sample 10^5 images", ["sample", "{d}/m.singan", "-n", "100000", "-o", "{d}/out.tif"], "fewer samples"),
    (
        "sample exact 20000 px",
        ["sample", "{d}/m.singan", "--height", "20000", "--width", "20000", "-o", "{d}/out.tif"],
        "needs an estimated",
    ),
    (
        "sr by 300",
        ["sr", "{d}/m.singan", "{d}/in.tif", "--factor", "300", "-o", "{d}/out.tif"],
        "needs an estimated",
    ),
    (
        "paint 10^5 images",
        ["paint", "{d}/m.singan", "{d}/in.tif", "-n", "100000", "-o", "{d}/out.tif"],
        "--force",
    ),
    (
        "edit a large image",
        ["edit", "{d}/m.singan", "{d}/big.tif", "--mask", "{d}/mask.tif", "-o", "{d}/out.tif"],
        "--force",
    ),
    (
        "harmonize a large image",
        ["harmonize", "{d}/m.singan", "{d}/big.tif", "--mask", "{d}/mask.tif", "-o", "{d}/out.tif"],
        "--force",
    ),
    (
        "harmonize, fine-tuning beyond memory",
        [
            "harmonize",
            "{d}/m.singan",
            "{d}/in.tif",
            "--mask",
            "{d}/mask.tif",
            "-o",
            "{d}/o.tif",
            "--fine-tune",
            "9",
        ],
        "leave out the fine-tuning (fine_tune_iters=0, --fine-tune 0), or pass --force",
    ),
    (
        "animate 10^6 frames",
        ["animate", "{d}/m.singan", "--frames", "1000000", "-o", "{d}/out.gif"],
        "--force",
    ),
]
GENERATION = [
    ("no samples", ["sample", "{d}/m.singan", "-n", "0", "-o", "{d}/out.tif"], "at least 1, got 0"),
    (
        "zero height factor",
        ["sample", "{d}/m.singan", "--scale-h", "0", "-o", "{d}/out.tif"],
        "above 0",
    ),
    (
        "0 px wide",
        ["sample", "{d}/m.singan", "--height", "9", "--width", "0", "-o", "{d}/out.tif"],
        "at least 1x1",
    ),
    (
        "height without width",
        ["sample", "{d}/m.singan", "--height", "9", "-o", "{d}/out.tif"],
        "both --height",
    ),
    (
        "start scale too high",
        ["sample", "{d}/m.singan", "--start-scale", "9", "-o", "{d}/out.tif"],
        "start scale must be between 0",
    ),
    (
        "variation with a start scale",
        ["sample", "{d}/m.singan", "--variation", "0.5", "--start-scale", "1", "-o", "{d}/out.tif"],
        "give start scale 0 or variation 1",
    ),
    (
        "variation at another size",
        ["augment", "{d}/m.singan", "--variation", "0.5", "--size", "20", "20", "-o", "{d}/ds"],
        "needs the model's own size",
    ),
    (
        "tiled variation",
        ["sample", "{d}/m.singan", "--variation", "0.5", "--tiled", "-o", "{d}/out.tif"],
        "leave out --variation or --tiled",
    ),
    (
        "paint at scale 0",
        ["paint", "{d}/m.singan", "{d}/in.tif", "--start-scale", "0", "-o", "{d}/out.tif"],
        "start scale must be between 1",
    ),
    (
        "sample too small to pad",
        ["sample", "{d}/reflect.singan", "--scale-h", "0.2", "-o", "{d}/out.tif"],
        "the output is too small for this model",
    ),
    (
        "tiled sample too small to pad",
        ["sample", "{d}/reflect.singan", "--scale-w", "0.2", "--tiled", "-o", "{d}/out.tif"],
        "the output is too small for this model",
    ),
    (
        "paint too small to pad",
        [
            "paint",
            "{d}/reflect.singan",
            "{d}/small.tif",
            "--quantize",
            "3",
            "--fine-tune",
            "50",
            "-o",
            "{d}/out.tif",
        ],
        "the paint (8x8 px) is too small for this model from start scale 1: it needs at least",
    ),
    (
        "dataset too small to pad",
        ["augment", "{d}/reflect.singan", "-n", "2", "--size", "8", "8", "-o", "{d}/ds"],
        "the output is too small for this model",
    ),
    (
        "edit too small to pad",
        ["edit", "{d}/reflect.singan", "{d}/small.tif", "--mask", "{d}/mask.tif", "-o", "{d}/out.tif"],
        "the edited image (8x8 px) is too small for this model",
    ),
    (
        "composite too small to pad",
        ["harmonize", "{d}/reflect.singan", "{d}/small.tif", "--mask", "{d}/mask.tif", "-o", "{d}/out.tif"],
        "the composite (8x8 px) is too small for this model",
    ),
]
CASES = IMAGES + MASKS + MODELS + OUTPUTS + MEMORY + GENERATION


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_with_one_line_and_nothing_written(argv, expected, workspace, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: AVAILABLE)
    before = snapshot(workspace)
    assert main([arg.format(d=workspace) for arg in argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("napari-singan: error: ")
    assert_one_line(captured.err, expected)
    assert "force=True" not in captured.err  # the core's checks name the CLI's --force here
    assert captured.out == ""
    assert snapshot(workspace) == before


def test_memory_refusal_states_estimate_and_availability(workspace, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: AVAILABLE)
    assert (
        main(["sample", str(workspace / "m.singan"), "--scale-h", "400", "--scale-w", "400", "-o", "x.tif"])
        == 2
    )
    err = capsys.readouterr().err
    assert "GB of memory but only 100.0 MB is available on cpu" in err
    assert "smaller output size or fewer samples" in err


def test_force_generates_despite_the_estimate(workspace, capsys, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: 1)
    out = workspace / "forced.tif"
    assert main(["sample", str(workspace / "m.singan"), "-n", "2", "-o", str(out), *QUIET]) == 2
    assert not out.exists()
    assert main(["sample", str(workspace / "m.singan"), "-n", "2", "-o", str(out), "--force", *QUIET]) == 0
    assert out.exists()


def test_unknown_available_memory_skips_the_check(workspace, monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda device: None)
    out = workspace / "s.tif"
    assert main(["sample", str(workspace / "m.singan"), "-n", "1", "-o", str(out), *QUIET]) == 0
    assert out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "{d}/m.singan", "-o", "{d}/ro/s.tif"],
        ["train", "{d}/in.tif", "-o", "{d}/ro/m.singan", *TRAIN],
        ["animate", "{d}/m.singan", "-o", "{d}/ro/a.gif"],
    ],
    ids=["sample", "train", "animate"],
)
def test_unwritable_output_folder(argv, workspace, capsys, read_only):
    read_only(workspace / "ro")
    before = snapshot(workspace)
    assert main([arg.format(d=workspace) for arg in argv]) == 2
    assert_one_line(capsys.readouterr().err, "permission denied")
    assert snapshot(workspace) == before


def test_read_only_existing_output_is_not_overwritten(workspace, capsys, monkeypatch):
    target = workspace / "out.tif"
    target.chmod(0o444)
    real_access = os.access
    if os.geteuid() == 0:
        monkeypatch.setattr(
            os, "access", lambda p, mode, **kw: os.fspath(p) != str(target) and real_access(p, mode)
        )
    assert main(["sample", str(workspace / "m.singan"), "-o", str(target), *QUIET]) == 2
    assert_one_line(capsys.readouterr().err, "permission denied")
    assert target.read_bytes() == b"an output written earlier"
