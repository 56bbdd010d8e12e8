"""Reading a dataset source into in-memory uint8 arrays, split by split.

Sources (``read_source``):

* a tensorflow-datasets name (``"cifar10"``, ``"cifar100"``, ``"fashion_mnist"``,
  ``"mnist"``, ``"imagenette"``, any tfds image dataset with ``image`` and ``label``; one without a
  ``test`` split gives its ``validation`` split as ``"test"``);
* an image-folder tree ``<root>/{train,test}/<class>/<image>`` (``val/`` for
  ``test/``, as ImageNet's) or its ``.tar.gz`` / ``.tgz`` (e.g. CIFAR-10 as
  JPEGs); class folders sorted by name give the labels;
* Tiny-ImageNet as distributed (``tiny-imagenet-200/``: ``wnids.txt``,
  ``train/<wnid>/images/<image>``, ``val/images/<image>`` labelled by
  ``val/val_annotations.txt``): its labelled ``val`` images are the
  ``"test"`` split (its ``test`` images have no labels); sorted wnids give
  the labels, as an image-folder reader of its reorganized copy would;
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


# Folders (and tar path parts) of each split; ImageNet's and Tiny-ImageNet's labelled "val" images are the
# test split (their "test" images have no labels).
SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}


def _labelled(entries):
    """``{split: (items, labels)}`` of ``{split: [(class name, item)]}``, class names sorted to labels."""
    classes = sorted({name for items in entries.values() for name, _ in items})
    index = {name: label for label, name in enumerate(classes)}
    return {split: ([item for _, item in items], np.array([index[name] for name, _ in items], np.int64))
            for split, items in entries.items()}


def _image_names(directory):
    return [name for name in sorted(os.listdir(directory)) if name.lower().endswith(IMAGE_SUFFIXES)]


def _folder_examples(root):
    entries = {}
    for split, folders in SPLIT_FOLDERS.items():
        directory = next((os.path.join(root, f) for f in folders if os.path.isdir(os.path.join(root, f))), None)
        if directory is None:
            continue
        entries[split] = [
            (label, os.path.join(directory, label, name))
            for label in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, label))
            for name in _image_names(os.path.join(directory, label))
        ]
    if not entries:
        raise ValueError(
            f"No train/, test/ or val/ image folders under source={root!r} "
            "(expected <root>/{train,test or val}/<class>/<image>)"
        )
    return _labelled(entries)


TINY_IMAGENET_MARKERS = ("wnids.txt", os.path.join("val", "val_annotations.txt"))


def _is_tiny_imagenet(root):
    return all(os.path.isfile(os.path.join(root, marker)) for marker in TINY_IMAGENET_MARKERS)


def _tiny_imagenet_examples(root):
    with open(os.path.join(root, "wnids.txt")) as listing:
        classes = sorted(line.strip() for line in listing if line.strip())
    train = [(wnid, os.path.join(root, "train", wnid, "images", name))
             for wnid in classes for name in _image_names(os.path.join(root, "train", wnid, "images"))]
    with open(os.path.join(root, "val", "val_annotations.txt")) as annotations:
        rows = sorted(line.split("\t")[:2] for line in annotations if line.strip())
    unknown = sorted({wnid for _, wnid in rows} - set(classes))
    if unknown:
        raise ValueError(f"val_annotations.txt names classes missing from wnids.txt: {unknown[:5]}. "
                         f"Received: source={root!r}")
    test = [(wnid, os.path.join(root, "val", "images", name)) for name, wnid in rows]
    return _labelled({"train": train, "test": test})


def _tar_examples(path):
    entries = {split: [] for split in SPLIT_FOLDERS}
    folder_split = {folder: split for split, folders in SPLIT_FOLDERS.items() for folder in folders}
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or not member.name.lower().endswith(IMAGE_SUFFIXES):
                continue
            split_at = [i for i, part in enumerate(parts[:-2]) if part in folder_split]
            if not split_at:
                continue
            split, label = folder_split[parts[split_at[-1]]], parts[split_at[-1] + 1]
            entries[split].append((member.name, label, archive.extractfile(member).read()))
    if not any(entries.values()):
        raise ValueError(
            f"No <split>/<class>/<image> entries (split in train, test, val) in source={path!r}"
        )
    return _labelled({split: [(label, data) for _, label, data in sorted(items)]
                      for split, items in entries.items() if items})


def _encoded(items):
    return [open(item, "rb").read() if isinstance(item, str) else item for item in items]


def _read_idx_directory(directory):
    return {split: load_idx_split(directory, split) for split in SPLITS}


def _tfds_builder(name, data_dir, download):
    """The prepared tensorflow-datasets builder of ``name`` (``download=True`` prepares a missing one)."""
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
    return builder


def _tfds_splits(builder):
    """``{split: tfds split}``: ``train`` and ``test``; a dataset without ``test`` (Imagenette, ImageNet)
    gives its labelled ``validation`` split as ``test``, as image folders' ``val/``."""
    splits = builder.info.splits
    named = {"train": "train", "test": "test" if "test" in splits else "validation"}
    return {split: name for split, name in named.items() if name in splits}


def _read_tfds(name, data_dir, download):
    import tensorflow_datasets as tfds

    builder = _tfds_builder(name, data_dir, download)
    result = {}
    for split, tfds_split in _tfds_splits(builder).items():
        data = tfds.as_numpy(builder.as_dataset(split=tfds_split, batch_size=-1))
        result[split] = (data["image"].astype(np.uint8), data["label"].astype(np.int64))
    return result


