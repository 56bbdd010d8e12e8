"""Relational knowledge distillation (keras_kd.losses.rkd, park2019) against numpy, and as a Distiller term."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.rkd import RKD, rkd_angle_loss, rkd_distance_loss, rkd_loss
from keras_kd.losses.term import Step
from tests.helpers import CLASSES, to_np


def np_smooth_l1(a, b):
    z = np.abs(a - b)
    return np.mean(np.where(z < 1.0, 0.5 * z**2, z - 0.5))


def np_rkd_parts(student, teacher):
    """Unweighted (distance, angle) parts from direct differences, in float64."""
    def distances(e):
        d = np.linalg.norm(e[None, :, :] - e[:, None, :], axis=-1)
        return d / d[~np.eye(len(e), dtype=bool)].mean()

    def angles(e):
        diff = e[None, :, :] - e[:, None, :]  # [i, j] = e_j - e_i
        norm = np.linalg.norm(diff, axis=-1, keepdims=True)
        unit = np.divide(diff, norm, out=np.zeros_like(diff), where=norm > 0)
        return np.einsum("ijd,ikd->ijk", unit, unit)

    s, t = (x.reshape(len(x), -1).astype("float64") for x in (student, teacher))
    return np_smooth_l1(distances(s), distances(t)), np_smooth_l1(angles(s), angles(t))


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_rkd_parts_loss_and_term_equal_numpy(rng, scale):
    student = (rng.standard_normal((6, 2, 2, 3)) * scale).astype("float32")  # flattened to (6, 12)
    teacher = (rng.standard_normal((6, 5)) * scale).astype("float32")
    distance, angle = np_rkd_parts(student, teacher)
    np.testing.assert_allclose(float(to_np(rkd_distance_loss(student, teacher))), distance, rtol=1e-4)
    np.testing.assert_allclose(float(to_np(rkd_angle_loss(student, teacher))), angle, rtol=1e-4)
    np.testing.assert_allclose(float(to_np(rkd_loss(student, teacher))), 25 * distance + 50 * angle, rtol=1e-4)
    logits = np.zeros((6, CLASSES), "float32")
    step = Step(None, None, (logits, {"f": student}), (logits, {"f": teacher}))
    parts = RKD(distance_weight=2.0, angle_weight=3.0, tap="f").parts(step)
    np.testing.assert_allclose(to_np(parts["distance"]), np.full(6, 2.0 * distance), rtol=1e-4)
    np.testing.assert_allclose(to_np(parts["angle"]), np.full(6, 3.0 * angle), rtol=1e-4)


def test_a_batch_of_one_example_has_no_relations_and_a_zero_loss(rng):
    student, teacher = rng.standard_normal((1, 4)), rng.standard_normal((1, 7))
    assert float(to_np(rkd_loss(student, teacher))) == 0.0


def test_a_functional_models_layer_is_the_tap(rng):
    def network(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((6,))
        features = keras.layers.Dense(4, activation="relu", name="features")(inputs)
        return keras.Model(inputs, keras.layers.Dense(CLASSES)(features))

    distiller = kd.Distiller(student=network(0), teacher=network(1), losses=[RKD(tap="features")])
    distiller.compile(optimizer="sgd")
    logs = distiller.train_on_batch(rng.standard_normal((8, 6)).astype("float32"), rng.integers(0, CLASSES, 8),
                                    return_dict=True)
    assert logs["rkd_distance"] > 0 and logs["rkd_angle"] > 0


def test_get_config_round_trips_and_the_name_finds_the_class():
    term = RKD(distance_weight=1.5, angle_weight=0.0, tap="stage3", name="rkd_stage3")
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is RKD and restored.get_config() == term.get_config()
    assert restored.logged_names() == ["rkd_stage3_distance", "rkd_stage3_angle"]
    default = kd.losses.get("rkd")
    assert (default.distance_weight, default.angle_weight, default.tap) == (25.0, 50.0, "embedding")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: RKD(distance_weight=-1.0), "distance_weight=-1.0"),
        (lambda: RKD(angle_weight="50"), "angle_weight='50'"),
        (lambda: RKD(tap=None), "tap=None"),
        (lambda: rkd_loss(np.ones((4, 3)), np.ones((4, 3)), angle_weight=-2), "angle_weight=-2"),
        (lambda: rkd_distance_loss(np.ones((4, 3)), np.ones((2, 3))), "student shape (4, 3), teacher shape (2, 3)"),
        (lambda: RKD(tap="stage9").connect(((None, CLASSES), {"stage9": (None, 4)}),
                                           ((None, CLASSES), {"embedding": (None, 4)})),
         "RKD reads the tap 'stage9', which the teacher lacks; the teacher has ['embedding']"),
    ],
)
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
