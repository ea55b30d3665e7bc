import dataclasses

import pytest

from napari_singan.core import PRESETS, SinGANConfig, preset


def test_defaults_are_the_paper_values():
    cfg = SinGANConfig()
    assert (cfg.pyramid.scale_factor, cfg.pyramid.min_size, cfg.pyramid.max_size) == (0.75, 25, 250)
    assert (cfg.model.base_width, cfg.model.max_width, cfg.model.double_every, cfg.model.num_blocks) == (
        32,
        128,
        4,
        5,
    )
    t = cfg.train
    assert (t.iters_per_scale, t.d_steps, t.g_steps, t.lr_g, t.lr_d) == (2000, 3, 3, 5e-4, 5e-4)
    assert (t.beta1, t.beta2, t.gp_weight, t.rec_weight, t.lr_decay_at, t.lr_decay) == (
        0.5,
        0.999,
        0.1,
        10.0,
        0.8,
        0.1,
    )
    assert t.noise_amp_weight == 0.1 and t.init_from_previous


def test_configs_are_frozen_and_overrides_copy():
    cfg = SinGANConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.iters_per_scale = 5
    new = cfg.with_overrides(iters_per_scale=5, max_size=64, norm="none", min_size=None)
    assert new.train.iters_per_scale == 5 and new.pyramid.max_size == 64 and new.model.norm == "none"
    assert new.pyramid.min_size == 25
    assert cfg.train.iters_per_scale == 2000  # the original is untouched


def test_unknown_override_and_preset_are_refused():
    with pytest.raises(TypeError, match="bogus"):
        SinGANConfig().with_overrides(bogus=1)
    with pytest.raises(ValueError, match="paper"):
        preset("nope")


def test_dict_round_trip_and_presets():
    for cfg in PRESETS.values():
        assert SinGANConfig.from_dict(cfg.to_dict()) == cfg
    assert preset("super-resolution").train.rec_weight == 100.0
    assert preset("fast").train.rec_weight == preset("paper").train.rec_weight == 10.0  # measured
    fast, paper = preset("fast").model, preset("paper").model
    assert (fast.critic_norm, paper.critic_norm) == ("after-first", "instance")  # measured
    assert fast.norm == "instance" and preset("fast").for_labels().model.critic_norm == "after-first"
    fast_iterations = [preset("fast").train.iterations(n, (25, 25)) for n in range(5)]
    assert fast_iterations == [1000, 400, 160, 120, 120]  # the coarsest scales longer (measured)
    assert [preset("fast").train.batch(n) for n in range(5)] == [2, 2, 2, 1, 1]  # two samples there
    labelled = preset("fast").for_labels()  # label models: the schedule whose pairs segmented better
    assert (labelled.train.rec_weight, labelled.train.coarsest_iters) == (10.0, 0)
    assert labelled.train.batch(0) == 1
    assert labelled.for_labels() == labelled and preset("paper").for_labels() == preset("paper")
    longer = preset("fast").with_overrides(coarse_with_labels=True).for_labels().train
    assert longer.coarsest_iters == 1000
    typed = preset("fast").with_overrides(coarsest_iters=500)  # a lone count applies to label models too
    assert typed.for_labels().train.coarsest_iters == 500
    alpha3 = preset("fast").with_overrides(rec_weight=3.0).train  # a lone alpha applies to label models too
    assert (alpha3.rec_weight, alpha3.label_rec_weight) == (3.0, 0.0)
    plain = preset("fast").with_overrides(critic_norm="none")  # so does a lone critic norm
    assert plain.for_labels().model.critic_norm == "none" and plain.model.label_critic_norm == ""
    both = preset("fast").with_overrides(rec_weight=3.0, label_rec_weight=5.0).train
    assert (both.rec_weight, both.label_rec_weight) == (3.0, 5.0)
    older = SinGANConfig().to_dict()
    del older["train"]["coarse_taper"]  # a file written before the taper trained without one
    assert SinGANConfig.from_dict(older).train.coarse_taper == 0.0
    for norm in ("instance", "none"):  # a file written before critic_norm had `norm` in both networks
        older = SinGANConfig().with_overrides(norm=norm, critic_norm="instance").to_dict()
        del older["model"]["critic_norm"]
        assert SinGANConfig.from_dict(older).model.critic_norm == norm


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"norm": "batch"}, "norm must be one of instance, none"),
        ({"critic_norm": "layer"}, "critic norm must be one of instance, none, after-first"),
        ({"label_critic_norm": "layer"}, "label critic norm must be one of instance, none, after-first"),
        ({"padding": "circular"}, "padding must be one of zero, reflect"),
        ({"precision": "float16"}, "precision must be one of float32, bfloat16"),
        ({"scale_factor": 1.2}, "scale factor must be between 0 and 1"),
        ({"scale_factor": 0.0}, "scale factor must be between 0 and 1"),
        ({"min_size": 300}, "min size .* must not exceed max size"),
        ({"iters_per_scale": 0}, "iters per scale must be at least 1"),
        ({"d_steps": 0}, "d steps must be at least 1"),
        ({"gp_every": 0}, "gp every must be at least 1"),
        ({"concurrent_stages": 0}, "concurrent stages must be at least 1"),
        ({"coarsest_iters": -1}, "coarsest iters must not be negative"),
        ({"coarse_taper": 1.5}, "coarse taper must be in"),
        ({"coarse_batch": 0}, "coarse batch must be at least 1"),
        ({"fine_area": -1}, "fine area must not be negative"),
        ({"fine_min_iters": 0}, "fine min iters must be at least 1"),
        ({"concurrent_lr_scale": 0.0}, "concurrent lr scale must be in"),
        ({"concurrent_lr_scale": 1.5}, "concurrent lr scale must be in"),
        ({"lr_g": 0.0}, "lr g must be positive"),
        ({"lr_d": -1e-3}, "lr d must be positive"),
        ({"rec_weight": -1.0}, "rec weight must not be negative"),
        ({"lr_decay": 0.0}, "lr decay must be in"),
        ({"base_width": 256}, "base width <= max width"),
    ],
)
def test_every_field_is_validated_at_construction(override, message):
    from napari_singan.core import ConfigError, SinGANError

    with pytest.raises(ConfigError, match=message) as caught:
        SinGANConfig().with_overrides(**override)
    assert isinstance(caught.value, SinGANError) and "\n" not in str(caught.value)
