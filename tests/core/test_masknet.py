"""Masks redrawn from the images by a net fit to the model's training pair (core.masknet)."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt
from skimage.color import rgb2hed
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import label as connected_components
from skimage.segmentation import watershed

from napari_singan.core import SinGANConfig, SinGANError, drain, generate, train
from napari_singan.core.errors import ConfigError
from napari_singan.core.events import MaskNetProgress
from napari_singan.core.files import builtin_image
from napari_singan.core.labels import (
    SAMPLE_PEAK_HEIGHT,
    SAMPLE_SMOOTHING,
    decode_labels,
    object_f1,
    split_objects,
)
from napari_singan.core.masknet import (
    fit_mask_net,
    foreground_and_depth,
    load_mask_net,
    redraw_labels,
    save_mask_net,
)
from napari_singan.core.pyramid import resize

from ..conftest import make_texture
from .test_labels import nuclei

#: A label model trained far too briefly to draw masks that match its images.
ROUGH = SinGANConfig().with_overrides(max_size=32, min_size=14, iters_per_scale=4, preview_every=0)


def bright(image: np.ndarray, threshold: float) -> np.ndarray:
    """The labels' rule: class 3 where the image is above ``threshold``, else 0."""
    return (image > threshold).astype(np.uint8) * 3


def agreement(masks: np.ndarray, truth: np.ndarray) -> float:
    """Dice of class 3 between two label stacks."""
    a, b = masks == 3, truth == 3
    return 2 * (a & b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def threshold_model():
    image = make_texture(32, 32, dtype=np.uint16)  # the model's working size: labels and image as given
    threshold = float(np.median(image))
    model = drain(train(image, ROUGH, labels=bright(image, threshold), device="cpu", seed=0))
    return model, threshold


def test_redrawn_masks_follow_the_images_where_the_models_do_not(threshold_model):
    model, threshold = threshold_model
    net, events = drain_events(fit_mask_net(model, seed=0, steps=300))
    assert all(isinstance(e, MaskNetProgress) for e in events) and events[-1].fraction == 1
    assert events[-1].loss < events[0].loss  # the fit learns
    images, own = drain(generate(model, 6, seed=1, with_labels=True))
    again, redrawn = drain(generate(model, 6, seed=1, with_labels=True, mask_net=net))
    assert np.array_equal(images, again)  # the same images, only the masks are redrawn
    assert redrawn.shape == images.shape and redrawn.dtype == np.uint8
    assert set(np.unique(redrawn)) <= {0, 3}  # the input's values only
    truth = bright(images, threshold)
    assert agreement(redrawn, truth) > 0.95 > agreement(own, truth) + 0.1


def test_a_fit_is_seeded_and_counted_in_steps(threshold_model):
    model, _ = threshold_model

    def weights(seed: int, steps: int = 20) -> list[torch.Tensor]:
        return list(drain(fit_mask_net(model, seed=seed, steps=steps)).state_dict().values())

    same, other = weights(5), weights(6)
    assert all(torch.equal(a, b) for a, b in zip(weights(5), same))
    assert not all(torch.equal(a, b) for a, b in zip(same, other))
    steps = [e.step for e in drain_events(fit_mask_net(model, steps=120))[1]]
    assert steps == [50, 100, 120]


def drain_events(work) -> tuple:
    """The result of a long-work generator and its events."""
    events = []
    return drain(work, events.append), events


@pytest.fixture(scope="module")
def instance_model():
    image, labels = nuclei()  # five disks, two of them touching
    return drain(train(image, ROUGH, labels=labels, device="cpu", seed=0))


def test_instance_models_get_numbered_objects_drawn_on_the_bright_spots(instance_model):
    model = instance_model
    net = drain(fit_mask_net(model, seed=0, steps=300))
    assert net[-1].out_channels == 3  # background, foreground, depth inside objects
    assert (net.peak_height.item(), net.smoothing.item()) == (SAMPLE_PEAK_HEIGHT, SAMPLE_SMOOTHING)
    # on its training image the net finds the training pair's objects, the touching two split
    objects = decode_labels(model.image, model.labels, exact=True)[0]
    assert objects.max() == 5 and object_f1(redraw_labels(net, model.image, model.labels)[0], objects) == 1
    images, objects = drain(generate(model, 4, seed=2, with_labels=True, mask_net=net))
    assert objects.dtype == np.uint16
    for obj in objects:
        assert np.array_equal(np.unique(obj), np.arange(obj.max() + 1))  # numbered 1..n, no gaps
    found = objects > 0
    assert found.any() and images[found].mean() > images[~found].mean() + 1000


def test_an_instance_net_loads_bit_exact_and_an_earlier_versions_net_decodes_as_it_did(
    instance_model, tmp_path
):
    model = instance_model
    net = drain(fit_mask_net(model, seed=1, steps=30))
    loaded = load_mask_net(save_mask_net(net, tmp_path / "net.pt"))
    assert (loaded.peak_height.item(), loaded.smoothing.item()) == (SAMPLE_PEAK_HEIGHT, SAMPLE_SMOOTHING)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))
    pairs = [drain(generate(model, 2, seed=5, with_labels=True, mask_net=n))[1] for n in (net, loaded)]
    assert np.array_equal(*pairs)
    image = model.image[:, : model.labels.first_channel]
    logits = net(image).detach()
    # a net of the 2026-12-07 version (no smoothing): its unsmoothed depth split at h_maxima's tops
    state = {k: v for k, v in net.state_dict().items() if k != "smoothing"}
    state["peak_height"] = torch.tensor(1.0)
    torch.save(state, tmp_path / "unsmoothed.pt")
    unsmoothed = load_mask_net(tmp_path / "unsmoothed.pt")
    assert not hasattr(unsmoothed, "smoothing")
    foreground, depth = foreground_and_depth(logits)
    expected = split_objects(foreground[0], depth[0], 1.0, tops=True)
    assert np.array_equal(redraw_labels(unsmoothed, model.image, model.labels)[0], expected)
    # a net kept in a dataset by an earlier version still has no peak height: its third channel is the
    # boundary
    state = {k: v for k, v in state.items() if k != "peak_height"}
    torch.save(state, tmp_path / "earlier.pt")
    earlier = load_mask_net(tmp_path / "earlier.pt")
    assert not hasattr(earlier, "peak_height")
    expected = decode_labels(torch.cat([image, logits], dim=1), model.labels, exact=True)  # cut, as before
    assert np.array_equal(redraw_labels(earlier, model.image, model.labels), expected)