def _tfds_examples(name, data_dir, download):
    """``{split: (encoded images, labels)}`` of a tfds dataset, its images left encoded as stored."""
    import tensorflow_datasets as tfds

    builder = _tfds_builder(name, data_dir, download)
    result = {}
    for split, tfds_split in _tfds_splits(builder).items():
        dataset = builder.as_dataset(split=tfds_split, batch_size=1024, decoders={"image": tfds.decode.SkipDecoding()})
        batches = list(tfds.as_numpy(dataset))
        result[split] = ([item for batch in batches for item in batch["image"]],
                         np.concatenate([batch["label"] for batch in batches] or [[]]).astype(np.int64))
    return result


def tfds_split_sizes(name, data_dir=None, download=False):
    """``{split: examples}`` of a tfds dataset from its metadata (``"test"``: its test or validation split)."""
    builder = _tfds_builder(name, data_dir, download)
    return {split: builder.info.splits[tfds_split].num_examples for split, tfds_split in _tfds_splits(builder).items()}


def local_or_name(source):
    """``(path, mtime)`` of the local source ``source``, ``(name, None)`` of a tfds name; a path that looks
    local (a separator, a leading ".", an archive suffix) but does not exist raises ``FileNotFoundError``."""
    path = os.fspath(source)
    looks_local = os.sep in path or path.startswith(".") or path.endswith((".gz", ".tgz", ".tar"))
    if looks_local and not os.path.exists(path):
        raise FileNotFoundError(f"No such file or directory: source={path!r}")
    return path, (_modified(path) if os.path.exists(path) else None)


def _modified(path):
    """The cache key of a local source's listing: the latest modification time of ``path`` and, for a folder,
    of the folders one and two levels down (splits, classes), where adding or removing images shows; for
    Tiny-ImageNet also its ``train/<wnid>/images`` folders and its label files."""
    if not os.path.isdir(path):
        return os.path.getmtime(path)
    folders = [path]
    for split in (entry.path for entry in os.scandir(path) if entry.is_dir()):
        folders += [split] + [entry.path for entry in os.scandir(split) if entry.is_dir()]
    if _is_tiny_imagenet(path):
        train = os.path.join(path, "train")
        folders += [os.path.join(train, wnid, "images") for wnid in os.listdir(train)]
        folders += [os.path.join(path, marker) for marker in TINY_IMAGENET_MARKERS]
    return max(os.path.getmtime(folder) for folder in folders if os.path.exists(folder))


def list_examples(source, data_dir=None, download=False):
    """``{split: (items, labels)}`` of an image source without decoding it: each item an image file's path
    (folder trees, Tiny-ImageNet's layout) or its encoded bytes (tar archives, tfds names); labels int64,
    read-only. Listed once per source (a changed local source is listed again).

    Args:
        source: a local folder tree, tar archive, Tiny-ImageNet directory or tfds name (not an idx
            directory, whose files hold raw pixels).
        data_dir: tensorflow-datasets location (as in ``load``).
        download: ``True`` fetches a missing tfds dataset (as in ``load``).
    """
    if is_idx_directory(source):
        raise ValueError(f"An idx directory holds raw pixels, not image files to list. Received: source={source!r}")
    return dict(_cached_examples(*local_or_name(source), data_dir, download))


@functools.lru_cache(maxsize=4)
def _cached_examples(path, mtime, data_dir, download):
    del mtime  # part of the cache key only
    examples = _examples(path, data_dir, download)
    for _, labels in examples.values():
        labels.setflags(write=False)
    return {split: (tuple(items), labels) for split, (items, labels) in examples.items()}


def _examples(path, data_dir, download):
    """``{split: (items, labels)}`` of a folder tree, Tiny-ImageNet directory, tar archive or tfds name."""
    if os.path.isdir(path):
        return _tiny_imagenet_examples(path) if _is_tiny_imagenet(path) else _folder_examples(path)
    if os.path.exists(path):
        return _tar_examples(path)
    return _tfds_examples(path, data_dir, download)


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


def is_idx_directory(path):
    """Whether ``path`` is a directory of MNIST-format idx files."""
    return os.path.isdir(path) and any(name.endswith(("idx3-ubyte", "idx3-ubyte.gz")) for name in os.listdir(path))


@functools.lru_cache(maxsize=4)
def _read_path(path, mtime, data_dir, download):
    if is_idx_directory(path):
        return _read_idx_directory(path)
    if os.path.exists(path):
        return {split: (_decode_images(_encoded(items)), labels)
                for split, (items, labels) in _examples(path, None, False).items()}
    return _read_tfds(path, data_dir, download)


def read_source(source, data_dir=None, download=False):
    """``{split: (images, labels)}`` of ``source`` (see the module docstring).

    Args:
        source: a tfds name, a local path, ``(images, labels)`` arrays or a dict ``{split: (images,
            labels)}``.
        data_dir: tensorflow-datasets location (as in ``load``).
        download: ``True`` fetches a missing tfds dataset (as in ``load``).
    """
    if isinstance(source, dict):
        return {split: _as_arrays(*pair, name=f"source[{split!r}]") for split, pair in source.items()}
    if isinstance(source, (tuple, list)) and len(source) == 2:
        return {"train": _as_arrays(*source, name="source")}
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            "`source` must be a tfds name, a local path, (images, labels) or a "
            f"dict of splits. Received: source={describe_value(source)}"
        )
    return _read_path(*local_or_name(source), data_dir, download)
