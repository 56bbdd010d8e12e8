"""Offline tests of every source type of keras_kd.data (no network)."""

import os
import tarfile
import time

import numpy as np
import pytest

from keras_kd import data
from keras_kd.data import sources
from tests.helpers import (
    fake_images,
    png_bytes,
    prepare_tfds_without_test_split,
    write_folder,
    write_idx,
    write_imagenet_tree,
    write_tiny_imagenet,
)

SHARED_CIFAR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "cifar10-jpg.tar.gz")


def test_image_folder_and_its_tar_gz_read_the_same(tmp_path, rng):
    written = write_folder(tmp_path / "tree", rng)
    with tarfile.open(tmp_path / "tree.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "tree", arcname="tree")
    for source in (tmp_path / "tree", tmp_path / "tree.tar.gz"):
        images, labels = data.load_arrays(str(source), "test")
        np.testing.assert_array_equal(images, written["test"][0])
        np.testing.assert_array_equal(labels, written["test"][1])
        images, labels = data.load_arrays(str(source), "train", validation_fraction=0)
        order = np.random.default_rng(0).permutation(len(labels))  # seeded split order
        np.testing.assert_array_equal(images, written["train"][0][order])
        np.testing.assert_array_equal(labels, written["train"][1][order])


def test_tiny_imagenet_layout_reads_val_as_the_labelled_test_split(tmp_path, rng):
    val_images, val_labels = write_tiny_imagenet(tmp_path / "tiny-imagenet-200", rng)
    source = str(tmp_path / "tiny-imagenet-200")
    images, labels = data.load_arrays(source, "test")
    np.testing.assert_array_equal(images, val_images)
    np.testing.assert_array_equal(labels, val_labels)
    images, labels = data.load_arrays(source, "train", validation_fraction=0)
    assert images.shape == (9, 8, 8, 3) and np.bincount(labels).tolist() == [3, 3, 3]
    batch, batch_labels = next(iter(data.load(source, "train", batch_size=9, validation_fraction=0)))
    assert tuple(batch.shape) == (9, 8, 8, 3) and sorted(batch_labels.numpy().tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_tiny_imagenet_annotations_naming_an_unknown_class_are_refused(tmp_path, rng):
    write_tiny_imagenet(tmp_path / "tiny", rng)
    with open(tmp_path / "tiny" / "val" / "val_annotations.txt", "a") as annotations:
        annotations.write("val_9.JPEG\tn77\t0\t0\t7\t7\n")
    with pytest.raises(ValueError, match="missing from wnids.txt: \\['n77'\\]"):
        data.load_arrays(str(tmp_path / "tiny"), "test")


IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def test_imagenet_eval_transform_resizes_the_shorter_side_then_center_crops(tmp_path, rng):
    """image_size 14: shorter side to int(14 / 0.875) = 16 (the 16-px images unresized), center 14 x 14 crop:
    rows / columns round((16 - 14) / 2) = 1 .. 15 of the 16 x 16 and 16 x 24 images (columns 5 .. 19)."""
    val = write_imagenet_tree(tmp_path / "imagenet", rng)
    images, labels = next(iter(data.load(str(tmp_path / "imagenet"), "test", batch_size=6, image_size=14)))
    assert tuple(images.shape) == (6, 14, 14, 3) and labels.numpy().tolist() == [0, 0, 0, 1, 1, 1]
    normalized = lambda crop: (crop / 255.0 - IMAGENET_MEAN) / IMAGENET_STD  # noqa: E731
    np.testing.assert_allclose(images[0], normalized(val[0][1:15, 1:15]), atol=1e-4)
    np.testing.assert_allclose(images[1], normalized(val[1][1:15, 5:19]), atol=1e-4)
    assert np.isfinite(images[2]).all()  # 20 x 16: resized to 20 x 16 -> 20 x 16 (shorter 16), rows 3 .. 17
    np.testing.assert_allclose(images[2], normalized(val[2][3:17, 1:15]), atol=1e-4)


def test_imagenet_train_crops_are_seeded_resized_boxes_redrawn_every_epoch(tmp_path, rng):
    write_imagenet_tree(tmp_path / "png", rng)
    write_imagenet_tree(tmp_path / "jpeg", rng, jpeg=True)  # decode_and_crop_jpeg path
    for source in (str(tmp_path / "png"), str(tmp_path / "jpeg")):
        dataset = data.load(source, "train", batch_size=6, image_size=12, validation_fraction=0)
        epochs = [next(iter(dataset))[0].numpy() for _ in range(2)]
        again = next(iter(data.load(source, "train", batch_size=6, image_size=12, validation_fraction=0)))[0]
        assert epochs[0].shape == (6, 12, 12, 3) and np.isfinite(epochs[0]).all()
        np.testing.assert_array_equal(again.numpy(), epochs[0])  # same seed, same crops
        assert not np.array_equal(epochs[0], epochs[1])  # a new epoch draws new crops (and order)


def test_imagenet_crop_of_a_constant_image_is_its_normalized_color(tmp_path):
    """A crop resized from a constant image keeps its color: the normalization is ImageNet's."""
    root = tmp_path / "constant"
    (root / "train" / "a").mkdir(parents=True)
    (root / "train" / "a" / "0.png").write_bytes(png_bytes(np.full((20, 30, 3), (10, 128, 250), np.uint8)))
    images, _ = next(iter(data.load(str(root), "train", batch_size=1, image_size=8, validation_fraction=0)))
    np.testing.assert_allclose(images[0], np.broadcast_to((np.array([10, 128, 250]) / 255 - IMAGENET_MEAN)
                                                          / IMAGENET_STD, (8, 8, 3)), atol=1e-4)


def test_imagenet_tar_streams_as_its_folder_and_counts_without_decoding(tmp_path, rng):
    write_imagenet_tree(tmp_path / "tree", rng)
    with tarfile.open(tmp_path / "tree.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "tree", arcname="tree")
    folder, tar = (str(tmp_path / "tree"), str(tmp_path / "tree.tar.gz"))
    for split, count in (("train", 5), ("validation", 1), ("test", 6)):
        assert data.num_examples(folder, split) == data.num_examples(tar, split) == count
        batches = [data.load(source, split, batch_size=8, image_size=8, augment=False, shuffle=False)
                   for source in (folder, tar)]
        (a, a_labels), (b, b_labels) = (next(iter(batch)) for batch in batches)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a_labels.numpy(), b_labels.numpy())
    (x, index), _ = next(iter(data.load(folder, "train", batch_size=8, image_size=8, with_index=True)))
    assert sorted(index.numpy().tolist()) == [0, 1, 2, 3, 4]


def test_a_listing_of_paths_streams_like_its_folder(tmp_path, rng):
    """kd.data.list_split's (paths, labels) of a subset, given back as {split: (paths, labels)}: the examples'
    --train_size subsets at --image_size."""
    write_imagenet_tree(tmp_path / "tree", rng)
    paths, labels = data.list_split(str(tmp_path / "tree"), "test")
    listing = {"test": (paths[:4], labels[:4])}
    streamed, streamed_labels = next(iter(data.load(listing, "test", batch_size=8, image_size=8)))
    folder, folder_labels = next(iter(data.load(str(tmp_path / "tree"), "test", batch_size=4, image_size=8)))
    np.testing.assert_array_equal(streamed.numpy(), folder.numpy())
    np.testing.assert_array_equal(streamed_labels.numpy(), folder_labels.numpy())


def test_a_tfds_dataset_streams_at_image_size_with_its_validation_split_as_test(tmp_path, rng):
    """Imagenette's layout (train and validation, no test): its validation images are the test split, listed
    encoded as stored and decoded per step like any listing of the same (lossless) images."""
    written = prepare_tfds_without_test_split(tmp_path, rng)
    name, data_dir = "tiny_validation_only", str(tmp_path)
    images, labels = data.load_arrays(name, "test", data_dir=data_dir)
    as_rows = lambda batch: sorted(image.tobytes() for image in batch)  # noqa: E731 (tfds shuffles by key)
    assert as_rows(images) == as_rows(written["validation"][0])
    encoded, listed_labels = data.list_split(name, "test", data_dir=data_dir)
    np.testing.assert_array_equal(listed_labels, labels)
    assert data.num_examples(name, "train", validation_fraction=0.25, data_dir=data_dir) == 3
    listing = {"test": ([png_bytes(image) for image in images], labels)}
    streamed, streamed_labels = next(iter(data.load(name, "test", batch_size=4, image_size=8, data_dir=data_dir)))
    expected, _ = next(iter(data.load(listing, "test", batch_size=4, image_size=8)))
    np.testing.assert_array_equal(streamed.numpy(), expected.numpy())
    np.testing.assert_array_equal(streamed_labels.numpy(), labels)
    assert len(encoded) == 4 and isinstance(encoded[0], bytes)


def test_a_listing_is_read_once_and_again_after_the_source_changes(tmp_path, rng):
    write_imagenet_tree(tmp_path / "tree", rng)
    source = str(tmp_path / "tree")
    first = data.list_examples(source)
    hits = sources._cached_examples.cache_info().hits
    assert data.list_examples(source)["test"][0] is first["test"][0]  # examples/ read train and test of one listing
    assert sources._cached_examples.cache_info().hits == hits + 1
    with pytest.raises(ValueError, match="read-only"):
        first["test"][1][0] = 7  # the cached labels cannot be corrupted by a caller
    del first["train"]  # nor the cached dict
    assert "train" in data.list_examples(source)
    paths, labels = data.list_split(source, "test")
    labels[0] = 1 - labels[0]  # the caller's copy
    assert isinstance(paths, list) and data.list_split(source, "test")[1][0] != labels[0]
    (tmp_path / "tree" / "val" / "n01" / "extra.png").write_bytes(png_bytes(fake_images(rng, 1)[0]))
    os.utime(tmp_path / "tree" / "val" / "n01", (time.time() + 5, time.time() + 5))  # coarse mtime clocks
    assert len(data.list_examples(source)["test"][1]) == len(first["test"][1]) + 1


def test_a_tiny_imagenet_listing_sees_images_added_three_levels_down(tmp_path, rng):
    write_tiny_imagenet(tmp_path / "tiny", rng)
    source, images = str(tmp_path / "tiny"), tmp_path / "tiny" / "train" / "n01" / "images"
    count = len(data.list_examples(source)["train"][1])
    (images / "n01_9.JPEG").write_bytes(png_bytes(fake_images(rng, 1)[0]))
    os.utime(images, (time.time() + 5, time.time() + 5))
    assert len(data.list_examples(source)["train"][1]) == count + 1


@pytest.mark.parametrize("source, kwargs, message", [
    ((np.zeros((3, 4, 4, 3), np.uint8), np.zeros(3)), {"image_size": 8}, "source=(ndarray(shape=(3, 4, 4, 3)"),
    ("idx", {"image_size": 8}, "idx"),
    (None, {"image_size": 0}, "image_size=0"),
    (None, {"image_size": 8, "random_scale": (1.0, 0.5)}, "random_scale=(1.0, 0.5)"),
])
def test_bad_streaming_arguments_name_the_value(tmp_path, rng, source, kwargs, message):
    if source is None:
        write_imagenet_tree(tmp_path / "tree", rng)
        source = str(tmp_path / "tree")
    if source == "idx":  # raw pixels: nothing to decode per step
        (tmp_path / "idx").mkdir()
        (tmp_path / "idx" / "train-images-idx3-ubyte").write_bytes(b"")
        source = str(tmp_path / "idx")
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        data.load(source, "train", **kwargs)


def test_numpy_source_split_is_a_seeded_partition(rng):
    images, labels = fake_images(rng, 50), rng.integers(0, 3, 50)
    train = data.load_arrays((images, labels), "train", validation_fraction=0.2, seed=3)
    val = data.load_arrays((images, labels), "validation", validation_fraction=0.2, seed=3)
    assert len(train[1]) == 40 and len(val[1]) == 10
    rows = {row.tobytes() for row in np.concatenate([train[0], val[0]])}
    assert rows == {row.tobytes() for row in images}
    again = data.load_arrays((images, labels), "validation", validation_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again[0], val[0])


def test_idx_directory_source(tmp_path, rng):
    for prefix, n in (("train", 6), ("t10k", 3)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 5, 5)), True)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n), True)
    images, labels = data.load_arrays(str(tmp_path), "test")
    assert images.shape == (3, 5, 5, 1) and labels.shape == (3,)


