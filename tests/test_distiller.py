import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import CLASSES, dense_net, image_batch, logits_of, np_attention, np_ce, np_kl, tiny_wrn, to_np
from tests.two_devices import needs_two_devices, run_two_device_script


@pytest.mark.parametrize("temperature, alpha", [(1.0, 0.5), (4.0, 0.9), (8.0, 0.1)])
@pytest.mark.parametrize("weighted", [False, True])
def test_total_loss_equals_numpy(rng, temperature, alpha, weighted):
    student, teacher = dense_net(rng, name="s"), dense_net(rng, name="t")
    x = rng.standard_normal((8, 6)).astype("float32")
    y = rng.integers(0, CLASSES, 8)
    w = rng.uniform(0.5, 2.0, 8).astype("float32") if weighted else None
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.KD(temperature, alpha)])
    distiller.compile(optimizer="sgd")
    got = distiller.compute_loss(x, y, distiller(x, training=True), w, training=True)
    s, t = logits_of(student, x), logits_of(teacher, x)
    per_example = (1 - alpha) * np_ce(y, s) + alpha * temperature**2 * np_kl(t, s, temperature)
    weights = np.ones(8) if w is None else w
    np.testing.assert_allclose(float(to_np(got)), np.mean(weights * per_example), rtol=1e-5)


@pytest.mark.parametrize("labelled", [True, False])
def test_student_regularization_is_added_unscaled(rng, labelled):
    """Weight decay as a kernel_regularizer is not multiplied by 1 - alpha, and
    applies on unlabeled batches too (the teacher's regularizer never counts)."""
    def regularized_net(l2, name):
        inputs = keras.Input((6,))
        out = keras.layers.Dense(CLASSES, name="out", kernel_regularizer=keras.regularizers.L2(l2))
        return keras.Model(inputs, out(inputs), name=name)

    teacher, student = regularized_net(0.5, "t"), regularized_net(0.01, "s")
    assert teacher.losses  # a regularized teacher: its loss must not enter the student's
    x, y = rng.standard_normal((8, 6)).astype("float32"), rng.integers(0, CLASSES, 8)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.KD(4.0, 0.9)])
    distiller.compile(optimizer="sgd")
    got = distiller.compute_loss(x, y if labelled else None, distiller(x, training=True), training=True)
    s, t = logits_of(student, x), logits_of(teacher, x)
    kernel = student.get_layer("out").get_weights()[0]
    expected = np.mean(0.9 * 16 * np_kl(t, s, 4.0)) + 0.01 * np.sum(kernel**2)
    if labelled:
        expected += 0.1 * np.mean(np_ce(y, s))
    np.testing.assert_allclose(float(to_np(got)), expected, rtol=1e-5)


def test_default_is_hinton_kd_t4_alpha_09(rng):
    distiller = kd.Distiller(student=dense_net(rng, name="s"), teacher=dense_net(rng, name="t"))
    (term,) = distiller.terms
    assert (term.temperature, term.alpha, term.mode) == (4.0, 0.9, "hinton")
    assert distiller.student_loss_weight == pytest.approx(0.1)


def test_total_loss_with_attention_transfer_equals_numpy(rng):
    student, teacher = tiny_wrn(16, 1, 1), tiny_wrn(16, 2, 2)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[
        kd.losses.KD(4.0, 0.9), kd.losses.AttentionTransfer(beta=1e3)])
    distiller.compile(optimizer="sgd")
    x, y = image_batch(rng, 4)
    s_logits, s_taps = (to_np(v) if not isinstance(v, dict) else {k: to_np(f) for k, f in v.items()}
                        for v in student.call_with_features(x, training=False))
    t_logits, t_taps = (to_np(v) if not isinstance(v, dict) else {k: to_np(f) for k, f in v.items()}
                        for v in teacher.call_with_features(x, training=False))
    y_pred = {"logits": s_logits, "features": s_taps}
    got = float(to_np(distiller.compute_loss(x, y, y_pred, None, training=True)))
    at = sum(np.mean((np_attention(s_taps[k]) - np_attention(t_taps[k])) ** 2) for k in s_taps)
    want = np.mean(0.1 * np_ce(y, s_logits) + 0.9 * 16 * np_kl(t_logits, s_logits, 4.0)) + 1e3 * at
    np.testing.assert_allclose(got, want, rtol=1e-5)


