import dataclasses
import math

import numpy as np
import pytest
import torch

from napari_singan.core import (
    ImageInputError,
    Preview,
    Progress,
    ScaleFinished,
    ScaleStarted,
    SinGANConfig,
    drain,
    resume,
    train,
)
from napari_singan.core.config import TrainConfig
from napari_singan.core.models import Discriminator, GeneratorStage, scale_width
from napari_singan.core.plan import training_plan

from ..conftest import TINY, make_texture


def test_network_shapes_and_width_schedule():
    cfg = SinGANConfig().model
    assert [scale_width(k, cfg) for k in range(10)] == [32] * 4 + [64] * 4 + [128] * 2
    g = GeneratorStage(3, 32, cfg)
    x = torch.rand(2, 3, 30, 41)
    assert g(torch.zeros_like(x), x).shape == (2, 3, 30, 41)
    d = Discriminator(3, 32, cfg)
    assert d(x).shape == (2, 1, 20, 31)  # 11x11 receptive field, no padding


def test_the_papers_critic_is_blind_to_contrast_and_fasts_is_not():
    """The paper's critic scores a * x + b as x (its first instance norm divides them out): only the
    reconstruction loss can hold samples to the image's contrast. Without norm in its first block it sees it."""
    x = torch.rand(2, 1, 24, 24, generator=torch.Generator().manual_seed(0)) * 2 - 1
    grey = 0.4 * x + 0.1  # the same image, less contrast, brighter
    for critic_norm, norms, blind in (
        ("instance", ["InstanceNorm"] * 4, True),
        ("none", ["Identity"] * 4, False),
        ("after-first", ["Identity"] + ["InstanceNorm"] * 3, False),
    ):
        d = Discriminator(1, 8, dataclasses.replace(SinGANConfig().model, critic_norm=critic_norm))
        assert [type(block[1]).__name__ for block in d.body] == norms
        assert torch.allclose(d(x), d(grey), atol=1e-3) == blind  # up to the norm's eps
    g = GeneratorStage(1, 8, dataclasses.replace(SinGANConfig().model, critic_norm="none"))
    assert type(g.body[0][1]).__name__ == "InstanceNorm"  # critic_norm leaves the generator's norm


def test_events_and_partial_models(tiny_model):
    events = list(_events(train(make_texture(), TINY, device="cpu", seed=0)))
    kinds = [type(e) for e in events]
    assert kinds[0] is ScaleStarted and kinds[-1] is ScaleFinished
    finished = [e for e in events if isinstance(e, ScaleFinished)]
    assert [e.scale for e in finished] == [0, 1, 2, 3]
    assert [e.model.num_trained for e in finished] == [1, 2, 3, 4]
    progress = [e for e in events if isinstance(e, Progress)]
    assert all(math.isfinite(v) for e in progress for v in (e.d_loss, e.g_loss, e.rec_loss))
    assert progress[-1].fraction == 1.0
    previews = [e for e in events if isinstance(e, Preview)]
    assert len(previews) == 4 * 2  # every 6 of 12 iterations
    assert previews[-1].image.shape == (32, 32) and previews[-1].image.dtype == np.uint8
    started = [e for e in events if isinstance(e, ScaleStarted)]
    assert started[0].noise_amp == 1.0 and all(0 < e.noise_amp < 1 for e in started[1:])


def test_reconstruction_error_falls_with_training():
    cfg = SinGANConfig().with_overrides(max_size=24, min_size=24, iters_per_scale=120, report_seconds=0.0)
    events = [
        e for e in _events(train(make_texture(24, 24), cfg, device="cpu", seed=3)) if isinstance(e, Progress)
    ]
    first = np.mean([e.rec_loss for e in events[:5]])
    last = np.mean([e.rec_loss for e in events[-5:]])
    assert last < 0.5 * first


def _events(work):
    events = []
    drain(work, events.append)
    return events


def test_same_seed_same_weights_other_seed_differs(tiny_model):
    again = drain(train(make_texture(), TINY, device="cpu", seed=0))
    other = drain(train(make_texture(), TINY, device="cpu", seed=1))
    for a, b in zip(tiny_model.generators, again.generators):
        for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(va, vb), k
    assert torch.equal(tiny_model.z_star, again.z_star)
    assert tiny_model.noise_amps == again.noise_amps
    assert not torch.equal(tiny_model.z_star, other.z_star)