def test_pipeline_batches_normalizes_and_augments_deterministically(rng):
    images, labels = fake_images(rng, 20), rng.integers(0, 3, 20)
    source = {"train": (images, labels), "test": (images[:6], labels[:6])}
    first = [b for b in data.load(source, "train", batch_size=8, seed=1).as_numpy_iterator()]
    second = [b for b in data.load(source, "train", batch_size=8, seed=1).as_numpy_iterator()]
    assert [len(b[1]) for b in first] == [8, 8, 2]
    for (xa, ya), (xb, yb) in zip(first, second):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    test_images, test_labels = next(data.load(source, "test", batch_size=6).as_numpy_iterator())
    train_pixels = images[np.sort(np.random.default_rng(0).permutation(20)[:18])]
    mean, std = data.channel_statistics(train_pixels)
    np.testing.assert_allclose(test_images, (images[:6] / 255.0 - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(test_labels, labels[:6])


def test_augmentation_is_a_padded_crop_or_its_flip(rng):
    image = fake_images(rng, 1)
    source = {"train": (np.repeat(image, 4, axis=0), np.zeros(4, np.int64))}
    x, _ = next(data.load(source, "train", batch_size=4, validation_fraction=0, seed=2).as_numpy_iterator())
    mean, std = data.channel_statistics(source["train"][0])
    raw = np.round((x * std + mean) * 255).astype(int)
    padded = np.pad(image[0].astype(int), [(4, 4), (4, 4), (0, 0)])
    crops = [padded[i:i + 8, j:j + 8] for i in range(9) for j in range(9)]
    candidates = crops + [c[:, ::-1] for c in crops]
    for example in raw:
        assert any(np.array_equal(example, c) for c in candidates)
    assert len({example.tobytes() for example in raw}) > 1


def test_with_index_yields_each_example_position(rng):
    images, labels = fake_images(rng, 10), np.arange(10) % 3
    batches = list(data.load((images, labels), "train", batch_size=4, validation_fraction=0,
                             with_index=True, augment=False).as_numpy_iterator())
    _, labels = data.load_arrays((images, labels), "train", validation_fraction=0)
    indices = np.concatenate([b[0][1] for b in batches])
    assert sorted(indices) == list(range(10))
    for (x, index), y in batches:
        np.testing.assert_array_equal(y, labels[index])


def resize_aligned_corners(images, height, width):
    """numpy bilinear resize with aligned corners (GradAug's F.interpolate(..., align_corners=True))."""
    def positions(size_in, size_out):
        step = (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        where = np.arange(size_out) * step
        low = np.minimum(np.floor(where).astype(int), size_in - 1)
        high = np.minimum(low + 1, size_in - 1)
        return low, high, where - low

    top, bottom, dy = positions(images.shape[1], height)
    left, right, dx = positions(images.shape[2], width)
    rows = images[:, top] * (1 - dy)[None, :, None, None] + images[:, bottom] * dy[None, :, None, None]
    return rows[:, :, left] * (1 - dx)[None, None, :, None] + rows[:, :, right] * dx[None, None, :, None]


def test_random_scale_resizes_each_batch_to_a_drawn_size_as_gradaug(rng):
    images, labels = fake_images(rng, 24, size=16), np.arange(24) % 3
    kwargs = dict(batch_size=4, validation_fraction=0, seed=3, with_index=True)
    plain = data.load((images, labels), "train", **kwargs)
    scaled = data.load((images, labels), "train", random_scale=(1.0, 0.75, 0.5), **kwargs)
    assert scaled.element_spec[0][0].shape.as_list() == [None, None, None, 3]
    epochs = [list(scaled.as_numpy_iterator()) for _ in range(3)]
    for epoch in epochs:  # same order, crops and flips as without scaling, then resized
        plain_epoch = list(plain.as_numpy_iterator())
        for ((x, index), y), ((x0, index0), y0) in zip(epoch, plain_epoch):
            np.testing.assert_array_equal(index, index0)
            np.testing.assert_array_equal(y, y0)
            assert x.shape[1] == x.shape[2] and x.shape[1] in (16, 12, 8)
            np.testing.assert_allclose(x, resize_aligned_corners(x0, *x.shape[1:3]), rtol=1e-4, atol=1e-4)
    sizes = [[b[0][0].shape[1] for b in epoch] for epoch in epochs]
    assert {s for epoch in sizes for s in epoch} == {16, 12, 8}
    assert sizes[0] != sizes[1] or sizes[1] != sizes[2]  # re-drawn every epoch
    again = data.load((images, labels), "train", random_scale=(1.0, 0.75, 0.5), **kwargs)
    assert [b[0][0].shape[1] for b in again.as_numpy_iterator()] == sizes[0]  # seeded
    test = data.load({"train": (images, labels), "test": (images, labels)}, "test", random_scale=(0.5,))
    assert next(test.as_numpy_iterator())[0].shape[1] == 16  # only with the augmentation


@pytest.mark.parametrize("scales", [(), (0.0,), (1.0, -0.5), 0.75, "0.75", (True,)])
def test_bad_random_scale_names_the_value(rng, scales):
    with pytest.raises(ValueError, match="random_scale"):
        data.load((fake_images(rng, 4), np.zeros(4, np.int64)), "train", random_scale=scales)


def test_tfds_dataset_written_locally_in_tfds_format(tmp_path):
    import tensorflow_datasets as tfds

    tfds.testing.DummyMnist(data_dir=str(tmp_path)).download_and_prepare()
    images, labels = data.load_arrays("dummy_mnist", "test", data_dir=str(tmp_path))
    assert images.ndim == 4 and images.dtype == np.uint8 and len(images) == len(labels)


def test_missing_tfds_dataset_fails_fast_with_help(tmp_path):
    start = time.time()
    with pytest.raises(ValueError, match="download=True"):
        data.load_arrays("cifar10", "train", data_dir=str(tmp_path))
    assert time.time() - start < 5


@pytest.mark.parametrize(
    "source, kwargs, error, message",
    [
        ("no_such_dataset_xyz", {}, ValueError, "source='no_such_dataset_xyz'"),
        ("./missing/folder", {}, FileNotFoundError, "source='./missing/folder'"),
        (42, {}, ValueError, "source=42"),
        ((np.zeros((3, 4, 4, 3)), np.zeros(2)), {}, ValueError, "(3, 4, 4, 3)"),
        ((np.zeros((3, 4, 4, 3)), np.zeros(3)), {"split": "val"}, ValueError, "split='val'"),
        ((np.zeros((3, 4, 4, 3)), np.zeros(3)), {"validation_fraction": 1.0}, ValueError,
         "validation_fraction=1.0"),
    ],
)
def test_bad_sources_name_the_value(tmp_path, source, kwargs, error, message):
    with pytest.raises(error, match=__import__("re").escape(message)):
        data.load_arrays(source, data_dir=str(tmp_path), **kwargs)


@pytest.mark.heavy
@pytest.mark.skipif(not os.path.exists(SHARED_CIFAR), reason="CIFAR-10 JPEG archive (../shared/data) absent")
def test_shared_cifar10_jpegs_load_with_the_usual_labels():
    images, labels = data.load_arrays(SHARED_CIFAR, "test")
    assert images.shape == (10000, 32, 32, 3)
    assert np.bincount(labels).tolist() == [1000] * 10


def test_remainder_drop_leaves_out_the_last_incomplete_batch(rng):
    images, labels = fake_images(rng, 10), np.arange(10) % 3
    kept = list(data.load((images, labels), "train", batch_size=4, validation_fraction=0, shuffle=False,
                          augment=False).as_numpy_iterator())
    dropped = list(data.load((images, labels), "train", batch_size=4, validation_fraction=0, shuffle=False,
                             augment=False, remainder="drop").as_numpy_iterator())
    assert [len(b[1]) for b in kept] == [4, 4, 2] and [len(b[1]) for b in dropped] == [4, 4]
    for (x_kept, y_kept), (x_dropped, y_dropped) in zip(kept, dropped):
        np.testing.assert_array_equal(x_kept, x_dropped)
        np.testing.assert_array_equal(y_kept, y_dropped)


@pytest.mark.parametrize("image_size", [None, 8])
def test_remainder_pad_fills_the_last_batch_with_zero_weight_repeats(tmp_path, rng, image_size):
    """Every batch full, with sample weights: 1 for the real examples, 0 for the repeats of the last batch's
    own examples that fill it (both pipelines)."""
    source = {"train": (fake_images(rng, 12), np.arange(12) % 3), "test": (fake_images(rng, 12), np.arange(12) % 3)}
    if image_size:
        write_folder(tmp_path / "tree", rng)  # 12 test images
        source = str(tmp_path / "tree")
    kept = list(data.load(source, "test", batch_size=5, image_size=image_size).as_numpy_iterator())
    padded = list(data.load(source, "test", batch_size=5, image_size=image_size,
                            remainder="pad").as_numpy_iterator())
    assert [len(b[1]) for b in kept] == [5, 5, 2] and [len(b[1]) for b in padded] == [5, 5, 5]
    for (x, y), (x_pad, y_pad, weights) in zip(kept, padded):
        rows = np.arange(5) % len(y)
        np.testing.assert_array_equal(x_pad, x[rows])
        np.testing.assert_array_equal(y_pad, y[rows])
        np.testing.assert_allclose(weights, np.where(np.arange(5) < len(y), 15 / 12, 0.0), rtol=1e-6)
    assert padded[0][2].dtype == np.float32


def test_several_processes_default_to_full_batches(monkeypatch, rng):
    """In a multi-process job: train drops, evaluation pads, and a smaller last batch is refused."""
    from keras_kd.data import batching

    monkeypatch.setattr(batching, "process_count", lambda: 2)
    source = {"train": (fake_images(rng, 10), np.arange(10) % 3), "test": (fake_images(rng, 6), np.arange(6) % 3)}
    train = list(data.load(source, "train", batch_size=4, validation_fraction=0).as_numpy_iterator())
    test = list(data.load(source, "test", batch_size=4).as_numpy_iterator())
    assert [len(b[1]) for b in train] == [4, 4] and all(len(b) == 2 for b in train)
    assert [len(b[1]) for b in test] == [4, 4] and [list(b[2] > 0) for b in test] == [[1, 1, 1, 1], [1, 1, 0, 0]]
    with pytest.raises(ValueError, match="remainder='keep' leaves the 2 processes"):
        data.load(source, "test", batch_size=4, remainder="keep")
    monkeypatch.setattr(batching, "process_count", lambda: 1)
    assert [len(b[1]) for b in data.load(source, "test", batch_size=4).as_numpy_iterator()] == [4, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({"remainder": "last"}, "remainder='last'"),
    ({"remainder": "pad"}, "remainder='pad', split='train'"),
])
def test_bad_remainders_name_the_value(rng, kwargs, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        data.load((fake_images(rng, 6), np.arange(6) % 3), "train", batch_size=4, **kwargs)


def test_padded_evaluation_weighs_the_real_examples_only(rng):
    """evaluate on a padded split equals evaluate on the real examples: the loss, and the accuracy compiled as
    a weighted metric."""
    import keras

    source = {"train": (fake_images(rng, 10), np.arange(10) % 3), "test": (fake_images(rng, 10), np.arange(10) % 3)}
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=["accuracy"])
    plain = model.evaluate(data.load(source, "test", batch_size=4), verbose=0, return_dict=True)
    padded = model.evaluate(data.load(source, "test", batch_size=4, remainder="pad"), verbose=0, return_dict=True)
    assert padded == pytest.approx(plain, rel=1e-5)
