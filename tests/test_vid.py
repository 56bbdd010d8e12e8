"""Variational information distillation (keras_kd.losses.vid, ahn2019 as RepDistiller's code) against numpy."""

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.vid import VID, vid_nll
from tests.helpers import CLASSES, TrainableFeatures, resnet8_distiller, to_np


def np_vid(student_map, teacher_map, kernels, log_scale, eps=1e-5):
    """Per example: the regressor (1x1 convs, ReLU between) and the Gaussian NLL's mean, in float64."""
    x = student_map.astype("float64")
    for index, kernel in enumerate(kernels):
        x = (x if index == 0 else np.maximum(x, 0)) @ kernel[0, 0]
    variance = np.log1p(np.exp(log_scale.astype("float64"))) + eps
    nll = 0.5 * ((x - teacher_map) ** 2 / variance + np.log(variance))
    return nll.reshape(len(nll), -1).mean(axis=1)


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_the_term_equals_numpy_on_fixed_weights(rng, scale):
    student = (rng.standard_normal((3, 4, 4, 2)) * scale).astype("float32")
    teacher = (rng.standard_normal((3, 4, 4, 5)) * scale).astype("float32")
    logits = np.zeros((3, CLASSES), "float32")
    term = VID(weight=0.5, taps={"s": "t"})
    term.connect((logits.shape, {"s": student.shape}), (logits.shape, {"t": teacher.shape}))
    kernels = [rng.standard_normal(conv.kernel.shape).astype("float32") for conv in term.regressors["s"]]
    for conv, kernel in zip(term.regressors["s"], kernels):
        conv.kernel.assign(kernel)
    log_scale = rng.standard_normal(5).astype("float32")
    term.log_scales["s"].assign(log_scale)
    got = to_np(term.per_example((logits, {"s": student}), (logits, {"t": teacher}), None))
    np.testing.assert_allclose(got, 0.5 * np_vid(student, teacher, kernels, log_scale), rtol=1e-4)


def test_a_larger_map_is_average_pooled_to_the_smaller(rng):
    """Student 8 x 8 against teacher 4 x 4: the student's map 2 x 2-averaged first (RepDistiller's
    adaptive_avg_pool2d at an integer ratio); 6 x 6 against 4 x 4 is refused."""
    student = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    teacher = rng.standard_normal((2, 4, 4, 5)).astype("float32")
    logits = np.zeros((2, CLASSES), "float32")
    term = VID(taps={"s": "t"})
    term.connect((logits.shape, {"s": student.shape}), (logits.shape, {"t": teacher.shape}))
    kernels = [to_np(conv.kernel) for conv in term.regressors["s"]]
    pooled = student.reshape(2, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    got = to_np(term.per_example((logits, {"s": student}), (logits, {"t": teacher}), None))
    np.testing.assert_allclose(got, np_vid(pooled, teacher, kernels, to_np(term.log_scales["s"])), rtol=1e-4)
    with pytest.raises(ValueError, match="integer ratio"):
        VID(taps={"s": "t"}).connect((logits.shape, {"s": (None, 6, 6, 3)}), (logits.shape, {"t": teacher.shape}))


def test_the_variances_start_at_init_pred_var():
    """log_scale starts at softplus^-1(init_pred_var - eps): the variance softplus(log_scale) + eps = 5."""
    term = VID(taps={"s": "t"})
    term.connect(((None, CLASSES), {"s": (None, 4, 4, 2)}), ((None, CLASSES), {"t": (None, 4, 4, 3)}))
    variance = np.log1p(np.exp(to_np(term.log_scales["s"]).astype("float64"))) + 1e-5
    np.testing.assert_allclose(variance, np.full(3, 5.0), rtol=1e-6)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the target's, as it should be
def test_vid_nll_sends_no_gradient_to_the_target(rng):
    prediction, target = (rng.standard_normal((2, 2, 2, 3)).astype("float32") for _ in range(2))
    loss = lambda p, t: keras.ops.mean(vid_nll(p, t, np.zeros(3, "float32")))  # noqa: E731
    new_prediction, new_target = TrainableFeatures(loss, prediction, target).step()
    np.testing.assert_array_equal(new_target, target)
    assert not np.allclose(new_prediction, prediction)


def test_regressor_and_variances_train_with_the_student(rng):
    distiller, x, y = resnet8_distiller(rng, "vid")
    distiller.fit(x, y, epochs=1, batch_size=4, verbose=0)
    vid = distiller.terms[0]
    assert sorted(vid.regressors) == ["stage1", "stage2", "stage3"]
    before = {w.path: to_np(w) for w in vid.trainable_weights}
    distiller.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert all(not np.array_equal(to_np(w), before[w.path]) for w in vid.trainable_weights)


def test_get_config_round_trips_and_the_name_finds_the_class():
    term = VID(weight=2.0, init_pred_var=3.0, eps=1e-4, taps=["stage2"], name="vid2")
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is VID and restored.get_config() == term.get_config()
    default = kd.losses.get("vid")
    assert (default.weight, default.init_pred_var, default.eps, default.taps_arg) == (1.0, 5.0, 1e-5, None)


@pytest.mark.parametrize("make, message", [
    (lambda: VID(weight=-1.0), "weight=-1.0"),
    (lambda: VID(eps=0.0), "eps=0.0"),
    (lambda: VID(init_pred_var=0.0), "init_pred_var=0.0"),
])
def test_bad_arguments_name_the_value(make, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        make()
