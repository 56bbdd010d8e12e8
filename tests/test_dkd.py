"""Decoupled KD (keras_kd.losses.dkd, zhao2022) against numpy, and as a Distiller term."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_kd as kd

CLASSES = 5


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_kl(p, q):
    return np.sum(p * (np.log(p) - np.log(q)), axis=-1)


def np_decoupled_kd(teacher, student, labels, temperature):
    """TCKD and NCKD from the definitions: binary (p_t, 1 - p_t), and the
    non-target classes' softmax with the target column deleted."""
    teacher, student = teacher.astype("float64"), student.astype("float64")
    pt, ps = np_softmax(teacher / temperature), np_softmax(student / temperature)
    rows = np.arange(len(labels))
    binary = lambda p: np.stack([p[rows, labels], 1 - p[rows, labels]], axis=-1)  # noqa: E731
    others = ~np.eye(teacher.shape[1], dtype=bool)[labels]
    drop = lambda z: np_softmax(z[others].reshape(len(z), -1) / temperature)  # noqa: E731
    tckd = np_kl(binary(pt), binary(ps))
    nckd = np_kl(drop(teacher), drop(student))
    return temperature**2 * tckd, temperature**2 * nckd, pt[rows, labels]


@pytest.fixture
def batch(rng):
    teacher = (rng.standard_normal((8, CLASSES)) * 3).astype("float32")
    student = (rng.standard_normal((8, CLASSES)) * 3).astype("float32")
    return teacher, student, rng.integers(0, CLASSES, 8)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_tckd_and_nckd_equal_numpy_and_sum_to_hinton_kd(batch, temperature):
    teacher, student, labels = batch
    tckd, nckd = kd.losses.decoupled_kd(teacher, student, labels, temperature)
    want_tckd, want_nckd, teacher_target = np_decoupled_kd(teacher, student, labels, temperature)
    np.testing.assert_allclose(ops.convert_to_numpy(tckd), want_tckd, rtol=1e-4, atol=1e-5)  # float32
    np.testing.assert_allclose(ops.convert_to_numpy(nckd), want_nckd, rtol=1e-4, atol=1e-5)
    # zhao2022 Eq. 1: KD = TCKD + (1 - p_t of the teacher) NCKD
    hinton = ops.convert_to_numpy(kd.losses.kd_divergence(teacher, student, temperature))
    np.testing.assert_allclose(hinton, want_tckd + (1 - teacher_target) * want_nckd, rtol=1e-4, atol=1e-5)
    one_hot = np.eye(CLASSES, dtype="float32")[labels]
    same = kd.losses.decoupled_kd(teacher, student, one_hot, temperature)
    np.testing.assert_allclose(ops.convert_to_numpy(same[1]), ops.convert_to_numpy(nckd), rtol=1e-6)


def test_parts_are_weighted_and_warmed_up_by_epoch(batch):
    teacher, student, labels = batch
    term = kd.losses.DKD(alpha=0.5, beta=8.0, temperature=4.0, warmup_epochs=4, steps_per_epoch=3)
    want_tckd, want_nckd, _ = np_decoupled_kd(teacher, student, labels, 4.0)
    step = kd.losses.Step(None, labels, (student, {}), (teacher, {}))
    for count in range(15):  # epochs 1..5 of 3 steps: weights 1/4, 2/4, 3/4, 1, 1
        weight = min((count // 3 + 1) / 4, 1.0)
        parts = term.parts(step)
        np.testing.assert_allclose(ops.convert_to_numpy(parts["tckd"]), weight * 0.5 * want_tckd, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(ops.convert_to_numpy(parts["nckd"]), weight * 8.0 * want_nckd, rtol=1e-4, atol=1e-5)
    assert int(ops.convert_to_numpy(term.steps)) == 15


def dense_net(rng, name):
    inputs = keras.Input((6,))
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(inputs), name=name)


def test_distiller_logs_both_parts_and_the_warmup_resumes_from_a_file(rng, tmp_path):
    x, y = rng.standard_normal((16, 6)).astype("float32"), rng.integers(0, CLASSES, 16)
    distiller = kd.Distiller(student=dense_net(rng, "s"), teacher=dense_net(rng, "t"),
                             losses=["kd", kd.losses.get("dkd", steps_per_epoch=2)])
    assert distiller.student_loss_weight == pytest.approx(0.1)  # KD's 1 - alpha
    distiller.compile(optimizer="sgd")
    logs = distiller.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert {"student_loss", "kd_loss", "dkd_tckd", "dkd_nckd"} <= set(logs)
    assert int(ops.convert_to_numpy(distiller.terms[1].steps)) == 4
    assert set(distiller.evaluate(x, y, verbose=0, return_dict=True)) == {"loss"}
    assert int(ops.convert_to_numpy(distiller.terms[1].steps)) == 4  # evaluation does not count
    distiller.save(tmp_path / "dkd.keras")
    restored = keras.saving.load_model(tmp_path / "dkd.keras")
    assert restored.terms[1].get_config() == distiller.terms[1].get_config()
    assert int(ops.convert_to_numpy(restored.terms[1].steps)) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({}, "Received: steps_per_epoch=None, warmup_epochs=20"),
        ({"warmup_epochs": 0, "beta": -1.0}, "beta=-1.0"),
        ({"warmup_epochs": 2, "steps_per_epoch": 0}, "steps_per_epoch=0"),
        ({"warmup_epochs": -1}, "warmup_epochs=-1"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        kd.losses.DKD(**kwargs)


def test_unlabeled_data_is_refused(batch):
    teacher, student, _ = batch
    with pytest.raises(ValueError, match="DKD needs labels"):
        kd.losses.DKD(warmup_epochs=0).parts(kd.losses.Step(None, None, (student, {}), (teacher, {})))


def test_dkd_loss_is_the_batch_mean_of_the_weighted_parts(batch):
    teacher, student, labels = batch
    want_tckd, want_nckd, _ = np_decoupled_kd(teacher, student, labels, 4.0)
    got = kd.losses.dkd_loss(student, teacher, labels, alpha=1.0, beta=8.0, temperature=4.0)
    np.testing.assert_allclose(float(ops.convert_to_numpy(got)), np.mean(want_tckd + 8.0 * want_nckd), rtol=1e-4)
