import dataclasses

import numpy as np
import pytest
import tifffile

from napari_singan.apps import super_resolve
from napari_singan.cli import _config_from_args, build_parser, main
from napari_singan.core import DEFAULT_PRESET, PRESETS, drain, load_model

from .conftest import TINY_CLI, make_texture

TINY_FLAGS = [*TINY_CLI, "--iters", "4"]  # the last --iters counts


def test_train_sample_info_end_to_end_uint16_tiff(tmp_path, capsys):
    img = make_texture(48, 40, dtype=np.uint16)
    tifffile.imwrite(tmp_path / "in.tif", img)
    model_path = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "in.tif"), "-o", str(model_path), *TINY_FLAGS, "--seed", "3"]) == 0
    model = load_model(model_path)
    assert model.is_complete and model.spec.dtype == "uint16" and model.config.train.iters_per_scale == 4
    out = tmp_path / "s.tif"
    assert (
        main(
            ["sample", str(model_path), "-n", "3", "--scale-w", "2", "--seed", "1", "-o", str(out), "--quiet"]
        )
        == 0
    )
    stack = tifffile.imread(out)
    assert stack.shape == (3, 32, 54) and stack.dtype == np.uint16
    assert stack.min() >= img.min() and stack.max() <= img.max()
    exact = tmp_path / "e.tif"
    main(
        [
            "sample",
            str(model_path),
            "-n",
            "1",
            "--height",
            "20",
            "--width",
            "50",
            "--start-scale",
            "1",
            "-o",
            str(exact),
            "--quiet",
        ]
    )
    assert tifffile.imread(exact).shape == (1, 20, 50)  # always a stack
    assert main(["info", str(model_path)]) == 0
    said = capsys.readouterr().out
    assert "image:     48x40, 1 channel(s), uint16" in said
    assert "working:   32x27 px" in said  # the size --scale-w is relative to (32 x 27 * 2 = 54)


def test_rgb_png_and_resume(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "in.png", make_texture(40, 40, 3))
    model_path = tmp_path / "m.singan"
    assert main(["train", str(tmp_path / "in.png"), "-o", str(model_path), *TINY_FLAGS]) == 0
    assert main(["train", "--resume", str(model_path), "-o", str(tmp_path / "again.singan"), "--quiet"]) == 0
    assert main(["sample", str(model_path), "-n", "2", "-o", str(tmp_path / "s.png"), "--quiet"]) == 0
    first = iio.imread(tmp_path / "s_000.png")
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8


def test_builtin_sample_is_available(tmp_path):
    args = build_parser().parse_args(["train", "--sample", "cell", "-o", "x"])
    assert args.sample == "cell" and args.iters is None
    # no --preset: fast, as in the Train widget (the paper's schedule planned 38 h on this CPU)
    assert _config_from_args(args) == PRESETS["fast"] == PRESETS[DEFAULT_PRESET]
    args = build_parser().parse_args(["train", "--sample", "cell", "-o", "x", "--critic-norm", "none"])
    # ... with labels too (fast's own critics with labels give way to the flag)
    expected = dataclasses.replace(PRESETS["fast"].model, critic_norm="none", label_critic_norm="")
    assert _config_from_args(args).model == expected
    args = build_parser().parse_args(["train", "--sample", "cell", "-o", "x", "--preset", "paper"])
    assert _config_from_args(args) == PRESETS["paper"]
    help_text = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert "(fast: 120; paper: 2000)" in " ".join(help_text.split())  # each flag's defaults, from the presets


