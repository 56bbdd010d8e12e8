"""keras_kd.losses.norms: the values of torch's normalize and finite gradients at zero vectors."""

import numpy as np
from keras import ops

from keras_kd.losses.norms import l2_norm, l2_normalize
from tests.helpers import TrainableFeatures, to_np


def test_l2_normalize_keeps_a_zero_vector_zero_with_a_zero_gradient(rng):
    x = np.concatenate([np.zeros((1, 3)), rng.standard_normal((2, 3)), [[1e-13, 0.0, 0.0]]]).astype("float32")
    want = x / np.maximum(np.linalg.norm(x.astype("float64"), axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(to_np(l2_normalize(x)), want, rtol=1e-6)
    weights = rng.standard_normal((4, 3)).astype("float32")
    new_x, _ = TrainableFeatures(lambda s, t: ops.sum(l2_normalize(s) * t), x[:3], weights[:3]).step()
    np.testing.assert_array_equal(new_x[0], 0.0)
    assert np.isfinite(new_x).all() and not np.allclose(new_x[1:], x[1:3])


def test_l2_norm_is_floored_with_a_finite_gradient_at_zero(rng):
    x = np.concatenate([np.zeros((1, 3)), rng.standard_normal((2, 3))]).astype("float32")
    want = np.maximum(np.linalg.norm(x.astype("float64"), axis=0, keepdims=True), 1e-12)
    np.testing.assert_allclose(to_np(l2_norm(x, axis=0)), want, rtol=1e-6)
    np.testing.assert_allclose(to_np(l2_norm(np.zeros((2, 3), "float32"))), np.full((2, 1), 1e-12), rtol=1e-6)
    new_x, _ = TrainableFeatures(lambda s, t: ops.sum(l2_norm(s)), x, x).step()
    np.testing.assert_array_equal(new_x[0], 0.0)
    assert np.isfinite(new_x).all()