def test_resume_equals_uninterrupted_run(tiny_model):
    work = train(make_texture(), TINY, device="cpu", seed=0)
    partial = next(e.model for e in _events(work) if isinstance(e, ScaleFinished) and e.scale == 1)
    work.close()  # what a Stop does
    assert partial.num_trained == 2 and not partial.is_complete
    resumed = drain(resume(partial))
    assert resumed.is_complete and resumed.noise_amps == tiny_model.noise_amps
    for a, b in zip(tiny_model.generators, resumed.generators):
        for va, vb in zip(a.state_dict().values(), b.state_dict().values()):
            assert torch.equal(va, vb)


def test_multichannel_float_training():
    img = np.moveaxis(make_texture(30, 36, 5, np.float32), -1, 0)
    model = drain(train(img, TINY.with_overrides(iters_per_scale=2), channel_axis=0, device="cpu"))
    assert model.spec.channels == 5 and model.spec.channel_axis == 0
    assert model.generators[-1].tail[0].out_channels == 5


def test_coarsest_scale_must_exceed_receptive_field():
    with pytest.raises(ImageInputError, match="receptive field"):
        drain(train(make_texture(), TINY.with_overrides(min_size=8), device="cpu"))


def test_device_errors_are_clear():
    from napari_singan.core import SinGANError

    with pytest.raises(SinGANError, match="not available|unknown device"):
        drain(train(make_texture(), TINY, device="cuda:7"))


def test_reflect_padding_keeps_shapes_and_survives_save_load(tmp_path):
    from napari_singan.core import load_model, save_model

    cfg = SinGANConfig().model
    reflect = GeneratorStage(1, 8, dataclasses.replace(cfg, padding="reflect"))
    zero = GeneratorStage(1, 8, cfg)
    zero.load_state_dict(reflect.state_dict())
    x = torch.rand(2, 1, 20, 17)
    assert reflect(torch.zeros_like(x), x).shape == (2, 1, 20, 17)
    assert not torch.equal(reflect(torch.zeros_like(x), x), zero(torch.zeros_like(x), x))  # borders differ
    model = drain(train(make_texture(), TINY.with_overrides(padding="reflect"), device="cpu", seed=0))
    save_model(model, tmp_path / "m.singan")
    assert load_model(tmp_path / "m.singan").config.model.padding == "reflect"


def test_lazy_gradient_penalty_only_on_every_kth_step():
    from napari_singan.core.training import discriminator_step

    torch.manual_seed(0)
    cfg = SinGANConfig().train
    lazy = dataclasses.replace(cfg, gp_every=2)
    netd = Discriminator(1, 8, SinGANConfig().model)
    real, fake = torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16)
    opt = torch.optim.SGD(netd.parameters(), lr=0.0)  # weights stay put: losses are comparable
    gen = torch.Generator().manual_seed(0)
    plain = (netd(fake).mean() - netd(real).mean()).item()
    assert discriminator_step(netd, opt, real, fake, gen, lazy, 1).item() == pytest.approx(plain, abs=1e-6)
    penalized = discriminator_step(netd, opt, real, fake, gen, lazy, 2).item()
    assert penalized > plain + 1e-4  # the penalty (weighted 2x) is added on even steps


def test_penalty_conv_gives_the_builtin_gradients_of_the_penalised_critic_loss():
    from napari_singan.core.models import PenaltyConv2d
    from napari_singan.core.training import discriminator_step

    grads = {}
    for conv in (torch.nn.Conv2d, PenaltyConv2d):
        torch.manual_seed(0)
        netd = Discriminator(3, 8, SinGANConfig().model, conv).double()
        real, fake = (
            torch.rand(1, 3, 21, 18, dtype=torch.double),
            torch.rand(1, 3, 21, 18, dtype=torch.double),
        )
        opt = torch.optim.SGD(netd.parameters(), lr=0.0)
        discriminator_step(netd, opt, real, fake, torch.Generator().manual_seed(1), SinGANConfig().train, 0)
        grads[conv] = [p.grad for p in netd.parameters()]
    pairs = list(zip(*grads.values()))
    assert len(pairs) == 5 * 2 + 4 * 2  # 5 convs (weight, bias) and 4 instance norms (weight, bias)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in pairs)
    assert all(a.abs().sum() > 0 for a, _ in pairs)


