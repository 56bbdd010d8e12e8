"""DIST (keras_kd.losses.dist, huang2022) against numpy, and as a Distiller term."""

import re

import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from tests.helpers import CLASSES, TrainableFeatures, softmax


def np_pearson(a, b):
    """Row-wise Pearson correlation with the code's 1e-8 in the denominator, float64."""
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-8)


def np_dist(student, teacher, beta, gamma, temperature):
    p_s = softmax(student.astype("float64") / temperature)
    p_t = softmax(teacher.astype("float64") / temperature)
    inter = temperature**2 * (1 - np_pearson(p_s, p_t))
    intra = temperature**2 * (1 - np_pearson(p_s.T, p_t.T))
    return inter, intra, beta * inter.mean() + gamma * intra.mean()


@pytest.fixture(params=[1.0, 30.0], ids=["ordinary", "large"])
def logits(rng, request):
    student = rng.standard_normal((8, CLASSES)) * request.param
    teacher = rng.standard_normal((8, CLASSES)) * request.param
    return student.astype("float32"), teacher.astype("float32")


@pytest.mark.parametrize("beta, gamma, temperature", [(1.0, 1.0, 1.0), (2.0, 0.5, 4.0)])
def test_dist_loss_and_relations_equal_numpy(logits, beta, gamma, temperature):
    student, teacher = logits
    inter, intra, loss = np_dist(student, teacher, beta, gamma, temperature)
    got_inter, got_intra = kd.losses.dist_relations(student, teacher, temperature)
    np.testing.assert_allclose(ops.convert_to_numpy(got_inter), inter, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(got_intra), intra, rtol=1e-4, atol=1e-5)
    got = kd.losses.dist_loss(student, teacher, beta=beta, gamma=gamma, temperature=temperature)
    np.testing.assert_allclose(float(ops.convert_to_numpy(got)), loss, rtol=1e-4, atol=1e-5)


def test_term_parts_average_to_the_loss_and_train(rng, logits):
    student, teacher = logits
    inter, intra, _ = np_dist(student, teacher, 2.0, 3.0, 1.0)
    parts = kd.losses.DIST(beta=2.0, gamma=3.0).parts(kd.losses.Step(None, None, (student, {}), (teacher, {})))
    np.testing.assert_allclose(ops.convert_to_numpy(parts["inter"]), 2.0 * inter, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(parts["intra"]), np.full(8, 3.0 * intra.mean()), rtol=1e-4,
                               atol=1e-5)
    assert kd.losses.get("dist").logged_names() == ["dist_inter", "dist_intra"]


@pytest.mark.parametrize("kwargs, message", [({"beta": -1.0}, "beta=-1.0"), ({"gamma": "x"}, "gamma='x'"),
                                             ({"temperature": 0.0}, "temperature=0.0")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.losses.DIST(**kwargs)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the teacher's, as it should be
def test_a_one_example_batch_has_finite_gradients(rng):
    """The intra-class part of one example correlates constant vectors: its value is the
    code's (T^2: a zero correlation), its gradient finite (the code's is NaN on JAX and torch)."""
    student, teacher = (rng.standard_normal((1, CLASSES)).astype("float32") for _ in range(2))
    inter, intra = kd.losses.dist_relations(student, teacher, temperature=2.0)
    np.testing.assert_allclose(ops.convert_to_numpy(intra), np.full(CLASSES, 4.0), rtol=1e-6)
    want_inter, _, _ = np_dist(student, teacher, 1.0, 1.0, 2.0)
    np.testing.assert_allclose(ops.convert_to_numpy(inter), want_inter, rtol=1e-4)
    new_student, new_teacher = TrainableFeatures(kd.losses.dist_loss, student, teacher).step()
    np.testing.assert_array_equal(new_teacher, teacher)
    assert np.isfinite(new_student).all() and not np.allclose(new_student, student)
