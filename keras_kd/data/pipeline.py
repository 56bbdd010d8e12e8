"""``load``: a batched, augmented, normalized tf.data pipeline for a source.

Splits: ``"train"`` and ``"validation"`` are a seeded partition of the
source's training data (``validation_fraction`` of it is held out, so
hyperparameters are never tuned on test); ``"test"`` is the source's test
split. Per-channel normalization uses the statistics of the ``"train"``
part. CIFAR augmentation as in crowley2018 / jha2020: pad 4 pixels (zeros,
or ``pad_mode="reflect"`` as jha2020), random crop back to size, random
horizontal flip; seeded per example and re-drawn every epoch. GradAug's
random scale transformation (yang2020, used by tang2024) as an option:
``random_scale`` resizes each augmented batch to a randomly drawn size.
"""

import math
import os

import numpy as np

from keras_kd.data import imagenet
from keras_kd.data.batching import batch_examples, resolve_remainder
from keras_kd.data.seeded import seeded_map
from keras_kd.data.sources import describe_value, is_idx_directory, list_examples, read_source, tfds_split_sizes
from keras_kd.validation import check_choice, check_int, check_number

SPLITS = ("train", "validation", "test")
PAD_MODES = ("constant", "reflect")
# GradAug's CIFAR resolutions (yang2020 code, configs/*.yml: "resos: [32, 28, 24]"),
# as fractions of the image size.
GRADAUG_CIFAR_SCALES = (1.0, 0.875, 0.75)
# Folded into a batch's seed to draw its size: a stream apart from the
# per-example crop / flip seeds split from the same values.
_SCALE_STREAM = 1


def _check(condition, message):
    if not condition:
        raise ValueError(message)


def load_arrays(source, split="train", validation_fraction=0.1, seed=0, data_dir=None, download=False):
    """uint8 images and int64 labels of ``split`` (see ``load``), in memory.

    ``"train"`` and ``"validation"`` come in a seeded random order, so their
    first n examples are a random subset; ``"test"`` keeps the source order.

    Args:
        source: as in ``load`` (without ``image_size``: decoded in memory).
        split: ``"train"``, ``"validation"`` (carved from train) or ``"test"``.
        validation_fraction: share of the training data held out as ``"validation"`` (as in ``load``).
        seed: seeds the split (as in ``load``).
        data_dir: tensorflow-datasets location (as in ``load``).
        download: ``True`` fetches a missing tfds dataset (as in ``load``).
    """
    return _split_of(read_source(source, data_dir=data_dir, download=download), source, split,
                     validation_fraction, seed)


def _split_of(splits, source, split, validation_fraction, seed):
    """``(items, labels)`` of ``split`` from the source's ``{split: (items, labels)}``: ``"test"`` as is,
    ``"train"`` / ``"validation"`` a seeded partition of the source's train split."""
    check_choice(split, "split", SPLITS)
    validation_fraction = check_number(validation_fraction, "validation_fraction", 0, 1, high_open=True)
    if split == "test":
        _check("test" in splits, f"source={source!r} has no test split")
        return splits["test"]
    _check("train" in splits, f"source={source!r} has no train split")
    items, labels = splits["train"]
    order = np.random.default_rng(seed).permutation(len(labels))
    held_out = int(round(validation_fraction * len(labels)))
    chosen = order[len(labels) - held_out :] if split == "validation" else order[: len(labels) - held_out]
    if isinstance(items, np.ndarray):
        return items[chosen], labels[chosen]
    return [items[i] for i in chosen], labels[chosen]


def list_split(source, split="train", validation_fraction=0.1, seed=0, data_dir=None, download=False):
    """``(items, labels)`` of ``split`` of an image source without decoding it (the examples ``load``
    streams with ``image_size=``): file paths or encoded images, and int64 labels. ``source`` is a local
    folder tree, tar archive, Tiny-ImageNet directory or tfds name (``data_dir`` and ``download`` as in
    ``load``), or such a listing itself, ``{split: (items, labels)}`` with items a list of paths or encoded
    images.

    Args:
        source: a local folder tree, tar archive, Tiny-ImageNet directory or tfds name, or a listing
            ``{split: (items, labels)}``.
        split: ``"train"``, ``"validation"`` (carved from train) or ``"test"``.
        validation_fraction: share of the training data held out as ``"validation"`` (as in ``load``).
        seed: seeds the split (as in ``load``).
        data_dir: tensorflow-datasets location (as in ``load``).
        download: ``True`` fetches a missing tfds dataset (as in ``load``).
    """
    if _is_listing(source):
        return _split_of({k: (list(items), np.asarray(labels, np.int64)) for k, (items, labels) in source.items()},
                         "<listing>", split, validation_fraction, seed)
    if not _lists_images(source):
        raise ValueError(
            "`image_size=` streams images from a local folder tree, tar archive or Tiny-ImageNet directory, a "
            "tfds name, or a listing {split: (paths or encoded images, labels)}; idx files and arrays load in "
            f"memory at their own size (image_size=None). Received: source={describe_value(source)}"
        )
    items, labels = _split_of(list_examples(source, data_dir, download), source, split, validation_fraction, seed)
    return list(items), np.array(labels)  # the cached listing's test split: copied


