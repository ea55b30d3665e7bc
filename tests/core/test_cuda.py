"""CUDA-only behaviour: graph replay of training iterations. Runs where a GPU is present."""

import numpy as np
import pytest
import torch

from napari_singan.core import Progress, SinGANConfig, drain, sample, train
from napari_singan.core.graphs import GraphedWork
from napari_singan.core.training import cuda_warm, use_cuda_graphs

from ..conftest import make_texture

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_replays_draw_the_same_numbers_as_eager_calls():
    def draws(graphed: bool) -> list[torch.Tensor]:
        gen = torch.Generator(device="cuda").manual_seed(7)
        total = torch.zeros(64, device="cuda")

        def work() -> torch.Tensor:
            total.add_(torch.randn(64, generator=gen, device="cuda"))  # state kept in a static tensor
            return total * 2

        run = GraphedWork(work, gen, warmup=2) if graphed else work
        return [run().clone() for _ in range(6)]

    eager, replayed = draws(False), draws(True)
    assert all(torch.equal(a, b) for a, b in zip(eager, replayed))
    assert not torch.equal(replayed[3], replayed[4])  # every replay draws anew


def test_recapture_picks_up_a_changed_number():
    gen = torch.Generator(device="cuda").manual_seed(0)
    factor = [1.0]
    out = torch.zeros(1, device="cuda")

    def work() -> torch.Tensor:
        out.add_(factor[0])  # a Python float baked into the kernel, like an optimiser's learning rate
        return out

    run = GraphedWork(work, gen, warmup=1)
    for _ in range(3):
        run()
    factor[0] = 10.0
    run()  # still the captured 1.0
    run.recapture()
    run()  # eager warm-up with 10.0
    run()  # new capture with 10.0
    assert out.item() == pytest.approx(4 * 1.0 + 2 * 10.0)


@pytest.mark.parametrize(
    ("graphs", "precision", "extra"),
    [
        (True, "float32", {}),
        (False, "float32", {}),
        (True, "bfloat16", {}),
        (False, "bfloat16", {}),
        (True, "float32", {"penalty_conv": False}),  # torch's critic convs (the default uses PenaltyConv2d)
        (True, "float32", {"critic_norm": "after-first", "padding": "reflect"}),  # fast's networks
        (True, "float32", {"iters_per_scale": 1, "coarsest_iters": 120, "coarse_batch": 2}),  # fast's steps
    ],
)
def test_training_on_cuda_lowers_the_reconstruction_error(graphs, precision, extra):
    cfg = SinGANConfig().with_overrides(
        **{
            "max_size": 24,
            "min_size": 24,
            "iters_per_scale": 120,
            "report_seconds": 0.0,
            "cuda_graphs": graphs,
            "precision": precision,
            **extra,
        }
    )
    assert use_cuda_graphs(cfg.train, torch.device("cuda")) is graphs
    events = []
    model = drain(train(make_texture(24, 24), cfg, device="cuda", seed=3), events.append)
    rec = [e.rec_loss for e in events if isinstance(e, Progress)]
    assert np.mean(rec[-5:]) < 0.5 * np.mean(rec[:5])
    out = sample(model, 3, seed=0)
    assert out.shape == (3, 24, 24) and out.dtype == np.uint8 and out.std() > 0
    assert cuda_warm("cuda") and cuda_warm(torch.device("cuda:0"))  # the plan counts no start-up now


def test_graphs_need_the_same_penalty_pattern_every_iteration():
    cuda = torch.device("cuda")
    assert use_cuda_graphs(SinGANConfig().train, cuda)
    assert not use_cuda_graphs(SinGANConfig().with_overrides(gp_every=2).train, cuda)  # 3 D steps
    assert use_cuda_graphs(SinGANConfig().with_overrides(gp_every=2, d_steps=2).train, cuda)
    assert not use_cuda_graphs(SinGANConfig().train, torch.device("cpu"))
    assert not use_cuda_graphs(
        SinGANConfig().with_overrides(concurrent_stages=2).train, cuda
    )  # not run on a GPU
