"""Multi-teacher distillation (keras_kd.MultiTeacherDistiller, issue 21)."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import CLASSES, SHAPE, image_batch, softmax, to_np


def net(widths, seed, name):
    keras.utils.set_random_seed(seed)
    return kd.models.ResidualNetwork(stage_widths=widths, stage_sizes=(1, 1), num_classes=CLASSES,
                                     stem_filters=widths[0], input_shape=SHAPE, name=name)


def clone(model, name):
    twin = net((8, 16), 1, name)
    twin.set_weights(model.get_weights())
    return twin


def test_identical_teachers_train_exactly_as_one(rng):
    """Two copies of the teacher, averaged: every logged value and every student weight equals the one-teacher
    Distiller's, bit for bit (0.5 a + 0.5 a = a)."""
    x, y = image_batch(rng)
    teacher = net((8, 16), 1, "teacher")
    runs = []
    for teachers in (None, [clone(teacher, "t0"), clone(teacher, "t1")]):
        student = net((4, 8), 0, "student")
        losses = [kd.losses.KD(), kd.losses.AttentionTransfer()]
        if teachers is None:
            distiller = kd.Distiller(student=student, teacher=teacher, losses=losses)
        else:
            distiller = kd.MultiTeacherDistiller(student=student, teachers=teachers, losses=losses)
        distiller.compile(optimizer=keras.optimizers.SGD(0.05))
        history = distiller.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history
        runs.append((history, student.get_weights()))
    (single, single_weights), (multi, multi_weights) = runs
    assert single == multi
    for a, b in zip(single_weights, multi_weights):
        np.testing.assert_array_equal(a, b)


def two_teacher_view(rng, **kwargs):
    teachers = [net((8, 16), 1, "t0"), net((8, 16), 2, "t1"), net((8, 16), 3, "t2")]
    distiller = kd.MultiTeacherDistiller(student=net((4, 8), 0, "student"), teachers=teachers, **kwargs)
    x, y = image_batch(rng, 6)
    outputs = [extractor(x, training=False) for extractor in distiller.teacher_taps]
    return distiller, outputs, y