def _lists_images(source):
    """Whether ``source`` names image files ``list_examples`` lists (not raw pixels: arrays, idx files)."""
    return isinstance(source, (str, os.PathLike)) and not is_idx_directory(source)


def _is_listing(source):
    return isinstance(source, dict) and all(
        isinstance(pair, (tuple, list)) and len(pair) == 2 and isinstance(pair[0], (list, tuple)) and pair[0]
        and isinstance(pair[0][0], (str, bytes)) for pair in source.values())


def channel_statistics(images):
    """Per-channel mean and standard deviation of uint8 images, in [0, 1] units.

    Args:
        images: uint8 images, channels last (any leading shape).
    """
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return pixels.mean(axis=0).astype(np.float32), pixels.std(axis=0).astype(np.float32)


def num_examples(source, split="train", validation_fraction=0.1, seed=0, data_dir=None, download=False):
    """How many examples ``load(source, split, ...)`` yields (e.g. GKT's ``num_examples``:
    the ``"train"`` part leaves the carved validation examples out). Local image sources are
    counted from their listing, tfds names from their metadata: neither is decoded.

    Args:
        source: as in ``load``.
        split: ``"train"``, ``"validation"`` (carved from train) or ``"test"``.
        validation_fraction: share of the training data held out as ``"validation"`` (as in ``load``).
        seed: seeds the split (as in ``load``).
        data_dir: tensorflow-datasets location (as in ``load``).
        download: ``True`` fetches a missing tfds dataset (as in ``load``).
    """
    if _lists_images(source) and os.path.exists(source):
        return len(list_split(source, split, validation_fraction, seed, data_dir, download)[1])
    if _lists_images(source):  # a tfds name: its metadata, split as load would
        sizes = tfds_split_sizes(os.fspath(source), data_dir, download)
        counts = {name: (np.zeros(size, np.int8), np.zeros(size, np.int64)) for name, size in sizes.items()}
        return len(_split_of(counts, source, split, validation_fraction, seed)[1])
    return len(load_arrays(source, split, validation_fraction, seed, data_dir, download)[1])


def statistics(source, validation_fraction=0.1, seed=0, data_dir=None, download=False):
    """``(mean, std)`` per channel, in [0, 1] units, with which ``load`` normalizes
    every split of ``source`` (those of its ``"train"`` part, same arguments).
    ``keras_kd.models.with_preprocessing(model, mean, std)`` puts them in a model.

    Args:
        source: as in ``load``; the statistics are those of its ``"train"`` part.
        validation_fraction: share of the training data held out as ``"validation"`` (as in ``load``).
        seed: seeds the split (as in ``load``).
        data_dir: tensorflow-datasets location (as in ``load``).
        download: ``True`` fetches a missing tfds dataset (as in ``load``).
    """
    images, _ = load_arrays(source, "train", validation_fraction, seed, data_dir, download)
    return channel_statistics(images)


def check_scales(random_scale):
    """``random_scale`` as a tuple of positive floats, or ``()`` for none."""
    if random_scale is None:
        return ()
    if isinstance(random_scale, (str, bytes)) or not hasattr(random_scale, "__iter__"):
        raise ValueError(f"random_scale must be a sequence of positive fractions. Received: random_scale={random_scale!r}")
    scales = tuple(check_number(f, "random_scale", 0, math.inf, low_open=True) for f in random_scale)
    if not scales:
        raise ValueError("random_scale must hold at least one fraction (None for no scaling). Received: random_scale=()")
    return scales


def scaled_sizes(height, width, scales):
    """``(height, width)`` of each fraction in ``scales``, rounded, at least 1 pixel."""
    return [(max(1, int(round(f * height))), max(1, int(round(f * width)))) for f in scales]


