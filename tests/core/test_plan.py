"""The training plan: scales and widths, and the memory and time estimates against measured runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from napari_singan.core import PRESETS, SinGANConfig, memory, pyramid_shapes
from napari_singan.core import plan as plan_module
from napari_singan.core.errors import MemoryEstimateError
from napari_singan.core.plan import (
    check_training_memory,
    readable_seconds,
    step_bytes,
    training_plan,
)

#: Child process: train one scale of 128 x 128 px at 32 filters; print the peak RSS growth and the estimate.
MEASURE = """
import resource
import numpy as np
from napari_singan.core import SinGANConfig, drain, train
from napari_singan.core.plan import step_bytes
cfg = SinGANConfig().with_overrides(min_size=128, max_size=128, iters_per_scale=1, preview_every=0)
rng = np.random.default_rng(0)
drain(train(rng.random((24, 24)), cfg.with_overrides(min_size=24, max_size=24), device="cpu"))  # one-off
before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
drain(train(rng.random((128, 128)).astype(np.float32), cfg, device="cpu"))
# VmHWM, not ru_maxrss: that one starts from the parent's (pytest's) peak, folded in at exec
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(peak - before, step_bytes((128, 128), 32, 1, cfg.model.num_blocks))
"""


def test_plan_lists_the_scales_to_train():
    config = SinGANConfig().with_overrides(max_size=64, min_size=14, iters_per_scale=10)
    plan = training_plan(48, 64, config, "cpu")
    assert list(plan.shapes) == pyramid_shapes(48, 64, config.pyramid)
    assert plan.widths == (32,) * 4 + (64,) * (len(plan.shapes) - 4)
    assert plan.iterations == (10,) * len(plan.shapes) and plan.seconds > 0 and plan.device == "cpu"
    resumed = training_plan(48, 64, config, "cpu", first_scale=2)
    assert resumed.shapes == plan.shapes[2:] and resumed.widths == plan.widths[2:]
    assert (
        resumed.seconds < plan.seconds and resumed.peak_bytes == plan.peak_bytes
    )  # the finest scale sets it
    done = training_plan(48, 64, config, "cpu", first_scale=len(plan.shapes))
    assert done.summary() == "no scales left to train" and done.seconds == 0
    more = training_plan(48, 64, config.with_overrides(iters_per_scale=20), "cpu")
    assert more.seconds == pytest.approx(2 * plan.seconds, rel=0.2)  # probes are timed once per width


def test_plan_counts_the_coarsest_scales_own_iterations():
    config = SinGANConfig().with_overrides(max_size=64, min_size=14, iters_per_scale=10)
    longer = config.with_overrides(coarsest_iters=50)
    plan, plan_longer = training_plan(48, 64, config, "cpu"), training_plan(48, 64, longer, "cpu")
    assert plan_longer.iterations == (50, 20) + (10,) * (len(plan.shapes) - 2)  # tapered by 0.4 per scale
    assert plan_longer.seconds > plan.seconds
    assert " 32 … 64 filters, 50 … 10 iterations: about " in plan_longer.summary()
    assert training_plan(48, 64, longer, "cpu", first_scale=1).iterations == plan_longer.iterations[1:]


def test_plan_counts_the_stages_trained_along():
    config = SinGANConfig().with_overrides(max_size=64, min_size=14, iters_per_scale=10)
    for device in ("cpu", "cuda"):  # no probe runs for CUDA: nothing needs a GPU here
        alone = training_plan(48, 64, config, device)
        along = training_plan(48, 64, config.with_overrides(concurrent_stages=3), device)
        assert along.seconds > alone.seconds and along.peak_bytes > alone.peak_bytes
        assert along.shapes == alone.shapes and along.iterations == alone.iterations


def test_plan_counts_the_samples_of_batched_steps():
    config = SinGANConfig().with_overrides(max_size=64, min_size=14, iters_per_scale=10, coarsest_iters=50)
    batched = config.with_overrides(coarse_batch=3)
    for device in ("cpu", "cuda"):
        one, three = training_plan(48, 64, config, device), training_plan(48, 64, batched, device)
        assert one.iterations == three.iterations
        assert one.seconds < three.seconds < 2.0 * one.seconds  # only the two longer scales batch
        assert three.peak_bytes >= one.peak_bytes
    assert plan_module.batch_work(1) == 1.0 and plan_module.batch_work(4) == 2.5
    assert ", 3 samples per step at 2 scale(s): about " in three.summary()
    assert "samples per step" not in one.summary()


def test_plan_times_the_convolutions_in_the_precision_that_trains(monkeypatch):
    probed = []
    real_probe = plan_module.conv_seconds_per_flop

    def recording(device, width, side, bfloat16=False):
        probed.append(bfloat16)
        return real_probe(device, width, side, bfloat16)

    monkeypatch.setattr(plan_module, "conv_seconds_per_flop", recording)
    config = SinGANConfig().with_overrides(max_size=32, min_size=24, iters_per_scale=10)
    training_plan(32, 32, config, "cpu")
    assert probed and not any(probed)
    probed.clear()
    training_plan(32, 32, config.with_overrides(precision="bfloat16"), "cpu")
    assert probed and all(probed)


def test_summary_is_one_line():
    config = SinGANConfig().with_overrides(max_size=64, min_size=14, iters_per_scale=10)
    text = training_plan(48, 64, config, "cpu").summary()
    assert text.startswith("6 scale(s) of 14x19 … 48x64 px, 32 … 64 filters, 10 iterations each: about ")
    assert text.endswith(" on cpu") and "\n" not in text
    assert [readable_seconds(s) for s in (4.2, 75, 150, 7200, 500000)] == [
        "4.2 s",
        "75 s",
        "2.5 min",
        "2 h",
        "140 h",
    ]


def test_memory_grows_with_width_and_area():
    assert step_bytes((100, 100), 64, 1, 5) > 1.9 * step_bytes((100, 100), 32, 1, 5)
    assert step_bytes((200, 200), 32, 1, 5) > 3.5 * step_bytes((100, 100), 32, 1, 5)


def test_a_2048_native_paper_plan_exceeds_24_gb_and_is_refused(monkeypatch):
    config = PRESETS["paper"].with_overrides(max_size=2048)
    plan = training_plan(2048, 2048, config, "cpu")
    assert plan.shapes[-1] == (2048, 2048) and plan.widths[-1] == 128
    assert plan.peak_bytes > 100e9
    monkeypatch.setattr(memory, "available_bytes", lambda device: 24 * 10**9)
    with pytest.raises(MemoryEstimateError) as info:
        check_training_memory(plan, "crop it")
    assert str(info.value).startswith("training needs an estimated ")
    assert str(info.value).endswith(" GB of memory but only 24.0 GB is available on cpu: crop it")
    monkeypatch.setattr(memory, "available_bytes", lambda device: None)  # unknown: not checked
    check_training_memory(plan, "crop it")


@pytest.mark.parametrize(
    ("preset_name", "overrides", "seconds", "peak_gb"),
    [  # H200 runs (benchmarks/results/gpu/final): seconds with CUDA's start-up, peak GPU memory
        ("paper", {"iters_per_scale": 100}, 27.8, 1.17),
        ("paper", {"iters_per_scale": 100, "penalty_conv": False}, 43.2, 8.84),
        ("fast", {"coarse_batch": 1}, 30.4, 0.27),  # fast then drew one sample per step
    ],
)
def test_the_cuda_estimate_matches_the_measured_runs(preset_name, overrides, seconds, peak_gb, monkeypatch):
    monkeypatch.setattr(plan_module, "cuda_warm", lambda device: False)  # each run was a process's first
    config = PRESETS[preset_name].with_overrides(**overrides)
    plan = training_plan(250, 208, config, torch.device("cuda"), channels=1)
    assert len(plan.shapes) == 9
    assert 0.8 * seconds < plan.seconds < 1.25 * seconds, plan.seconds
    assert peak_gb < plan.peak_bytes / 1e9 < 1.5 * peak_gb, plan.peak_bytes  # errs on the high side


def test_the_cuda_estimate_counts_start_up_and_eager_iterations(monkeypatch):
    config = PRESETS["fast"]
    monkeypatch.setattr(plan_module, "cuda_warm", lambda device: False)
    cold = training_plan(250, 208, config, "cuda").seconds
    monkeypatch.setattr(plan_module, "cuda_warm", lambda device: True)
    warm = training_plan(250, 208, config, "cuda").seconds
    assert cold - warm == pytest.approx(plan_module.CUDA_START_SECONDS)
    eager = training_plan(250, 208, config.with_overrides(cuda_graphs=False), "cuda").seconds
    assert eager - warm == pytest.approx(
        sum(config.train.iterations(n, hw) for n, hw in enumerate(pyramid_shapes(250, 208, config.pyramid)))
        * plan_module.CUDA_EAGER_SECONDS
    )


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="measures the resident set through /proc")
def test_memory_estimate_matches_a_measured_training_step():
    run = subprocess.run([sys.executable, "-c", MEASURE], capture_output=True, text=True, check=True)
    measured, estimated = map(int, run.stdout.split())
    assert 0.7 * estimated < measured < 1.3 * estimated, (measured, estimated)
