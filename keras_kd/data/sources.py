"""Reading a dataset source into in-memory uint8 arrays, split by split.

Sources (``read_source``):

* a tensorflow-datasets name (``"cifar10"``, ``"cifar100"``, ``"fashion_mnist"``,
  ``"mnist"``, any tfds image dataset with ``image`` and ``label``);
* an image-folder tree ``<root>/{train,test}/<class>/<image>`` or its
  ``.tar.gz`` / ``.tgz`` (e.g. CIFAR-10 as JPEGs); class folders sorted by
  name give the labels;
* a directory of MNIST-format idx files (Fashion-MNIST, MNIST);
* numpy arrays: ``(images, labels)`` (a train split) or
  ``{"train": (images, labels), "test": (images, labels)}``.

Returns ``{split: (images uint8 (n, h, w, c), labels int64 (n,))}``.
"""

import functools
import os
import tarfile

import numpy as np

from keras_kd.data.idx import load_idx_split

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
SPLITS = ("train", "test")


def _decode_images(encoded):
    """uint8 arrays of a list of encoded images (parallel tf.data decode)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(encoded).map(
        lambda data: tf.io.decode_image(data, channels=3, expand_animations=False),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    images = [image for image in dataset.batch(4096).as_numpy_iterator()]
    return np.concatenate(images).astype(np.uint8)


def _folder_entries(root):
    """``{split: [(class name, relative path)]}`` of an image-folder tree."""
    entries = {}
    for split in SPLITS:
        directory = os.path.join(root, split)
        if not os.path.isdir(directory):
            continue
        entries[split] = [
            (label, os.path.join(directory, label, name))
            for label in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, label))
            for name in sorted(os.listdir(os.path.join(directory, label)))
            if name.lower().endswith(IMAGE_SUFFIXES)
        ]
    return entries


def _read_folder(root):
    entries = _folder_entries(root)
    if not entries:
        raise ValueError(
            f"No train/ or test/ image folders under source={root!r} "
            "(expected <root>/{train,test}/<class>/<image>)"
        )
    classes = sorted({label for items in entries.values() for label, _ in items})
    result = {}
    for split, items in entries.items():
        encoded = [open(path, "rb").read() for _, path in items]
        labels = np.array([classes.index(label) for label, _ in items], np.int64)
        result[split] = (_decode_images(encoded), labels)
    return result


def _read_tar(path):
    encoded = {split: [] for split in SPLITS}
    names = {split: [] for split in SPLITS}
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or not member.name.lower().endswith(IMAGE_SUFFIXES):
                continue
            split_at = [i for i, part in enumerate(parts[:-2]) if part in SPLITS]
            if not split_at:
                continue
            split, label = parts[split_at[-1]], parts[split_at[-1] + 1]
            encoded[split].append(archive.extractfile(member).read())
            names[split].append((label, member.name))
    if not any(encoded.values()):
        raise ValueError(
            f"No <split>/<class>/<image> entries (split in {SPLITS}) in source={path!r}"
        )
    classes = sorted({label for items in names.values() for label, _ in items})
    result = {}
    for split in SPLITS:
        if encoded[split]:
            order = sorted(range(len(names[split])), key=lambda i: names[split][i][1])
            labels = np.array([classes.index(names[split][i][0]) for i in order], np.int64)
            result[split] = (_decode_images([encoded[split][i] for i in order]), labels)
    return result


def _read_idx_directory(directory):
    return {split: load_idx_split(directory, split) for split in SPLITS}


def _read_tfds(name, data_dir, download):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises its own DatasetNotFoundError
        raise ValueError(
            f"Unknown source={name!r}: not a local path and not a "
            f"tensorflow-datasets name ({type(error).__name__}: {error})"
        ) from None
    if not builder.is_prepared():
        if not download:
            raise ValueError(
                f"tensorflow-datasets has no prepared copy of source={name!r} in "
                f"data_dir={builder.data_dir!r}. Pass download=True (needs "
                "internet), or give a local folder, tar.gz or idx directory."
            )
        builder.download_and_prepare()
    result = {}
    for split in SPLITS:
        if split in builder.info.splits:
            data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
            result[split] = (data["image"].astype(np.uint8), data["label"].astype(np.int64))
    return result


def describe_value(value):
    """A short description of ``value`` for an error message: arrays by shape and dtype."""
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe_value(item) for item in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__}(shape={tuple(value.shape)}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def _as_arrays(images, labels, name):
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(
            f"{name} must be (images (n, h, w[, c]), labels (n,)). Received shapes "
            f"{images.shape} and {labels.shape}"
        )
    return images, labels.astype(np.int64)


@functools.lru_cache(maxsize=4)
def _read_path(path, mtime, data_dir, download):
    del mtime  # part of the cache key only
    if os.path.isdir(path):
        if any(name.endswith(("idx3-ubyte", "idx3-ubyte.gz")) for name in os.listdir(path)):
            return _read_idx_directory(path)
        return _read_folder(path)
    if os.path.isfile(path):
        return _read_tar(path)
    return _read_tfds(path, data_dir, download)


def read_source(source, data_dir=None, download=False):
    """``{split: (images, labels)}`` of ``source`` (see the module docstring)."""
    if isinstance(source, dict):
        return {split: _as_arrays(*pair, name=f"source[{split!r}]") for split, pair in source.items()}
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return {"train": _as_arrays(*source, name="source")}
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            "`source` must be a tfds name, a local path, (images, labels) or a "
            f"dict of splits. Received: source={describe_value(source)}"
        )
    path = os.fspath(source)
    looks_local = os.sep in path or path.startswith(".") or path.endswith((".gz", ".tgz", ".tar"))
    if looks_local and not os.path.exists(path):
        raise FileNotFoundError(f"No such file or directory: source={path!r}")
    mtime = os.path.getmtime(path) if os.path.exists(path) else None
    return _read_path(path, mtime, data_dir, download)