def resize_batches(dataset, sizes, seed):
    """``dataset``'s image batches each resized to one of ``sizes``, drawn uniformly
    (seeded, re-drawn every epoch), bilinearly with aligned corners as GradAug's
    ``F.interpolate(..., mode="bilinear", align_corners=True)``."""
    import tensorflow as tf

    table = tf.constant(sizes, tf.int32)

    def resize(batch, batch_seed):
        features, labels, *weights = batch
        images = features[0] if isinstance(features, tuple) else features
        draw = tf.random.experimental.stateless_fold_in(batch_seed, _SCALE_STREAM)
        size = table[tf.random.stateless_uniform([], draw, 0, len(sizes), tf.int32)]
        images = tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=True, half_pixel_centers=False)
        return (((images,) + features[1:] if isinstance(features, tuple) else images), labels, *weights)

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((dataset, seeds)).map(resize, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def load(
    source,
    split="train",
    batch_size=128,
    augment=None,
    shuffle=None,
    validation_fraction=0.1,
    seed=0,
    pad=4,
    pad_mode="constant",
    with_index=False,
    random_scale=None,
    data_dir=None,
    download=False,
    image_size=None,
    remainder=None,
):
    """A batched ``tf.data.Dataset`` of ``(images, labels)`` for ``split``.

    Args:
        source: tfds name, image-folder tree or its tar.gz, Tiny-ImageNet directory, idx directory,
            numpy arrays (see ``keras_kd.data.sources``), or with ``image_size=`` a listing
            ``{split: (paths or encoded images, labels)}`` (``list_split``).
        split: ``"train"``, ``"validation"`` (carved from train) or ``"test"``.
        batch_size: examples per batch (the global batch under data parallelism); the last may be smaller
            (``remainder``).
        augment: pad/crop/flip augmentation; default on for ``"train"`` only.
        shuffle: reshuffle every epoch; default on for ``"train"`` only.
        validation_fraction: share of the training data held out.
        seed: seeds the split, the shuffle and the augmentation.
        pad: augmentation padding in pixels.
        pad_mode: ``"constant"`` (zeros, crowley2018) or ``"reflect"`` (jha2020).
        with_index: yield ``((images, index), labels)`` with each example's
            position in the split (GKT keeps per-example knowledge by it).
        random_scale: ``None`` for none, or GradAug's random scale transformation (yang2020, tang2024):
            sizes as positive fractions of the image, each augmented batch resized to one drawn at random
            (a recipe's ``random_scale``).
        data_dir: tensorflow-datasets location.
        download: ``True`` fetches a missing tfds dataset (needs internet).
        image_size: ``None`` (the images at their own size, in memory, with the CIFAR augmentation
            above), or a size in pixels: the images of a local folder tree, tar archive,
            Tiny-ImageNet directory or tfds dataset (e.g. ``"imagenette"``; its encoded images are held in
            memory, as a tar archive's) are decoded per step with ImageNet's transforms at that size
            (``keras_kd.data.imagenet``: RandomResizedCrop and flip for ``"train"``, resize and center
            crop otherwise; ImageNet's normalization; ``pad``, ``pad_mode`` and ``random_scale`` do not
            apply).
        remainder: the examples after the last full batch (``keras_kd.data.batching``): ``"keep"`` (a
            smaller last batch), ``"drop"``, or, for ``"validation"`` and ``"test"``, ``"pad"`` (filled
            up with zero-weight repeats; every batch then has sample weights: evaluate with
            ``weighted_metrics``). Default ``"keep"`` in one process; in a multi-process job
            (``keras.distribution.initialize``), where every batch must be full, ``"drop"`` for
            ``"train"`` and ``"pad"`` for the other splits.

    Shuffling and augmentation draw from ``seed`` and TensorFlow's global seed
    (``keras.utils.set_random_seed``), as every seeded tf.data op does. ``keras.distribution.initialize``
    sets a global seed shared by the processes, drawn at random, when none is set: call
    ``keras.utils.set_random_seed`` before it for the same order in every run (and as one process).

    Returns:
        ``tf.data.Dataset`` of float32 normalized images (n, h, w, c) and
        int64 labels (and float32 sample weights with ``remainder="pad"``), prefetched.

    Example:

    >>> train = load("cifar10", "train", batch_size=128)  # doctest: +SKIP
    >>> model.fit(train, validation_data=load("cifar10", "validation"))  # doctest: +SKIP
    """
    import tensorflow as tf

    batch_size = check_int(batch_size, "batch_size")
    check_choice(pad_mode, "pad_mode", PAD_MODES)
    scales = check_scales(random_scale)
    augment = split == "train" if augment is None else augment
    shuffle = split == "train" if shuffle is None else shuffle
    remainder = resolve_remainder(remainder, split)
    if image_size is not None:
        image_size = check_int(image_size, "image_size")
        _check(not scales, f"random_scale applies to image_size=None only. Received: random_scale={random_scale!r}")
        items, labels = list_split(source, split, validation_fraction, seed, data_dir, download)
        return imagenet.pipeline(items, labels, batch_size, image_size, augment, shuffle, seed, with_index,
                                 remainder)
    images, labels = load_arrays(source, split, validation_fraction, seed, data_dir, download)
    if split == "train":
        mean, std = channel_statistics(images)
    else:
        mean, std = statistics(source, validation_fraction, seed, data_dir, download)
    height, width = images.shape[1:3]

    def augment_one(image, element_seed):
        seeds = tf.random.experimental.stateless_split(element_seed, 2)
        padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]], mode=pad_mode.upper())
        image = tf.image.stateless_random_crop(padded, tf.shape(image), seed=seeds[0])
        return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])

    def prepare(image, label, index, element_seed):
        image = tf.cast(image, tf.float32) / 255.0
        if augment:
            image = augment_one(image, element_seed)
        image = (image - mean) / std
        image = tf.ensure_shape(image, (height, width, images.shape[-1]))
        features = (image, index) if with_index else image
        return features, label

    dataset = seeded_map(images, labels, prepare, shuffle, seed)
    dataset = batch_examples(dataset, batch_size, remainder, len(labels))
    if augment and scales:
        dataset = resize_batches(dataset, scaled_sizes(height, width, scales), seed)
    return dataset.prefetch(tf.data.AUTOTUNE)
