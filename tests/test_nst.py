"""Neuron selectivity transfer (keras_kd.losses.nst, huang2017) against numpy."""

import re

import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from tests.helpers import TrainableFeatures


def np_nst(student, teacher):
    """Per-example MMD^2 with the kernel (a . b)^2 over L2-normalized channel patterns, float64."""
    def patterns(f):
        f = f.astype("float64").reshape(len(f), -1, f.shape[-1]).transpose(0, 2, 1)
        return f / np.maximum(np.linalg.norm(f, axis=-1, keepdims=True), 1e-12)

    def mean_kernel(a, b):
        return (np.einsum("bip,bjp->bij", a, b) ** 2).mean(axis=(1, 2))

    s, t = patterns(student), patterns(teacher)
    return mean_kernel(t, t) + mean_kernel(s, s) - 2 * mean_kernel(s, t)


@pytest.fixture(params=[1.0, 30.0], ids=["ordinary", "large"])
def maps(rng, request):
    student = rng.standard_normal((4, 5, 5, 3)) * request.param
    teacher = rng.standard_normal((4, 5, 5, 6)) * request.param  # channels may differ
    return student.astype("float32"), teacher.astype("float32")


def test_nst_equals_numpy(maps):
    student, teacher = maps
    want = np_nst(student, teacher)
    np.testing.assert_allclose(ops.convert_to_numpy(kd.losses.nst_per_example(student, teacher)), want,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(float(ops.convert_to_numpy(kd.losses.nst_loss(student, teacher))), want.mean(),
                               rtol=1e-4, atol=1e-6)


def test_a_map_against_itself_or_its_rescaling_costs_nothing(maps):
    student, _ = maps
    assert abs(float(ops.convert_to_numpy(kd.losses.nst_loss(student, 3.0 * student)))) < 1e-5


def test_term_sums_weighted_taps(maps):
    student, teacher = maps
    term = kd.losses.NST(weight=50.0)
    term.connect((None, {"stage1": student.shape, "stage2": student.shape}),
                 (None, {"stage1": teacher.shape, "stage2": teacher.shape}))
    step = kd.losses.Step(None, None, (None, {"stage1": student, "stage2": teacher[..., :3]}),
                          (None, {"stage1": teacher, "stage2": teacher}))
    want = 50.0 * (np_nst(student, teacher) + np_nst(teacher[..., :3], teacher))
    np.testing.assert_allclose(ops.convert_to_numpy(term.parts(step)["loss"]), want, rtol=1e-4, atol=1e-5)


def test_bad_weight_is_named():
    with pytest.raises(ValueError, match=re.escape("weight=-1.0")):
        kd.losses.NST(weight=-1.0)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the teacher's, as it should be
def test_a_dead_channel_has_finite_gradients(rng):
    student = rng.standard_normal((2, 4, 4, 3)).astype("float32")
    student[..., 1] = 0.0  # a dead ReLU channel
    teacher = rng.standard_normal((2, 4, 4, 5)).astype("float32")
    new_student, new_teacher = TrainableFeatures(kd.losses.nst_loss, student, teacher).step()
    np.testing.assert_array_equal(new_teacher, teacher)
    np.testing.assert_array_equal(new_student[..., 1], 0.0)
    assert np.isfinite(new_student).all() and not np.allclose(new_student[..., 0], student[..., 0])