@pytest.mark.parametrize(
    "argv, match",
    [
        (["train", "MISSING.tif", "-o", "m.singan"], "no image file"),
        (["sample", "MISSING.singan", "-o", "s.tif"], "no model file"),
        (["sample", "MISSING.singan", "-o", "s.tif", "--height", "3"], "both --height and --width"),
    ],
)
def test_errors_are_one_clear_line(tmp_path, capsys, monkeypatch, argv, match):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_bad_image_content_is_reported(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((40, 40), np.uint16))
    assert main(["train", str(tmp_path / "flat.tif"), "-o", str(tmp_path / "m.singan"), *TINY_FLAGS]) == 2
    assert "constant" in capsys.readouterr().err
    assert not (tmp_path / "m.singan").exists()


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(
        cmd in out for cmd in ("train", "sample", "info", "sr", "paint", "harmonize", "edit", "animate")
    )


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A tiny uint16 model trained through the CLI, and its 48x40 training image."""
    folder = tmp_path_factory.mktemp("cli")
    img = make_texture(48, 40, dtype=np.uint16)
    tifffile.imwrite(folder / "in.tif", img)
    assert main(["train", str(folder / "in.tif"), "-o", str(folder / "m.singan"), *TINY_FLAGS]) == 0
    return folder / "m.singan", folder / "in.tif", img


def test_cli_applications_end_to_end(cli_model, tmp_path):
    model, image, img = cli_model
    mask = np.zeros(img.shape, np.uint8)
    mask[20:28, 15:25] = 1
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    common = ["--seed", "2", "--device", "cpu", "--quiet"]

    assert (
        main(["sr", str(model), str(image), "--factor", "2.5", "-o", str(tmp_path / "sr.tif"), *common]) == 0
    )
    sr = tifffile.imread(tmp_path / "sr.tif")
    assert sr.shape == (120, 100) and sr.dtype == np.uint16
    paper = [
        "sr",
        str(model),
        str(image),
        "--factor",
        "2.5",
        "--back-projection",
        "0",
        "-o",
        str(tmp_path / "p.tif"),
    ]
    assert main([*paper, *common]) == 0
    paper = tifffile.imread(tmp_path / "p.tif")  # the paper's steps, uncorrected
    expected = drain(super_resolve(load_model(model), tifffile.imread(image), 2.5, back_projection=0, seed=2))
    np.testing.assert_array_equal(paper, expected)
    assert not np.array_equal(paper, sr)

    assert (
        main(
            [
                "paint",
                str(model),
                str(image),
                "--start-scale",
                "2",
                "-n",
                "2",
                "--quantize",
                "3",
                "-o",
                str(tmp_path / "paint.tif"),
                *common,
            ]
        )
        == 0
    )
    assert tifffile.imread(tmp_path / "paint.tif").shape == (2, 32, 27)

    for cmd in ("harmonize", "edit"):
        out = tmp_path / f"{cmd}.tif"
        assert (
            main(
                [
                    cmd,
                    str(model),
                    str(image),
                    "--mask",
                    str(tmp_path / "mask.tif"),
                    "--radius",
                    "1",
                    "--sigma",
                    "1",
                    "-o",
                    str(out),
                    *common,
                ]
            )
            == 0
        )
        result = tifffile.imread(out)
        assert result.shape == img.shape and result.dtype == np.uint16
        assert np.array_equal(result[:5], img[:5])  # far from the mask: untouched

    assert (
        main(
            [
                "harmonize",
                str(model),
                str(image),
                "--mask",
                str(tmp_path / "mask.tif"),
                "--fine-tune",
                "2",
                "-o",
                str(tmp_path / "h2.tif"),
                *common,
            ]
        )
        == 0
    )

    assert (
        main(["animate", str(model), "--frames", "5", "--fps", "5", "-o", str(tmp_path / "a.gif"), *common])
        == 0
    )
    import imageio.v3 as iio

    assert iio.imread(tmp_path / "a.gif").shape[0] == 5
    assert main(["animate", str(model), "--frames", "4", "-o", str(tmp_path / "a.tif"), *common]) == 0
    assert tifffile.imread(tmp_path / "a.tif").shape == (4, 32, 27)


def test_cli_application_errors(cli_model, tmp_path, capsys):
    model, image, _ = cli_model
    tifffile.imwrite(tmp_path / "empty.tif", np.zeros((48, 40), np.uint8))
    assert main(["edit", str(model), str(image), "--mask", str(tmp_path / "empty.tif"), "-o", "x.tif"]) == 2
    assert "mask is empty" in capsys.readouterr().err
    assert main(["sr", str(model), str(image), "--factor", "0.5", "-o", "x.tif"]) == 2
    assert "above 1" in capsys.readouterr().err
    for passes in ("-1", "101", "2.5", "abc"):  # refused by the parser, before the model is read
        with pytest.raises(SystemExit) as refused:
            main(["sr", str(model), str(image), "--back-projection", passes, "-o", "x.tif"])
        assert refused.value.code == 2
        assert f"give a whole number from 0 to 100, not '{passes}'" in capsys.readouterr().err
    assert main(["animate", str(model), "-o", str(tmp_path / "a.avi")]) == 2
    assert ".gif" in capsys.readouterr().err


def test_out_of_memory_is_a_hint_not_a_traceback(cli_model, tmp_path, capsys, monkeypatch):
    import napari_singan.core as core

    def exhausted(*args, **kwargs):
        raise MemoryError
        yield

    monkeypatch.setattr(core, "generate", exhausted)
    model, _, _ = cli_model
    assert main(["sample", str(model), "-o", str(tmp_path / "s.tif"), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "ran out of memory" in err and "Traceback" not in err


def test_a_reader_that_leaves_ends_the_command_without_a_traceback(tmp_path, tiny_model):
    """``napari-singan info m | head -1``: the closed pipe used to end in a BrokenPipeError traceback."""
    import subprocess
    import sys

    from napari_singan.core import save_model

    path = save_model(tiny_model, tmp_path / "m.singan")
    script = "import sys; from napari_singan.cli import main; sys.exit(main())"
    run = subprocess.Popen(
        [sys.executable, "-c", script, "info", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    run.stdout.close()  # before the command writes
    err = run.stderr.read().decode()
    assert run.wait() == 141
    assert err == ""


def test_a_broken_pipe_elsewhere_is_not_taken_for_a_reader_that_left(monkeypatch):
    from napari_singan import cli

    def lost_connection(args):
        raise BrokenPipeError("a cluster's socket")

    monkeypatch.setitem(cli.COMMANDS, "info", lost_connection)
    with pytest.raises(BrokenPipeError, match="a cluster's socket"):
        main(["info", "m.singan"])


def test_evaluate_prints_table_and_json(tmp_path, capsys, tiny_model):
    import json

    from napari_singan.core import save_model
    from napari_singan.metrics import evaluate_model

    path = tmp_path / "m.singan"
    save_model(tiny_model, path)
    assert main(["evaluate", str(path), "-n", "4", "--seed", "2", "--device", "cpu", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"model": str(path), "seed": 2, **evaluate_model(tiny_model, 4, seed=2).to_dict()}
    assert main(["evaluate", str(path), "-n", "3"]) == 0
    table = capsys.readouterr().out
    assert "patch swd:" in table and "border score:" in table
    assert main(["evaluate", str(path), "-n", "1"]) == 2
    assert (
        capsys.readouterr().err.strip() == "napari-singan: error: quality needs at least 2 samples, got -n 1"
    )


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--norm", "batch"), ("--critic-norm", "layer"), ("--padding", "circular"), ("--precision", "float16")],
)
def test_config_flags_offer_only_valid_choices(flag, value, capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["train", "--sample", "cell", "-o", "m.singan", flag, value])
    assert stop.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_paint_fine_tune_flag_retrains_the_paint_scale(cli_model, tmp_path, capsys):
    model, image, _ = cli_model
    common = ["--start-scale", "2", "--quantize", "3", "--seed", "1", "--device", "cpu", "--quiet"]
    plain, tuned = tmp_path / "plain.tif", tmp_path / "tuned.tif"
    assert main(["paint", str(model), str(image), "-o", str(plain), *common]) == 0
    assert main(["paint", str(model), str(image), "-o", str(tuned), "--fine-tune", "3", *common]) == 0
    a, b = tifffile.imread(plain), tifffile.imread(tuned)
    assert a.shape == b.shape and not np.array_equal(a, b)  # the retrained stage paints differently
    assert main(["paint", str(model), str(image), "-o", str(tmp_path / "x.tif"), "--fine-tune", "3"]) == 2
    assert "set the number of colours" in capsys.readouterr().err


def test_a_gif_frame_rate_out_of_range_is_refused_before_rendering(cli_model, tmp_path, capsys, monkeypatch):
    import napari_singan.apps

    monkeypatch.setattr(
        napari_singan.apps, "animate", lambda *a, **k: pytest.fail("rendered before the check")
    )
    model, _, _ = cli_model
    assert main(["animate", str(model), "-o", str(tmp_path / "a.gif"), "--fps", "60", "--quiet"]) == 2
    assert "write an .mp4 for faster frames" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_mp4_without_an_encoder_is_refused_before_rendering(cli_model, tmp_path, capsys, monkeypatch):
    import sys

    import napari_singan.apps

    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # as if imageio-ffmpeg were not installed
    monkeypatch.setattr(
        napari_singan.apps, "animate", lambda *a, **k: pytest.fail("rendered before the check")
    )
    model, _, _ = cli_model
    assert main(["animate", str(model), "-o", str(tmp_path / "a.mp4"), "--quiet"]) == 2
    assert "pip install imageio-ffmpeg" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_coarsest_iters_batch_and_precision_flags_reach_the_model_and_the_plan(tmp_path, capsys):
    from napari_singan.core import load_model

    tifffile.imwrite(tmp_path / "in.tif", make_texture(40, 40))
    model_path = tmp_path / "m.singan"
    flags = [f for f in TINY_FLAGS if f != "--quiet"]
    flags += ["--coarsest-iters", "6", "--coarse-batch", "2", "--precision", "bfloat16"]
    flags += ["--fine-area", "400", "--fine-min-iters", "2"]  # the 32 x 32 scale: 4 x 400 / 1024 -> 2
    assert main(["train", str(tmp_path / "in.tif"), "-o", str(model_path), *flags]) == 0
    trained = load_model(model_path).config.train
    assert (trained.coarsest_iters, trained.coarse_batch, trained.precision) == (6, 2, "bfloat16")
    assert (trained.fine_area, trained.fine_min_iters) == (400, 2)
    assert "32 filters, 6 … 2 iterations, 2 samples per step at 1 scale(s): about " in capsys.readouterr().out


def test_training_progress_counts_each_scales_own_iterations():
    from napari_singan.cli import _training_progress
    from napari_singan.core import Progress, ScaleFinished, ScaleStarted
    from napari_singan.core.config import TrainConfig

    iters = TrainConfig(iters_per_scale=3, coarsest_iters=7).schedule([(8, 8)] * 3).__getitem__  # 7, 3, 3
    events = [
        ScaleStarted(0, 3, (8, 8), 32, 1.0),
        Progress(0, 3, 5, 7, 0, 0, 0),
        ScaleFinished(0, 3, 1, 0, None),
    ]
    events += [Progress(1, 3, 2, 3, 0, 0, 0), ScaleFinished(1, 3, 1, 0, None), Progress(2, 3, 3, 3, 0, 0, 0)]
    steps = [_training_progress(0, iters)(e) for e in events]
    assert steps == [(0, 13), (5, 13), (7, 13), (9, 13), (10, 13), (13, 13)]
    resumed = _training_progress(1, iters)  # a model resumed at scale 1 has 6 iterations left
    assert [resumed(e) for e in events[3:]] == [(2, 6), (3, 6), (6, 6)]