def test_bad_requests_are_refused_in_one_line(threshold_model, tiny_model):
    model, _ = threshold_model
    with pytest.raises(SinGANError, match="no masks to redraw"):
        drain(fit_mask_net(tiny_model))
    with pytest.raises(ConfigError, match="steps"):
        drain(fit_mask_net(model, steps=0))
    with pytest.raises(ConfigError, match="seed"):
        drain(fit_mask_net(model, seed=-1))
    net = drain(fit_mask_net(model, steps=1))
    with pytest.raises(SinGANError, match="with_labels=True"):
        drain(generate(model, 1, mask_net=net))


def test_a_saved_net_loads_bit_exact_and_foreign_nets_are_refused(threshold_model, tmp_path):
    model, _ = threshold_model
    net = drain(fit_mask_net(model, seed=4, steps=30))
    loaded = load_mask_net(save_mask_net(net, tmp_path / "net.pt"))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), loaded.state_dict().values()))
    pairs = [drain(generate(model, 2, seed=5, with_labels=True, mask_net=n))[1] for n in (net, loaded)]
    assert np.array_equal(*pairs)
    (tmp_path / "junk.pt").write_bytes(b"not a net")
    with pytest.raises(SinGANError, match="not a mask net written by napari-singan: delete it"):
        load_mask_net(tmp_path / "junk.pt")
    image, labels = nuclei()
    other = drain(train(image, ROUGH.with_overrides(iters_per_scale=1), labels=labels, device="cpu", seed=0))
    with pytest.raises(SinGANError, match="not fit to this model"):  # 3 label channels, not 2
        drain(generate(other, 1, with_labels=True, mask_net=net))


def test_a_model_stopped_early_gets_masks_at_the_size_it_generates(threshold_model):
    model, threshold = threshold_model
    early = replace(  # as if training had stopped after two of its three scales
        model,
        generators=model.generators[:2],
        noise_amps=model.noise_amps[:2],
        label_noise_amps=model.label_noise_amps[:2],
    )
    assert early.trained_shapes[-1] != tuple(early.image.shape[-2:])
    net = drain(fit_mask_net(early, seed=0, steps=300))
    at_its_size = replace(early, image=resize(early.image, early.trained_shapes[-1]))
    same = drain(fit_mask_net(at_its_size, seed=0, steps=300))  # fit to the pair at the size it generates
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), same.state_dict().values()))
    images, redrawn = drain(generate(early, 4, seed=1, with_labels=True, mask_net=net))
    own = drain(generate(early, 4, seed=1, with_labels=True))[1]
    assert redrawn.shape == images.shape == (4, *early.trained_shapes[-1])
    truth = bright(images, threshold)
    assert agreement(redrawn, truth) > agreement(own, truth) + 0.05


def test_instance_masks_split_touching_nuclei_as_the_training_labels_do():
    """On a crop of the bundled micrograph whose nuclei touch (split by their shape, as many annotators
    split them), the net redraws its training objects: F1 0.947 when written, where the boundary channel
    the net learnt before scored 0.19 (it merged and cut objects)."""
    crop = builtin_image("immunohistochemistry")[224:288, 32:96]
    stain = gaussian(rgb2hed(crop)[..., 0], 1.5)
    mask = stain > threshold_otsu(stain)
    depth = distance_transform_edt(mask)
    peaks = peak_local_max(depth, min_distance=5, labels=connected_components(mask), exclude_border=False)
    seeds = np.zeros(mask.shape, np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    labels = watershed(-depth, seeds, mask=mask).astype(np.uint16)
    config = ROUGH.with_overrides(max_size=64, iters_per_scale=1)
    model = drain(train(crop, config, labels=labels, label_mode="instances", device="cpu", seed=0))
    objects = decode_labels(model.image, model.labels, exact=True)[0]  # the training pair's own objects
    net = drain(fit_mask_net(model, seed=0, steps=300))
    assert objects.max() == 10 > connected_components(objects > 0).max()  # some of them touch
    assert object_f1(redraw_labels(net, model.image, model.labels)[0], objects) > 0.8
