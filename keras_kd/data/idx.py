"""Reading MNIST-format idx files (Fashion-MNIST, MNIST), plain or gzipped.

Debian's ``dataset-fashion-mnist`` package installs them under
``/usr/share/datasets/fashion-mnist/`` (``FASHION_MNIST_DIR``; MIT licence).
"""

import gzip
import os

import numpy as np

from keras_kd.validation import check_choice

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_SPLITS = {"train": "train", "test": "t10k"}


def read_idx(path):
    """The array stored in one idx file (``.gz`` read transparently).

    Args:
        path: the idx file (``.gz`` or not).
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] or data[1] or data[2] not in _DTYPES:
        raise ValueError(f"Not an idx file: path={str(path)!r}")
    rank = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    array = np.frombuffer(data, dtype=_DTYPES[data[2]], offset=4 + 4 * rank)
    if array.size != int(np.prod(shape)):
        raise ValueError(
            f"Truncated idx file: path={str(path)!r} holds {array.size} values, "
            f"its header says {shape}"
        )
    return array.reshape(shape)


def _find(directory, stem):
    for name in (f"{stem}.gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(
        f"No {stem}[.gz] in directory={directory!r}. Fashion-MNIST: "
        "`apt-get install dataset-fashion-mnist` (Debian) installs it in "
        f"{FASHION_MNIST_DIR}."
    )


def load_idx_split(directory, split):
    """``(images, labels)`` of ``split`` ("train" or "test") from an idx directory.

    Images are uint8 (n, height, width, 1); labels int64 (n,).

    Args:
        directory: a directory holding the idx files (``train-images-idx3-ubyte`` ..., ``.gz`` or not).
        split: ``"train"`` or ``"test"``.
    """
    check_choice(split, "split", _SPLITS)
    prefix = _SPLITS[split]
    images = read_idx(_find(directory, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_find(directory, f"{prefix}-labels-idx1-ubyte"))
    if len(images) != len(labels):
        raise ValueError(
            f"{len(images)} images but {len(labels)} labels in directory={directory!r}"
        )
    return images[..., None], labels.astype("int64")
