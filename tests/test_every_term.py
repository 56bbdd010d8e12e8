"""Every registered distillation term trains a zoo student through ``fit`` (issue 21)."""

import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import CLASSES, SHAPE, image_batch

# terms that cannot be built without an argument (CRD: the labels of image_batch's 16 examples, by index)
ARGUMENTS = {"dkd": {"steps_per_epoch": 2}, "ctkd": {"steps_per_epoch": 2}, "reviewkd": {"steps_per_epoch": 2},
             "crd": {"labels": np.arange(16) % CLASSES, "num_negatives": 4}}


# FSP pairs maps of equal channels in both networks
WIDTHS = {"fsp": ((8, 16), (8, 16))}
STAGED = [name for name in kd.losses.names() if kd.losses.registry.TERMS[name].init_part_names]


def networks(name):
    """A student and a teacher for the term ``name``."""
    student_widths, teacher_widths = WIDTHS.get(name, ((4, 8), (8, 16)))
    return narrow_net(student_widths, 0, "student"), narrow_net(teacher_widths, 1, "teacher")


def fit_inputs(term, x):
    """``x``, with each example's index when the term reads it."""
    return (x, np.arange(len(x))) if term.needs_index else x


def narrow_net(widths, seed, name):
    keras.utils.set_random_seed(seed)
    return kd.models.ResidualNetwork(stage_widths=widths, stage_sizes=(1, 1), num_classes=CLASSES,
                                     stem_filters=widths[0], input_shape=SHAPE, name=name)


@pytest.mark.parametrize("name", kd.losses.names())
def test_term_trains_under_mixed_float16(rng, name):
    """float16 networks, float32 loss math: every term gives a finite loss and finite weights."""
    keras.config.set_dtype_policy("mixed_float16")
    try:
        student, teacher = networks(name)
        term = kd.losses.get(name, **ARGUMENTS.get(name, {}))
        distiller = kd.Distiller(student=student, teacher=teacher, losses=[term])
        distiller.compile(optimizer=keras.optimizers.SGD(0.01))
        x, y = image_batch(rng)
        history = distiller.fit(fit_inputs(term, x), y, batch_size=8, epochs=1, verbose=0).history
        assert np.isfinite(history["loss"]).all(), history
        assert all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in distiller.trainable_weights)
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize("name", kd.losses.names())
def test_term_trains_a_student_through_fit(rng, name):
    student, teacher = networks(name)
    term = kd.losses.get(name, **ARGUMENTS.get(name, {}))
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[term])
    distiller.compile(optimizer=keras.optimizers.SGD(0.01))
    before = [w.copy() for w in student.get_weights()]
    teacher_before = [w.copy() for w in teacher.get_weights()]
    x, y = image_batch(rng)
    x[1] = x[0]  # two equal examples: zero distances and differences in the batch relations
    history = distiller.fit(fit_inputs(term, x), y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    for logged in term.logged_names():
        assert np.isfinite(history[logged]).all(), (logged, history[logged])
    assert all(np.isfinite(w).all() for w in student.get_weights())
    assert any(not np.allclose(a, b) for a, b in zip(before, student.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(teacher_before, teacher.get_weights()))


@pytest.mark.parametrize("name", STAGED)
def test_initialization_stage_trains_through_fit(rng, name):
    """The stage of AB, FT, FSP: a finite loss; its variables train, no other trainable one moves (the
    student's classifier included); the teacher is fixed."""
    student, teacher = networks(name)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.get(name, **ARGUMENTS.get(name, {}))])
    stage = distiller.init_stage()
    stage.compile(optimizer=keras.optimizers.SGD(0.01))
    before = {id(v): keras.ops.convert_to_numpy(v).copy() for v in distiller.weights}
    x, y = image_batch(rng)
    history = stage.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert all(np.isfinite(values).all() for values in history.values()), history
    moved = {id(v) for v in distiller.weights if not np.array_equal(before[id(v)], keras.ops.convert_to_numpy(v))}
    trained = {id(v) for v in stage.trainable_variables}
    assert moved & trained and not moved & {id(v) for v in distiller.trainable_variables} - trained
    assert not moved & {id(w) for w in teacher.weights}
