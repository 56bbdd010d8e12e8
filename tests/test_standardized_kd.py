"""Logit-standardized KD (keras_kd.losses.standardized_kd, sun2024) against numpy."""

import re

import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from tests.helpers import CLASSES, np_kl


def np_standardize(z):
    z = z.astype("float64")
    return (z - z.mean(-1, keepdims=True)) / (1e-7 + z.std(-1, ddof=1, keepdims=True))


@pytest.fixture(params=[1.0, 30.0], ids=["ordinary", "large"])
def logits(rng, request):
    student = rng.standard_normal((8, CLASSES)) * request.param
    teacher = rng.standard_normal((8, CLASSES)) * request.param + 1.0
    return student.astype("float32"), teacher.astype("float32")


@pytest.mark.parametrize("temperature", [1.0, 2.0, 3.0])
def test_standardized_kd_equals_numpy(logits, temperature):
    student, teacher = logits
    want = temperature**2 * np_kl(np_standardize(teacher), np_standardize(student), temperature)
    got = kd.losses.standardized_kd_divergence(student, teacher, temperature)
    np.testing.assert_allclose(ops.convert_to_numpy(got), want, rtol=1e-4, atol=1e-5)
    loss = kd.losses.standardized_kd_loss(student, teacher, temperature)
    np.testing.assert_allclose(float(ops.convert_to_numpy(loss)), want.mean(), rtol=1e-4, atol=1e-5)


def test_only_the_logits_relations_matter(logits):
    student, teacher = logits
    shifted = 5.0 * teacher - 2.0  # same Z-scores
    np.testing.assert_allclose(ops.convert_to_numpy(kd.losses.standardized_kd_loss(student, shifted)),
                               ops.convert_to_numpy(kd.losses.standardized_kd_loss(student, teacher)), rtol=1e-4)


def test_term_defaults_are_the_authors_cifar_command(logits):
    term = kd.losses.get("standardized_kd")
    assert (term.temperature, term.weight, term.student_loss_weight()) == (2.0, 9.0, 0.1)
    student, teacher = logits
    want = 9.0 * 4.0 * np_kl(np_standardize(teacher), np_standardize(student), 2.0)
    got = term.parts(kd.losses.Step(None, None, (student, {}), (teacher, {})))["loss"]
    np.testing.assert_allclose(ops.convert_to_numpy(got), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kwargs, message", [({"weight": -1.0}, "weight=-1.0"), ({"ce_weight": -2}, "ce_weight=-2"),
                                             ({"temperature": -1.0}, "temperature=-1.0")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.losses.StandardizedKD(**kwargs)