def test_penalty_conv_is_for_cuda_only_and_is_saved_with_the_config(tmp_path):
    from napari_singan.core import load_model, save_model

    cfg = TINY.with_overrides(penalty_conv=False)
    off = drain(train(make_texture(), cfg, device="cpu", seed=0))
    on = drain(
        train(make_texture(), TINY, device="cpu", seed=0)
    )  # on by default; the CPU keeps torch's convs
    assert TINY.train.penalty_conv and all(
        torch.equal(a, b)
        for a, b in zip(off.generators.state_dict().values(), on.generators.state_dict().values())
    )
    save_model(off, tmp_path / "m.singan")
    assert not load_model(tmp_path / "m.singan").config.train.penalty_conv


def test_noise_padding_continues_the_noise_map_into_the_frame():
    cfg = dataclasses.replace(SinGANConfig().model, norm="none")  # no norm: each output pixel sees 11x11 only
    noisy = GeneratorStage(1, 8, dataclasses.replace(cfg, padding="noise"))
    zero = GeneratorStage(1, 8, cfg)
    zero.load_state_dict(noisy.state_dict())
    prev = torch.rand(2, 1, 20, 17)
    assert torch.equal(noisy(torch.zeros_like(prev), prev), zero(torch.zeros_like(prev), prev))  # no noise
    z = torch.randn(prev.shape, generator=torch.Generator().manual_seed(0))
    state = torch.get_rng_state()
    out = noisy(z, prev)
    assert torch.equal(torch.get_rng_state(), state) and torch.equal(out, noisy(z, prev))  # no global RNG
    changed = (out != zero(z, prev))[0, 0]
    assert changed[:5].all() and changed[-5:].all() and changed[:, :5].all() and changed[:, -5:].all()
    assert not changed[5:-5, 5:-5].any()  # only the outputs that see the frame
    assert noisy(z[..., :3, :2], prev[..., :3, :2]).shape == (2, 1, 3, 2)  # maps smaller than the frame


def test_fused_adam_is_chosen_on_cpu_and_reproduces(monkeypatch):
    """fused_adam (the CPU default) picks Adam's fused kernel, and a seed still gives one model."""
    made = []

    class Recording(torch.optim.Adam):
        def __init__(self, params, **kwargs):
            made.append(kwargs.get("fused"))
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    cfg = TINY.with_overrides(iters_per_scale=4)
    runs = [
        drain(train(make_texture(), cfg.with_overrides(fused_adam=f), device="cpu", seed=0))
        for f in (True, True, False)
    ]
    nets = 2 * len(runs[0].generators)  # G and D of every scale
    assert made == [True] * (2 * nets) + [None] * nets
    for a, b in zip(runs[0].generators, runs[1].generators):
        for p, q in zip(a.state_dict().values(), b.state_dict().values()):
            assert torch.equal(p, q)