def test_the_weighted_target_equals_numpy(rng):
    distiller, outputs, y = two_teacher_view(rng, teacher_weights=[1.0, 3.0, 0.0], losses=["kd", "at"])
    logits, taps = distiller.teacher_view((0, 1, 2), outputs, y)
    expected = 0.25 * to_np(outputs[0][0]) + 0.75 * to_np(outputs[1][0])
    np.testing.assert_allclose(to_np(logits), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(to_np(taps["stage1"]), 0.25 * to_np(outputs[0][1]["stage1"])
                               + 0.75 * to_np(outputs[1][1]["stage1"]), rtol=1e-6, atol=1e-6)


def test_most_confident_correct_picks_per_example_as_numpy(rng):
    distiller, outputs, y = two_teacher_view(rng, combine="most_confident_correct")
    logits = np.stack([to_np(o[0]) for o in outputs])  # (teachers, B, classes)
    y = np.argmax(logits[1], axis=-1)  # teacher 1 correct everywhere; others where they agree
    y[0] = (y[0] + 1) % CLASSES  # example 0: perhaps nobody is correct
    view = to_np(distiller.teacher_view((0, 1, 2), outputs, y)[0])
    p = softmax(logits.astype("float64"))
    on_label = p[:, np.arange(len(y)), y]
    correct = np.argmax(logits, axis=-1) == y
    for b in range(len(y)):
        pick = (np.flatnonzero(correct[:, b]) if correct[:, b].any() else np.arange(3))
        best = pick[np.argmax(on_label[pick, b])]
        np.testing.assert_array_equal(view[b], logits[best, b])
    one_hot = np.eye(CLASSES, dtype="float32")[y]  # one-hot labels pick alike
    np.testing.assert_array_equal(to_np(distiller.teacher_view((0, 1, 2), outputs, one_hot)[0]), view)
    with pytest.raises(ValueError, match="picks teachers by the label"):
        distiller.teacher_view((0, 1), outputs, None)


def test_term_teachers_choose_each_terms_teacher(rng):
    """AT reads teacher 1 only (its maps), KD the average of both: the Step each term sees."""
    teachers = [net((8, 16), 1, "t0"), net((16, 32), 2, "t1")]
    distiller = kd.MultiTeacherDistiller(student=net((4, 8), 0, "student"), teachers=teachers,
                                         losses=["kd", "at"], term_teachers={"at": 1})
    assert distiller.readers == [(0, 1), (1,)]
    x, y = image_batch(rng, 4)
    outputs = [extractor(x, training=False) for extractor in distiller.teacher_taps]
    assert distiller.teacher_view((1,), outputs, y) is outputs[1]
    # the average view has no tap the two teachers give in different shapes
    assert distiller.view_shapes((0, 1))[1] == {}
    distiller.compile(optimizer=keras.optimizers.SGD(0.05))
    history = distiller.fit(x, y, batch_size=4, verbose=0).history
    assert np.isfinite(history["at_loss"]).all() and np.isfinite(history["kd_loss"]).all()
    with pytest.raises(ValueError, match=re.escape(
            "lacks the taps ['embedding', 'stage1', 'stage1_preact', 'stage2', 'stage2_preact', 'stem'], which those")):
        kd.MultiTeacherDistiller(student=net((4, 8), 0, "s2"), teachers=teachers, losses=["at"])


def test_saves_loads_and_resumes(rng, tmp_path):
    teachers = [net((8, 16), 1, "t0"), net((8, 16), 2, "t1")]
    distiller = kd.MultiTeacherDistiller(student=net((4, 8), 0, "student"), teachers=teachers,
                                         losses=["kd", "at"], teacher_weights=[2.0, 1.0], term_teachers={"at": [0]})
    distiller.compile(optimizer=keras.optimizers.SGD(0.05))
    x, y = image_batch(rng)
    distiller.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    distiller.save(tmp_path / "multi.keras")
    loaded = keras.saving.load_model(tmp_path / "multi.keras")
    assert isinstance(loaded, kd.MultiTeacherDistiller) and loaded.teacher_weights == [2.0, 1.0]
    assert loaded.readers == [(0, 1), (0,)] and not any(w.trainable for t in loaded.teachers for w in t.weights)
    for run in (distiller, loaded):
        run.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(distiller.student.get_weights(), loaded.student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"teachers": []}, "two or more distinct models"),
    ({"combine": "vote"}, "combine"),
    ({"teacher_weights": [1.0]}, "one weight per teacher (2)"),
    ({"teacher_weights": [0.0, 0.0]}, "must not all be 0"),
    ({"teacher_weights": [1.0, -1.0]}, "teacher_weights"),
    ({"term_teachers": {"hint": 0}}, "must map names of the terms (['kd'])"),
    ({"term_teachers": {"kd": 2}}, "`term_teachers['kd']` must be a teacher position"),
    ({"term_teachers": {"kd": np.int64(0)}}, "No term reads teachers [1]"),
    ({"teacher_weights": [1.0, 0.0], "losses": ["kd", "at"], "term_teachers": {"kd": [1]}},
     "Term 'kd' reads teachers [1], all of weight 0"),
    ({"combine": "most_confident_correct", "teacher_weights": [1.0, 2.0]}, "weigh combine='average' only"),
])
def test_bad_arguments_name_themselves(kwargs, message):
    arguments = {"student": net((4, 8), 0, "s"), "teachers": [net((8, 16), 1, "a"), net((8, 16), 2, "b")], **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.MultiTeacherDistiller(**arguments)
    with pytest.raises(TypeError, match="by keyword"):
        kd.MultiTeacherDistiller(net((4, 8), 0, "s3"), [net((8, 16), 1, "c")])
