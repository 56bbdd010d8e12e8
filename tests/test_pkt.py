"""Probabilistic knowledge transfer (keras_kd.losses.pkt, passalis2018) against numpy, and as a Distiller term."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.pkt import PKT, pkt_loss
from tests.helpers import CLASSES, TrainableFeatures, to_np


def np_pkt(student, teacher, eps=1e-7):
    """Row-normalized ``(cos + 1) / 2`` similarity distributions and their KL, averaged over B^2, in float64."""
    def distributions(x):
        x = x.reshape(len(x), -1).astype("float64")
        unit = x / (np.sqrt((x**2).sum(axis=1, keepdims=True)) + eps)
        kernel = (unit @ unit.T + 1.0) / 2.0
        return kernel / kernel.sum(axis=1, keepdims=True)

    p, q = distributions(student), distributions(teacher)
    return np.mean(q * np.log((q + eps) / (p + eps)))


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_pkt_loss_and_term_equal_numpy(rng, scale):
    student = (rng.standard_normal((6, 2, 2, 3)) * scale).astype("float32")  # flattened to (6, 12)
    teacher = (rng.standard_normal((6, 5)) * scale).astype("float32")
    want = np_pkt(student, teacher)
    np.testing.assert_allclose(float(to_np(pkt_loss(student, teacher))), want, rtol=1e-4, atol=1e-8)
    logits = np.zeros((6, CLASSES), "float32")
    per_example = PKT(weight=2.0, tap="f").per_example((logits, {"f": student}), (logits, {"f": teacher}), None)
    np.testing.assert_allclose(to_np(per_example), np.full(6, 2.0 * want), rtol=1e-4, atol=1e-8)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the teacher's, as it should be
def test_a_zero_row_has_finite_gradients_and_the_teacher_none(rng):
    student = rng.standard_normal((4, 3)).astype("float32")
    student[0] = 0.0
    teacher = rng.standard_normal((4, 5)).astype("float32")
    new_student, new_teacher = TrainableFeatures(pkt_loss, student, teacher).step()
    np.testing.assert_array_equal(new_teacher, teacher)
    assert np.isfinite(new_student).all()
    assert not np.allclose(new_student[1:], student[1:])


def test_get_config_round_trips_and_the_name_finds_the_class():
    term = PKT(weight=2.5, tap="stage2", name="pkt_stage2")
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is PKT and restored.get_config() == term.get_config()
    assert (restored.weight, restored.tap, restored.name) == (2.5, "stage2", "pkt_stage2")
    default = kd.losses.get("pkt")
    assert (type(default), default.weight, default.tap, default.name) == (PKT, 30000.0, "embedding", "pkt")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PKT(weight=-1.0), "weight=-1.0"),
        (lambda: PKT(weight="1"), "weight='1'"),
        (lambda: PKT(tap=3), "tap=3"),
        (lambda: PKT(tap=""), "tap=''"),
        (lambda: pkt_loss(np.ones((4, 3)), np.ones((4, 3)), eps=0.0), "eps=0.0"),
        (lambda: pkt_loss(np.ones((4, 3)), np.ones((5, 3))), "student shape (4, 3), teacher shape (5, 3)"),
        (lambda: pkt_loss(np.ones(4), np.ones((4, 3))), "student shape (4,)"),
    ],
)
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()


@pytest.mark.parametrize("side", ["student", "teacher"])
def test_a_missing_tap_is_named_with_the_side(side):
    shapes = {"student": ((None, CLASSES), {"embedding": (None, 8)}),
              "teacher": ((None, CLASSES), {"embedding": (None, 16)})}
    shapes[side] = ((None, CLASSES), {"stage1": (None, 8, 8, 4)})
    with pytest.raises(ValueError, match=re.escape(f"which the {side} lacks; the {side} has ['stage1']")):
        PKT().connect(shapes["student"], shapes["teacher"])
