"""Image + label pairs: label validation, encodings, training with labels, paired samples."""

import numpy as np
import pytest
import torch
from skimage.draw import disk

from napari_singan.core import (
    ConfigError,
    ImageInputError,
    SinGANConfig,
    SinGANError,
    drain,
    generate,
    load_model,
    save_model,
    train,
)
from napari_singan.core.events import Preview
from napari_singan.core.labels import (
    DISTANCE_RADIUS,
    EDGE_DISTANCE_CAP,
    LabelSpec,
    check_labels,
    decode_labels,
    edge_distance,
    encode_labels,
    is_instance_image,
    object_f1,
    reduce_labels,
    sample_depth,
    signed_distance,
    split_objects,
)

from ..conftest import TINY, make_texture

PAIRS = SinGANConfig().with_overrides(max_size=32, min_size=14, iters_per_scale=12, preview_every=0)


def nuclei(size: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright disks on a noisy background (uint16) and their instance labels, two of them touching."""
    rng = np.random.default_rng(seed)
    image = rng.normal(1000, 60, (size, size))
    labels = np.zeros((size, size), np.uint16)
    centres = [(8, 8), (8, 17), (25, 10), (28, 28), (12, 31)]  # the first two touch
    for k, centre in enumerate(centres, start=1):
        rr, cc = disk(centre, 4.5, shape=labels.shape)
        labels[rr, cc] = k
        image[rr, cc] += 2500
    return np.clip(image, 0, 65535).astype(np.uint16), labels


def semantic(image: np.ndarray) -> np.ndarray:
    return (image > np.median(image)).astype(np.uint8) * 3  # classes 0 and 3


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.zeros((40, 41), np.uint8), "annotate the image itself"),
        (np.zeros((40, 40), np.float32), "integer ids"),
        (np.full((40, 40), 2, np.uint8), "single value"),
        (np.random.default_rng(0).integers(0, 40, (40, 40)), "more than 32"),
    ],
)
def test_bad_labels_are_refused_with_a_clear_message(labels, match):
    with pytest.raises(ImageInputError, match=match):
        check_labels(labels, (40, 40))
    with pytest.raises(ImageInputError, match=match):
        drain(train(make_texture(), TINY, labels=labels, device="cpu"))


def test_auto_mode_tells_instances_from_classes():
    image, instances = nuclei()
    assert is_instance_image(instances) and check_labels(instances, image.shape).instances
    assert not check_labels(semantic(image), image.shape).instances
    assert check_labels(semantic(image), image.shape).classes == (0, 3)
    assert not check_labels(instances, image.shape, mode="classes").instances


def test_class_encoding_round_trips_and_nearest_reduction_adds_no_values():
    labels = semantic(make_texture())
    spec = check_labels(labels, labels.shape)
    coded = encode_labels(labels, spec, encoding="one-hot")
    assert coded.shape == (1, 2, 40, 40) and coded.min() == -1 and coded.max() == 1
    assert np.array_equal(decode_labels(coded, spec)[0], labels)
    assert set(np.unique(reduce_labels(labels, (17, 23)))) <= {0, 3}


def test_label_amplitude_scales_the_channels_and_is_validated():
    labels = semantic(make_texture())
    spec = check_labels(labels, labels.shape)
    assert encode_labels(labels, spec, 0.25).abs().max() == 0.25
    assert np.array_equal(decode_labels(encode_labels(labels, spec, 0.25), spec)[0], labels)
    with pytest.raises(ConfigError, match="label amplitude"):
        SinGANConfig().with_overrides(label_amplitude=0.0)


def test_signed_distance_is_a_clipped_ramp_across_the_edge():
    mask = np.zeros((1, 20), bool)
    mask[0, :10] = True  # the edge lies between pixels 9 and 10
    ramp = signed_distance(mask)[0]
    np.testing.assert_allclose(ramp[8:12], np.array([1.5, 0.5, -0.5, -1.5]) / DISTANCE_RADIUS)
    assert ramp[0] == 1.0 and ramp[-1] == -1.0  # flat beyond the radius
    np.testing.assert_allclose(signed_distance(mask, radius=1.0)[0, 8:12], [1.0, 0.5, -0.5, -1.0])
    everywhere = np.ones((6, 6), bool)  # a class over the whole image (confluent objects' foreground)
    assert np.all(signed_distance(everywhere) == 1) and np.all(signed_distance(~everywhere) == -1)


def test_distance_encoding_round_trips_and_is_validated():
    labels = np.zeros((40, 40), np.uint8)
    labels[5:20, 5:30], labels[25:35, 10:38] = 1, 7  # three classes
    spec = check_labels(labels, labels.shape, mode="classes")
    coded = encode_labels(labels, spec, 0.5, encoding="distance")
    assert coded.shape == (1, 3, 40, 40) and coded.abs().max() == 0.5
    assert ((coded > 0).sum(dim=1) == 1).all()  # every pixel is positive in its own class's channel only
    assert len(np.unique(coded[0, 1].numpy())) > 4  # a ramp, not a step
    assert np.array_equal(decode_labels(coded, spec)[0], labels)
    with pytest.raises(ConfigError, match="label encoding must be one of distance, one-hot"):
        SinGANConfig().with_overrides(label_encoding="onehot")


@pytest.mark.parametrize("encoding", ["one-hot", "distance"])
def test_instance_encoding_keeps_touching_objects_apart(encoding):
    _, labels = nuclei()
    spec = check_labels(labels, labels.shape)
    coded = encode_labels(labels, spec, encoding=encoding)
    decoded = decode_labels(coded, spec, exact=True)[0]
    assert decoded.max() == 5 and object_f1(decoded, labels) == 1  # the touching pair apart too
    assert np.array_equal(decoded > 0, labels > 0)  # boundary pixels are given back to their objects
    assert decoded.dtype == np.uint16
    grown = decode_labels(coded, spec)[0]  # read as a generated sample: grown from the depth's peaks
    assert object_f1(grown, labels) == 1 and np.array_equal(grown > 0, labels > 0)


def test_stray_boundary_pixels_of_a_generated_sample_do_not_cut_its_objects():
    _, labels = nuclei()
    spec = check_labels(labels, labels.shape)
    noisy = encode_labels(labels, spec)
    salt = torch.from_numpy(np.random.default_rng(0).random(labels.shape) < 0.3)
    noisy[0, 2][salt] = 1.0  # a third of the pixels marked boundary at random, as in noisy samples
    assert decode_labels(noisy, spec, exact=True)[0].max() > 5  # cut along them: fragments
    grown = decode_labels(noisy, spec)[0]
    assert object_f1(grown, labels) == 1 and np.array_equal(grown > 0, labels > 0)


def test_generated_objects_that_fill_the_image_part_along_their_boundaries():
    labels = np.ones((24, 24), np.uint16)  # confluent cells: four quadrants, no background
    labels[:12, 12:], labels[12:, :12], labels[12:, 12:] = 2, 3, 4
    spec = LabelSpec("uint16", (0, 1), True, 0)
    grown = decode_labels(encode_labels(labels, spec), spec)[0]
    assert object_f1(grown, labels) == 1 and grown.min() == 1
    assert np.all(sample_depth(np.ones((5, 5), bool), np.zeros((5, 5), bool)) == EDGE_DISTANCE_CAP)


def test_object_f1_counts_objects_matched_at_half_overlap():
    _, labels = nuclei()
    assert object_f1(labels, labels) == 1.0 and object_f1(np.zeros_like(labels), np.zeros_like(labels)) == 1
    assert object_f1(labels * 3, labels) == 1.0  # ids need not agree, only the objects
    assert object_f1(np.roll(labels, 1, axis=1), labels) == 1.0  # a 1 px shift keeps IoU > 0.5
    merged = np.where(labels == 2, 1, labels)  # the touching pair as one object: 3 of 4 against 3 of 5
    assert object_f1(merged, labels) == pytest.approx(2 * 3 / (4 + 5))
    assert object_f1(np.roll(labels, 6, axis=1), labels) == 0.0  # shifted past half their width
    assert object_f1(np.zeros_like(labels), labels) == 0.0


def test_edge_distance_dips_to_zero_where_touching_objects_meet():
    _, labels = nuclei()
    depth = edge_distance(labels)
    assert depth.dtype == np.float32 and depth.min() == 0 and depth.max() <= 1
    assert np.all(depth[labels == 0] == 0)
    touching = (labels[:, 1:] == 1) & (labels[:, :-1] == 2) | (labels[:, 1:] == 2) & (labels[:, :-1] == 1)
    assert touching.any() and np.all(depth[:, 1:][touching] == 0)  # the seam between objects 1 and 2
    assert depth[8, 8] * EDGE_DISTANCE_CAP == pytest.approx(4)  # a disk of radius 4.5: 4 px to its ring
    assert edge_distance(np.pad(np.ones((20, 20), np.uint8), 1)).max() == 1  # capped
    assert np.all(edge_distance(np.ones((5, 5), np.uint8)) == 1)  # one object past every edge: deep


def test_split_objects_separates_touching_objects_along_the_valley():
    _, labels = nuclei()
    depth = edge_distance(labels) * EDGE_DISTANCE_CAP
    objects = split_objects(labels > 0, depth, 1.0)
    assert object_f1(objects, labels) == 1.0  # the touching pair split, every object found
    assert np.array_equal(np.unique(objects), np.arange(6))  # numbered 1..5
    assert np.array_equal(objects > 0, labels > 0)  # the whole foreground, nothing added or lost
    speck = np.zeros_like(labels)
    speck[2, 2] = 1  # a part of the foreground lower than the peak height: an object all the same
    assert split_objects(speck > 0, np.zeros(speck.shape), 2.0).max() == 1
    # a peak of 4 px beside a higher one of 4.2: its own object where the pass between them lies 1 px or
    # more below it, not where less
    for saddle, objects in ((3.5, 1), (3.0, 2), (2.0, 2)):
        depth = np.tile([1, 2, 3, 4, saddle, 4.2, 3, 2, 1], (3, 1)).astype(float)
        assert split_objects(depth > 0, depth, 1.0).max() == objects
    with pytest.raises(ValueError, match="above 0"):
        split_objects(depth > 0, depth, 0.0)


def test_peaks_of_one_height_with_a_shallow_pass_between_them_seed_one_object():
    depth = np.tile([1, 2, 3, 4, 3.8, 4, 3, 2, 1], (3, 1)).astype(float)  # twin peaks, a 0.2 px pass
    assert split_objects(depth > 0, depth, 0.5).max() == 1
    assert split_objects(depth > 0, depth, 0.5, tops=True).max() == 2  # h_maxima's tops: one each
    exact = np.tile([1, 2, 3, 4, 3.5, 4, 3, 2, 1], (3, 1)).astype(np.float32)  # a pass exactly 0.5 px down
    assert split_objects(exact > 0, exact, 0.5).max() == 2  # in float32 as a net's depth is
    exact[1, 4] = np.nan  # a depth that is not finite counts as 0 (it crashed the reconstruction)
    assert split_objects(exact > 0, exact, 0.5).max() == 2
    corners = np.zeros((4, 4), bool)
    corners[:2, :2] = corners[2:, 2:] = True  # two parts meeting at a corner, one flat plateau of depth
    assert np.array_equal(np.unique(split_objects(corners, np.ones((4, 4)), 0.5)[corners]), [1, 2])
    spec = LabelSpec("uint16", (0, 1), True, 0)
    blob = np.zeros((40, 60), np.uint16)  # two discs of radius 10 overlapping into one object
    for x in (20, 34):
        rr, cc = disk((20, x), 10, shape=blob.shape)
        blob[rr, cc] = 1
    yy, xx = np.mgrid[:60, :90]
    arc = (np.abs(np.hypot(yy - 60, xx - 45) - 35) < 2.5).astype(np.uint16)  # a curved rod 5 px wide
    for one in (blob, arc):  # peaks of one height all along them (the depth's cap, the rod's ridge)
        assert decode_labels(encode_labels(one, spec), spec)[0].max() == 1
    dumbbell = np.zeros((20, 40), np.uint16)
    for x in (8, 31):
        rr, cc = disk((10, x), 6, shape=dumbbell.shape)
        dumbbell[rr, cc] = 1
    dumbbell[9:12, 8:31] = 1  # a bar 3 px wide: a waist, where one object is split in two
    assert decode_labels(encode_labels(dumbbell, spec), spec)[0].max() == 2


def test_training_with_class_labels_gives_aligned_pairs(tmp_path):
    image = make_texture()
    labels = semantic(image)
    previews = []
    model = drain(
        train(image, PAIRS, labels=labels, device="cpu", seed=0),
        lambda e: previews.append(e) if isinstance(e, Preview) else None,
    )
    assert len(previews) == model.num_scales  # previews carry the sample's labels, in the input's values
    for preview in previews:
        assert preview.labels.shape == preview.image.shape and preview.labels.dtype == np.uint8
        assert set(np.unique(preview.labels)) <= {0, 3}
    assert model.channels == 1 + 2 and model.labels.first_channel == 1
    assert len(np.unique(model.image[0, 1].numpy())) > 4  # distance ramps by default
    assert len(model.label_noise_amps) == model.num_trained and model.label_noise_amps[0] == 1.0
    assert model.noise_amp(1).shape == (1, 3, 1, 1)  # the labels' own sigma_n after the image's
    assert model.noise_amp(1)[0, 0].item() == pytest.approx(model.noise_amps[1])
    images, masks = drain(generate(model, 8, seed=1, with_labels=True))
    assert images.shape == masks.shape == (8, 32, 32)
    assert images.dtype == np.uint8 and masks.dtype == np.uint8
    assert set(np.unique(masks)) <= {0, 3}  # no value the input lacked
    assert abs((masks == 3).mean() - (labels == 3).mean()) < 0.15  # class area fraction kept
    gap = image[labels == 3].mean() - image[labels == 0].mean()  # brighter inside class 3
    assert images[masks == 3].mean() - images[masks == 0].mean() > 0.2 * gap  # labels follow the image
    assert np.array_equal(drain(generate(model, 8, seed=1)), images)  # image-only sampling still works
    again = load_model(save_model(model, tmp_path / "pairs.singan"))
    pair = drain(generate(again, 8, seed=1, with_labels=True))
    assert np.array_equal(pair[0], images) and np.array_equal(pair[1], masks)


def test_one_hot_training_gives_aligned_pairs_and_older_files_read_as_one_hot():
    image = make_texture()
    labels = semantic(image)
    assert PAIRS.train.label_encoding == "distance"  # the default
    config = PAIRS.with_overrides(label_encoding="one-hot")
    model = drain(train(image, config, labels=labels, device="cpu", seed=0))
    assert model.config.train.label_encoding == "one-hot" and model.channels == 1 + 2
    assert set(np.unique(model.image[0, 1:].numpy())) == {-1.0, 1.0}  # the label channels are steps
    images, masks = drain(generate(model, 8, seed=1, with_labels=True))
    assert masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 3}
    assert abs((masks == 3).mean() - (labels == 3).mean()) < 0.15
    gap = image[labels == 3].mean() - image[labels == 0].mean()
    assert images[masks == 3].mean() - images[masks == 0].mean() > 0.2 * gap
    old = config.to_dict()
    del old["train"]["label_encoding"]  # a file written before the option existed
    assert SinGANConfig.from_dict(old).train.label_encoding == "one-hot"


def test_label_models_train_with_their_own_reconstruction_weight_and_schedule():
    image = make_texture()
    config = PAIRS.with_overrides(
        iters_per_scale=2,
        rec_weight=1.0,
        label_rec_weight=10.0,
        critic_norm="none",
        label_critic_norm="instance",
    )
    pairs = drain(train(image, config, labels=semantic(image), device="cpu")).config
    assert (pairs.train.rec_weight, pairs.model.critic_norm) == (10.0, "instance")
    alone = drain(train(image, config, device="cpu")).config  # images alone
    assert (alone.train.rec_weight, alone.model.critic_norm) == (1.0, "none")
    unset = config.with_overrides(label_rec_weight=0.0)
    assert drain(train(image, unset, labels=semantic(image), device="cpu")).config.train.rec_weight == 1.0
    short = config.with_overrides(coarsest_iters=3, coarse_with_labels=False)
    assert drain(train(image, short, labels=semantic(image), device="cpu")).config.train.coarsest_iters == 0
    assert drain(train(image, short, device="cpu")).config.train.coarsest_iters == 3  # images alone


def test_training_with_instance_labels_gives_numbered_objects_on_bright_spots():
    image, labels = nuclei()
    model = drain(train(image, PAIRS, labels=labels, device="cpu", seed=0))
    assert model.labels.instances and model.channels == 1 + 3
    images, objects = drain(generate(model, 6, seed=2, with_labels=True))
    assert images.dtype == np.uint16 and objects.dtype == np.uint16
    for obj in objects:
        assert np.array_equal(np.unique(obj), np.arange(obj.max() + 1))  # numbered 1..n, no gaps
    found = objects > 0
    assert found.any() and images[found].mean() > images[~found].mean() + 500


def test_pairs_need_a_label_model_and_label_models_need_matching_injections(tiny_model):
    with pytest.raises(SinGANError, match="without labels"):
        drain(generate(tiny_model, 2, with_labels=True))
    model = drain(train(make_texture(), PAIRS, labels=semantic(make_texture()), device="cpu", seed=0))
    with pytest.raises(SinGANError, match="channel"):
        drain(generate(model, 1, start_scale=1, injected=torch.zeros(1, 1, 32, 32)))


def test_seeds_regenerate_chosen_samples_of_a_larger_set(tiny_model):
    from napari_singan.core.sampling import sample_seeds

    full = drain(generate(tiny_model, 5, seed=9))
    seeds = sample_seeds(9, 5)
    assert np.array_equal(drain(generate(tiny_model, seeds=[seeds[3], seeds[1]])), full[[3, 1]])


def test_applications_refuse_label_models_with_one_line():
    from napari_singan.apps import animate, paint_to_image, super_resolve

    image = make_texture()
    model = drain(train(image, PAIRS, labels=semantic(image), device="cpu", seed=0))
    calls = [
        lambda: drain(animate(model, frames=3)),
        lambda: drain(paint_to_image(model, image, start_scale=1)),
        lambda: drain(super_resolve(model, image, factor=2.0)),
    ]
    for call in calls:
        with pytest.raises(SinGANError, match="trained with labels") as info:
            call()
        assert "\n" not in str(info.value)