def snapshot(model):
    return [to_np(w).copy() for w in model.weights]


def test_fit_freezes_teacher_and_evaluate_keeps_student_statistics(rng):
    student, teacher = tiny_wrn(16, 1, 1), tiny_wrn(16, 2, 2)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[
        kd.losses.KD(4.0, 0.9), kd.losses.AttentionTransfer(1e3)])
    distiller.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
    assert not {id(v) for v in teacher.weights} & {id(v) for v in distiller.trainable_variables}
    x, y = image_batch(rng)
    teacher_before, student_before = snapshot(teacher), snapshot(student)
    history = distiller.fit(x, y, batch_size=8, epochs=2, validation_data=(x, y), verbose=0)
    for before, after in zip(teacher_before, snapshot(teacher)):
        np.testing.assert_array_equal(before, after)
    assert any(not np.array_equal(b, a) for b, a in zip(student_before, snapshot(student)))
    assert {"loss", "student_loss", "kd_loss", "at_loss", "accuracy", "val_loss",
            "val_accuracy"} <= set(history.history)
    assert "val_kd_loss" not in history.history
    trained = snapshot(student)
    distiller.evaluate(x, y, verbose=0)
    distiller.predict(x, verbose=0)
    for before, after in zip(trained, snapshot(student)):
        np.testing.assert_array_equal(before, after)


def test_teacher_then_student_run_once_per_training_step(rng):
    # Teacher first: on torch a teacher pass under the student's live autograd
    # graph page-faults (benchmarks/kd_overhead.py).
    student, teacher = tiny_wrn(10, 1, 1), tiny_wrn(10, 1, 2)
    calls = []

    def recording(name, original):
        def call(*args, **kwargs):
            calls.append((name, kwargs.get("training")))
            return original(*args, **kwargs)
        return call

    student.call_with_features = recording("student", student.call_with_features)
    teacher.call_with_features = recording("teacher", teacher.call_with_features)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.AttentionTransfer()])
    distiller.compile(optimizer="sgd", run_eagerly=True)
    x, y = image_batch(rng, 8)
    distiller.train_on_batch(x, y)  # first call also builds (a symbolic pass)
    calls.clear()
    distiller.train_on_batch(x, y)
    assert calls == [("teacher", False), ("student", True)]


def test_sample_weight_zero_removes_examples(rng):
    student, teacher = dense_net(rng, name="s"), dense_net(rng, name="t")
    distiller = kd.Distiller(student=student, teacher=teacher)
    distiller.compile(optimizer="sgd")
    x = rng.standard_normal((4, 6)).astype("float32")
    y = rng.integers(0, CLASSES, 4)
    w = np.array([1, 1, 0, 0], "float32")
    full = to_np(distiller.compute_loss(x, y, distiller(x), w, training=True))
    half = to_np(distiller.compute_loss(x[:2], y[:2], distiller(x[:2]), None, training=True))
    np.testing.assert_allclose(full, half / 2, rtol=1e-5)


def test_one_hot_labels_give_the_same_loss(rng):
    distiller = kd.Distiller(student=dense_net(rng, name="s"), teacher=dense_net(rng, name="t"))
    distiller.compile(optimizer="sgd")
    x = rng.standard_normal((4, 6)).astype("float32")
    y = rng.integers(0, CLASSES, 4)
    sparse = to_np(distiller.compute_loss(x, y, distiller(x), None, training=True))
    dense = to_np(distiller.compute_loss(x, np.eye(CLASSES)[y], distiller(x), None, training=True))
    np.testing.assert_allclose(sparse, dense, rtol=1e-6)


