"""Similarity-preserving KD (keras_kd.losses.sp, tung2019) against numpy, and as a Distiller term."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.sp import SP, sp_loss
from tests.helpers import CLASSES, to_np


def np_sp(student, teacher):
    """``sum((G_t - G_s)^2) / B^2`` of row-normalized Gram matrices of channels-first flattened maps, in float64."""
    def similarities(f):
        f = np.transpose(f, (0, 3, 1, 2)).reshape(len(f), -1).astype("float64")  # as torch's (B, C, H, W).view
        gram = f @ f.T
        return gram / np.maximum(np.linalg.norm(gram, axis=1, keepdims=True), 1e-12)

    return np.sum((similarities(teacher) - similarities(student)) ** 2) / len(student) ** 2


@pytest.fixture
def maps(rng):
    """Two student and two teacher maps of a batch of 6: channels and spatial sizes differ."""
    draw = lambda *shape: rng.standard_normal(shape).astype("float32")  # noqa: E731
    return [draw(6, 4, 4, 3), draw(6, 2, 2, 8)], [draw(6, 2, 2, 5), draw(6, 1, 1, 16)]


def tap_shapes(named_maps):
    return (None, CLASSES), {name: (None,) + m.shape[1:] for name, m in named_maps.items()}


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_sp_loss_equals_numpy(maps, scale):
    (student, _), (teacher, _) = maps
    want = np_sp(student * scale, teacher * scale)
    np.testing.assert_allclose(float(to_np(sp_loss(student * scale, teacher * scale))), want, rtol=1e-4)


def test_the_term_sums_its_tap_pairs_times_the_weight(maps):
    student, teacher = maps
    s_taps, t_taps = {"a": student[0], "b": student[1]}, {"c": teacher[0], "d": teacher[1]}
    term = SP(weight=2.0, taps={"a": "c", "b": "d"})
    term.connect(tap_shapes(s_taps), tap_shapes(t_taps))
    logits = np.zeros((6, CLASSES), "float32")
    got = term.per_example((logits, s_taps), (logits, t_taps), None)
    want = 2.0 * (np_sp(student[0], teacher[0]) + np_sp(student[1], teacher[1]))
    np.testing.assert_allclose(to_np(got), np.full(6, want), rtol=1e-4)


def test_default_taps_are_the_last_stage_both_networks_have():
    def shapes(names):
        return (None, CLASSES), {**{name: (None, 2, 2, 4) for name in names}, "embedding": (None, 4)}

    term = SP()
    term.connect(shapes(["stage2", "stage9", "stage10"]), shapes(["stage2", "stage9", "stage10", "stage11"]))
    assert term.pairs == [("stage10", "stage10")] and term.taps == (("stage10", "stage10"),)
    with pytest.raises(ValueError, match=re.escape("common 4-D taps are ['block']")):
        SP().connect(((None, CLASSES), {"block": (None, 2, 2, 4)}), ((None, CLASSES), {"block": (None, 4, 4, 4)}))


def test_get_config_round_trips_and_the_name_finds_the_class():
    term = SP(weight=10.0, taps={"stage1": "stage2"}, name="sp_cross")
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is SP and restored.get_config() == term.get_config()
    assert (restored.weight, restored.taps_arg, restored.name) == (10.0, {"stage1": "stage2"}, "sp_cross")
    assert (kd.losses.get("sp").weight, kd.losses.get("sp").taps_arg) == (3000.0, None)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SP(weight=-3.0), "weight=-3.0"),
        (lambda: SP(taps=["embedding"]).connect(((None, CLASSES), {"embedding": (None, 4)}),
                                                ((None, CLASSES), {"embedding": (None, 8)})),
         "student tap 'embedding' has shape (None, 4)"),
        (lambda: SP(taps=["stage5"]).connect(((None, CLASSES), {"stage1": (None, 2, 2, 4)}),
                                             ((None, CLASSES), {"stage1": (None, 2, 2, 4)})),
         "Unknown student tap 'stage5'"),
        (lambda: sp_loss(np.ones((4, 2, 2, 3)), np.ones((3, 2, 2, 3))), "student shape (4, 2, 2, 3), teacher shape"),
    ],
)
def test_bad_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        make()
