"""Curriculum temperature KD (keras_kd.losses.ctkd, li2023 as the authors' code) against numpy and through fit."""

import math

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.ctkd import CTKD, cosine_lambda, scale_gradient
from tests.helpers import CLASSES, TrainableFeatures, resnet8_distiller, to_np


def np_cosine_decay(epoch, max_value=0.0, min_value=-1.0, loops=10):
    """The code's CosineDecay.get_value."""
    epoch = min(max(epoch, 0), loops)
    return (math.cos(epoch * math.pi / loops) + 1.0) * 0.5 * (max_value - min_value) + min_value


def np_kd(teacher, student, temperature):
    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    log_p, log_q = log_softmax(teacher / temperature), log_softmax(student / temperature)
    return temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(axis=1)


# CosineDecay(0, -1, 10).get_value(e) by hand: (cos(e pi / 10) + 1) / 2 - 1; cos(pi / 10) = 0.9510565.
@pytest.mark.parametrize("epoch, value", [(0, 0.0), (1, -0.0244717), (5, -0.5), (10, -1.0), (12, -1.0)])
def test_the_curriculum_is_the_codes_cosine_decay(epoch, value):
    assert float(to_np(cosine_lambda(epoch))) == pytest.approx(value, abs=1e-6)


def test_the_epoch_turns_after_steps_per_epoch_steps():
    term = CTKD(steps_per_epoch=4)
    for steps, epoch in ((0, 1), (3, 1), (4, 2), (9, 3)):
        term.steps.assign(steps)
        assert float(to_np(term.gradient_lambda())) == pytest.approx(np_cosine_decay(epoch), abs=1e-6), steps


def test_a_saved_distiller_resumes_the_temperature_and_the_curriculum(rng, tmp_path):
    distiller, x, y = resnet8_distiller(rng, CTKD(steps_per_epoch=2), examples=8)
    distiller.fit(x, y, batch_size=4, epochs=2, verbose=0)
    distiller.save(tmp_path / "ctkd.keras")
    restored = keras.saving.load_model(tmp_path / "ctkd.keras", safe_mode=True).terms[0]
    assert int(to_np(restored.steps)) == 4 and restored.steps_per_epoch == 2
    assert float(to_np(restored.global_t)) == float(to_np(distiller.terms[0].global_t)) != 1.0


def test_scaled_gradient_is_the_identity_forward_and_scales_backward():
    """Forward: x. Backward: one SGD step (rate 1) on sum(scale_gradient(x, -0.5)) moves x by +0.5."""
    x = np.array([0.3, -2.0], "float32")
    np.testing.assert_allclose(to_np(scale_gradient(x, -0.5)), x, atol=1e-7)
    moved, _ = TrainableFeatures(lambda s, t: keras.ops.sum(scale_gradient(s, -0.5)), x, x).step()
    np.testing.assert_allclose(moved, x + 0.5, atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 25.0])
def test_the_term_equals_numpy_at_the_initial_temperature(rng, scale):
    teacher, student = (rng.standard_normal((4, CLASSES)) * scale for _ in range(2))
    term = CTKD(steps_per_epoch=5)
    temperature = 1.0 + 20.0 / (1.0 + math.exp(-1.0))  # global_T starts at 1
    got = to_np(term.per_example((student.astype("float32"), {}), (teacher.astype("float32"), {}), None))
    # float32: at T = 15.6 the KL is a small difference of logs, scaled by T^2 = 244
    np.testing.assert_allclose(got, 0.9 * np_kd(teacher, student, temperature), rtol=1e-3)
    assert term.student_loss_weight() == pytest.approx(0.1)


def test_the_temperature_climbs_the_kd_loss_after_the_first_epoch(rng):
    """lambda < 0 from epoch 1 on: g moves along +dL/dg (gradient ascent) while the student descends; at epoch 1
    lambda = cos-decay(1) = -0.0245, and the step of g equals lr * (-lambda) * dL/dg, dL/dg by central differences
    in numpy."""
    distiller, x, y = resnet8_distiller(rng, CTKD(steps_per_epoch=100), learning_rate=1.0, student_loss_weight=0.0)
    t_logits = to_np(distiller.teacher(x, training=False)).astype("float64")
    s_logits = to_np(distiller.student(x, training=True)).astype("float64")
    term = distiller.terms[0]

    def loss_at(g):
        return np.mean(0.9 * np_kd(t_logits, s_logits, 1.0 + 20.0 / (1.0 + math.exp(-g))))

    slope = (loss_at(1.0 + 1e-4) - loss_at(1.0 - 1e-4)) / 2e-4
    distiller.fit(x, y, batch_size=4, epochs=1, verbose=0)
    step = float(to_np(term.global_t)) - 1.0
    assert step == pytest.approx(-np_cosine_decay(1) * slope, rel=2e-2)
    assert int(to_np(term.steps)) == 1


def test_get_config_round_trips_and_bad_arguments_name_the_value():
    term = CTKD(alpha=0.5, t_end=10.0, decay_loops=5, steps_per_epoch=7)
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is CTKD and restored.get_config() == term.get_config()
    for make, message in ((lambda: CTKD(), "steps_per_epoch=None"), (lambda: CTKD(alpha=2.0, steps_per_epoch=1),
                                                                    "alpha=2.0"),
                          (lambda: CTKD(t_start=0.0, steps_per_epoch=1), "t_start=0.0")):
        with pytest.raises(ValueError, match=__import__("re").escape(message)):
            make()
