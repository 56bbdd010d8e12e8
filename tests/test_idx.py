import os

import numpy as np
import pytest

from keras_kd.data import FASHION_MNIST_DIR, load_idx_split, read_idx
from tests.helpers import write_idx


@pytest.mark.parametrize("compress", [True, False])
def test_reads_split_written_in_idx_format(tmp_path, rng, compress):
    images = rng.integers(0, 256, (5, 4, 3))
    labels = rng.integers(0, 10, 5)
    suffix = ".gz" if compress else ""
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, compress)
    x, y = load_idx_split(tmp_path, "test")
    np.testing.assert_array_equal(x[..., 0], images)
    np.testing.assert_array_equal(y, labels)
    assert x.shape == (5, 4, 3, 1) and y.dtype == np.int64


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "bad"
    write_idx(path, np.zeros((4, 2)), compress=False)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="Truncated idx file"):
        read_idx(path)


def test_missing_directory_names_it_and_how_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_idx_split(tmp_path / "nowhere", "train")


def test_bad_split_names_the_value(tmp_path):
    with pytest.raises(ValueError, match="split='val'"):
        load_idx_split(tmp_path, "val")


@pytest.mark.skipif(
    not os.path.isdir(FASHION_MNIST_DIR),
    reason="Fashion-MNIST idx files absent (Debian package dataset-fashion-mnist)",
)
def test_real_fashion_mnist_when_installed():
    x, y = load_idx_split(FASHION_MNIST_DIR, "test")
    assert x.shape == (10000, 28, 28, 1)
    assert sorted(np.unique(y)) == list(range(10))