def test_keras_round_trip_with_safe_mode(rng, tmp_path):
    distiller = kd.Distiller(student=tiny_wrn(10, 1, 1), teacher=tiny_wrn(10, 2, 2), losses=[
        kd.losses.KD(2.0, 0.7), kd.losses.AttentionTransfer(500.0), kd.losses.FeatureHint(0.1)])
    distiller.compile(optimizer="sgd")
    x, y = image_batch(rng, 8)
    adapters = [to_np(a.kernel) for a in distiller.terms[2].adapters.values()]
    distiller.train_on_batch(x, y)
    trained = [to_np(a.kernel) for a in distiller.terms[2].adapters.values()]
    assert all(not np.array_equal(a, b) for a, b in zip(adapters, trained))
    distiller.save(tmp_path / "distiller.keras")
    restored = keras.saving.load_model(tmp_path / "distiller.keras", safe_mode=True)
    assert isinstance(restored, kd.Distiller)
    assert [t.get_config() for t in restored.terms] == [t.get_config() for t in distiller.terms]
    np.testing.assert_array_equal(to_np(restored.predict(x, verbose=0)), to_np(distiller.predict(x, verbose=0)))
    restored_adapters = [to_np(a.kernel) for a in restored.terms[2].adapters.values()]
    assert len(restored_adapters) == 3
    for a, b in zip(trained, restored_adapters):
        np.testing.assert_array_equal(a, b)
    distiller.student.save(tmp_path / "student.keras")
    alone = keras.saving.load_model(tmp_path / "student.keras", safe_mode=True)
    np.testing.assert_array_equal(to_np(alone(x)), to_np(distiller.student(x)))


def test_mixed_precision_keeps_loss_in_float32(rng):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        distiller = kd.Distiller(student=tiny_wrn(10, 1, 1), teacher=tiny_wrn(10, 1, 2),
                                 losses=[kd.losses.KD(4.0, 0.9), kd.losses.AttentionTransfer()])
        distiller.compile(optimizer="sgd")
        x, y = image_batch(rng, 8)
        loss = distiller.compute_loss(x, y, distiller(x, training=True), None, training=True)
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
        history = distiller.fit(x, y, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
    finally:
        keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda s, t: kd.Distiller(student=s, teacher=kd.models.wide_resnet(10, 1, 7, input_shape=(8, 8, 3))),
         "student outputs 5, teacher outputs 7"),
        (lambda s, t: kd.Distiller(student=s, teacher=t, losses=[kd.losses.AttentionTransfer(taps=["conv9"])]),
         "Unknown student tap 'conv9'"),
        (lambda s, t: kd.Distiller(student=s, teacher=t, losses=[kd.losses.AttentionTransfer(taps={"stage1": "stage3"})]),
         "equal spatial sizes"),
        (lambda s, t: kd.Distiller(student=s, teacher=t, losses=[kd.losses.KD(alpha=2)]), "alpha=2"),
        (lambda s, t: kd.Distiller(student=s, teacher=t, losses=[kd.losses.KD(temperature=0)]), "temperature=0"),
        (lambda s, t: kd.Distiller(student=s, teacher=s), "share weights"),
        (lambda s, t: kd.Distiller(student=s, teacher=keras.Sequential([keras.layers.Dense(5)])), "teacher"),
        (lambda s, t: kd.Distiller(student=s, teacher=t, losses=["kl_divergence"]), "kl_divergence"),
        (lambda s, t: kd.Distiller(student=s, teacher=t, student_loss_weight=-1), "student_loss_weight=-1"),
    ],
)
def test_bad_input_raises_clear_error(make, message):
    student, teacher = tiny_wrn(10, 1, 1), tiny_wrn(10, 2, 2)
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        make(student, teacher)


@needs_two_devices
def test_two_devices_train_as_one():
    """Replica losses are each replica's share of the global mean: the summed gradients of two devices equal one
    device's (Distiller with a compiled loss, MutualDistiller's simultaneous and sequential steps; MLPs, as
    batch norm's statistics are per replica)."""
    differences = run_two_device_script("distributed_fit", "single_device")
    assert set(differences) == {"distiller", "simultaneous", "sequential"}
    assert max(differences.values()) < 1e-5, differences


@needs_two_devices
@pytest.mark.parametrize("trainer", ["distiller", "mutual"])
def test_fit_under_two_device_data_parallelism(trainer):
    result = run_two_device_script("distributed_fit", trainer)
    assert result["teacher_unchanged"]
    assert np.isfinite(result["loss"]) and result["term"] > 0