def test_concurrent_training_trains_the_stages_below_on_copies_and_reproduces(monkeypatch):
    """concurrent_stages = 3: the two stages below the new one learn with it at 0.1x and 0.01x
    its learning rate; earlier models stay as they were; a seed, or a resume, gives one model."""
    rates = []

    class Recording(torch.optim.Adam):
        def __init__(self, params, **kwargs):
            super().__init__(params, **kwargs)
            rates.append([group["lr"] for group in self.param_groups])

    monkeypatch.setattr(torch.optim, "Adam", Recording)
    cfg = TINY.with_overrides(iters_per_scale=6, concurrent_stages=3)
    finished, snapshots = [], []

    def keep(event):
        if isinstance(event, ScaleFinished):
            finished.append(event.model)
            snapshots.append([_weights(g) for g in event.model.generators])

    model = drain(train(make_texture(), cfg, device="cpu", seed=0), keep)
    lr = cfg.train.lr_g
    expected = [[lr], [lr, lr / 10], [lr, lr / 100, lr / 10], [lr, lr / 100, lr / 10]]
    assert [pytest.approx(r) for r in rates[::2]] == expected
    for earlier, kept in zip(finished, snapshots):  # the events' models were not changed afterwards
        assert all(_same(_weights(g), w) for g, w in zip(earlier.generators, kept))
    for n in range(1, 4):  # stages n-2 and n-1 changed while scale n trained, those below did not
        for s in range(n):
            assert _same(snapshots[n][s], snapshots[n - 1][s]) == (s < n - 2), (n, s)
    assert not any(p.requires_grad for g in model.generators for p in g.parameters())
    again = drain(train(make_texture(), cfg, device="cpu", seed=0))
    resumed = drain(resume(finished[1]))
    for a, b, c in zip(model.generators, again.generators, resumed.generators):
        assert _same(_weights(a), _weights(b)) and _same(_weights(a), _weights(c))


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [v.clone() for v in module.state_dict().values()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_coarsest_iters_trains_the_coarsest_scale_longer():
    cfg = TINY.with_overrides(iters_per_scale=3, coarsest_iters=7, report_seconds=0.0, preview_every=0)
    assert [cfg.train.iterations(n, (25, 25)) for n in range(3)] == [7, 3, 3]
    assert TINY.train.iterations(0, (25, 25)) == TINY.train.iterations(1, (33, 33)) == 12  # off: paper
    tapered = TrainConfig(iters_per_scale=10, coarsest_iters=100)
    assert [tapered.iterations(n, (25, 25)) for n in range(5)] == [
        100,
        40,
        16,
        10,
        10,
    ]  # x 0.4 per scale, >= 10
    untapered = dataclasses.replace(tapered, coarse_taper=0.0)
    assert [untapered.iterations(n, (25, 25)) for n in range(3)] == [100, 10, 10]
    fewer = dataclasses.replace(tapered, coarsest_iters=5)  # fewer at the coarsest scale is allowed
    assert fewer.iterations(0, (25, 25)) == 5
    events = _events(train(make_texture(), cfg, device="cpu", seed=0))
    progress = [e for e in events if isinstance(e, Progress)]
    assert {e.scale: e.iters for e in progress} == {0: 7, 1: 3, 2: 3, 3: 3}
    assert [e.iteration for e in progress if e.scale == 0] == list(range(1, 8))


def test_fine_area_trains_the_large_scales_fewer_iterations():
    """Scales of more pixels than fine_area train iters_per_scale x fine_area / pixels iterations,
    at least fine_min_iters (and never more than iters_per_scale); the run, its progress and the plan
    follow that schedule."""
    cfg = TrainConfig(iters_per_scale=120, fine_area=128 * 128)
    shapes = [(113, 94), (147, 122), (192, 160), (250, 208)]
    assert [cfg.iterations(n + 5, hw) for n, hw in enumerate(shapes)] == [120, 110, 64, 38]
    assert cfg.iterations(9, (1000, 1000)) == 30  # fine_min_iters
    assert dataclasses.replace(cfg, fine_min_iters=500).iterations(9, (1000, 1000)) == 120
    assert TrainConfig(iters_per_scale=120).iterations(9, (1000, 1000)) == 120  # off: the paper's schedule
    coarse = dataclasses.replace(cfg, coarsest_iters=1000, coarse_batch=2, fine_area=100)
    assert coarse.schedule([(25, 25), (33, 33), (44, 44), (58, 58)]) == (1000, 400, 160, 30)  # longer: kept
    assert [coarse.batch(n) for n in range(4)] == [2, 2, 2, 1]

    cfg = TINY.with_overrides(iters_per_scale=6, fine_area=20 * 20, fine_min_iters=2, report_seconds=0.0)
    events = _events(train(make_texture(), cfg, device="cpu", seed=0))
    model = events[-1].model
    schedule = cfg.train.schedule(model.shapes)
    assert schedule[0] == 6 and schedule[-1] < 6  # the finest scale trains fewer
    progress = [e for e in events if isinstance(e, Progress)]
    assert tuple({e.scale: e.iters for e in progress}.values()) == schedule
    h, w = model.spec.height, model.spec.width
    assert training_plan(h, w, cfg, "cpu", model.channels).iterations == schedule


def test_coarse_batch_draws_several_samples_per_step_at_the_longer_scales(monkeypatch):
    """coarse_batch = 3: at the scales coarsest_iters lengthens, every critic and generator step sees
    three random samples (one real image, one reconstruction); one above; a seed still gives one
    model; the reconstruction error still falls."""
    cfg = TINY.with_overrides(
        iters_per_scale=3, coarsest_iters=20, coarse_taper=0.2, coarse_batch=3, report_seconds=0.0
    )
    assert [cfg.train.batch(n) for n in range(4)] == [3, 3, 1, 1]  # 20, 4 (> 3), then 3 iterations
    assert TINY.with_overrides(coarse_batch=3).train.batch(0) == 1  # no longer scales: no batches
    critic_batches, generator_batches = {}, {}
    scale = [None]
    real_critic, real_generator = Discriminator.forward, GeneratorStage.forward

    def critic(self, image):
        critic_batches.setdefault(scale[0], set()).add(image.shape[0])
        return real_critic(self, image)

    def generator(self, noise, prev):
        if torch.is_grad_enabled():  # the generator steps, not the sampling
            generator_batches.setdefault(scale[0], set()).add(noise.shape[0])
        return real_generator(self, noise, prev)

    monkeypatch.setattr(Discriminator, "forward", critic)
    monkeypatch.setattr(GeneratorStage, "forward", generator)
    events = []

    def keep(event):
        events.append(event)
        if isinstance(event, ScaleStarted):
            scale[0] = event.scale

    model = drain(train(make_texture(), cfg, device="cpu", seed=0), keep)
    # real + 3 fakes, 3 interpolates, 3 fakes in the generator step; one of each above
    assert critic_batches == {0: {4, 3}, 1: {4, 3}, 2: {2, 1}, 3: {2, 1}}
    assert generator_batches == {0: {4}, 1: {4}, 2: {2}, 3: {2}}  # samples + the reconstruction
    assert all(e.image.shape == (32, 32) for e in events if isinstance(e, Preview) and e.scale == 3)
    monkeypatch.undo()
    again = drain(train(make_texture(), cfg, device="cpu", seed=0))
    for a, b in zip(model.generators, again.generators, strict=True):
        assert _same(_weights(a), _weights(b))
    one_scale = cfg.with_overrides(max_size=24, min_size=24, iters_per_scale=1, coarsest_iters=60)
    work = train(make_texture(24, 24), one_scale, device="cpu", seed=3)
    losses = [e.rec_loss for e in _events(work) if isinstance(e, Progress)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_bfloat16_training_convolves_in_bfloat16_learns_reproduces_and_is_saved(tmp_path):
    """precision="bfloat16": convolutions run in bfloat16 while weights stay float32; the
    reconstruction error still falls, a seed still gives one model, the file records it."""
    from napari_singan.core import load_model, save_model

    conv_outputs = set()

    def record(module, args, output):
        if isinstance(module, torch.nn.Conv2d):
            conv_outputs.add(output.dtype)

    cfg = SinGANConfig().with_overrides(
        max_size=24, min_size=24, iters_per_scale=120, report_seconds=0.0, precision="bfloat16"
    )
    hook = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        events = _events(train(make_texture(24, 24), cfg, device="cpu", seed=3))
    finally:
        hook.remove()
    assert torch.bfloat16 in conv_outputs
    rec = [e.rec_loss for e in events if isinstance(e, Progress)]
    assert np.mean(rec[-5:]) < 0.5 * np.mean(rec[:5])
    model = next(e for e in events if isinstance(e, ScaleFinished)).model
    assert {p.dtype for p in model.generators.parameters()} == {torch.float32}
    again = drain(train(make_texture(24, 24), cfg, device="cpu", seed=3))
    assert _same(_weights(model.generators), _weights(again.generators))
    fp32 = drain(train(make_texture(24, 24), cfg.with_overrides(precision="float32"), device="cpu", seed=3))
    assert not _same(_weights(model.generators), _weights(fp32.generators))
    save_model(model, tmp_path / "m.singan")
    assert load_model(tmp_path / "m.singan").config.train.precision == "bfloat16"


def test_bfloat16_training_is_refused_where_it_cannot_or_never_ran(monkeypatch):
    from napari_singan.core import ConfigError
    from napari_singan.core.device import check_precision

    bf16 = TrainConfig(precision="bfloat16")
    check_precision(bf16, torch.device("cpu"))
    check_precision(TrainConfig(), torch.device("mps"))
    with pytest.raises(ConfigError, match="not mps; train in float32 there"):
        check_precision(bf16, torch.device("mps"))
    with pytest.raises(ConfigError, match="not mps"):  # before the plan times anything there
        training_plan(64, 64, SinGANConfig().with_overrides(precision="bfloat16"), "mps")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(ConfigError, match="this GPU has no bfloat16 support; train in float32"):
        check_precision(bf16, torch.device("cuda"))
