import keras
import numpy as np
import pytest
from keras import ops

from keras_kd.losses import kd_divergence, kd_loss, softmax_l2


def numpy_kd(teacher, student, temperature):
    """Independent float64 computation of T^2 * KL(p_t || p_s), batch mean."""

    def softmax(z):
        z = z / temperature
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    p, q = softmax(teacher.astype("float64")), softmax(student.astype("float64"))
    return temperature**2 * np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=-1))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_kd_loss_equals_numpy(rng, temperature):
    teacher = rng.standard_normal((8, 100)).astype("float32") * 5
    student = rng.standard_normal((8, 100)).astype("float32") * 5
    got = float(ops.convert_to_numpy(kd_loss(teacher, student, temperature)))
    np.testing.assert_allclose(got, numpy_kd(teacher, student, temperature), rtol=1e-5)


def test_kd_divergence_is_zero_for_equal_logits_and_per_example(rng):
    logits = rng.standard_normal((4, 10)).astype("float32")
    per_example = ops.convert_to_numpy(kd_divergence(logits, logits, 3.0))
    assert per_example.shape == (4,)
    np.testing.assert_allclose(per_example, 0.0, atol=1e-6)


def test_extreme_logits_stay_finite():
    teacher = np.array([[1e4, -1e4, 0.0]], "float32")
    student = np.array([[-1e4, 1e4, 0.0]], "float32")
    assert np.isfinite(float(ops.convert_to_numpy(kd_loss(teacher, student, 1.0))))


def test_half_precision_logits_are_computed_in_float32(rng):
    teacher = rng.standard_normal((8, 10)).astype("float16")
    student = rng.standard_normal((8, 10)).astype("float16")
    got = kd_loss(teacher, student, 4.0)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    np.testing.assert_allclose(
        float(ops.convert_to_numpy(got)), numpy_kd(teacher, student, 4.0), rtol=1e-4
    )


@pytest.mark.parametrize("temperature", [0, -1.0, "4", None, True])
def test_bad_temperature_names_the_value(temperature):
    with pytest.raises(ValueError, match="temperature="):
        kd_loss(np.zeros((1, 2)), np.zeros((1, 2)), temperature)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_softmax_l2_equals_numpy_in_float32(rng, dtype):
    """li2021 eq. 3's L2: sum over classes of squared softmax differences at t."""
    teacher = (rng.standard_normal((8, 10)) * 5).astype(dtype)
    student = (rng.standard_normal((8, 10)) * 5).astype(dtype)

    def softmax(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    want = np.sum((softmax(student.astype("float64") / 3.0) - softmax(teacher.astype("float64") / 3.0)) ** 2, -1)
    got = softmax_l2(teacher, student, 3.0)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    np.testing.assert_allclose(ops.convert_to_numpy(got), want, rtol=1e-4 if dtype == "float16" else 1e-5)
