"""Contrastive representation distillation (keras_kd.losses.crd, tian2020 as RepDistiller's code) against numpy."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses import crd
from keras_kd.losses.crd import CRD
from keras_kd.losses.term import Step
from tests.helpers import CLASSES, resnet8_distiller, to_np
from tests.two_devices import needs_two_devices, run_two_device_script


def normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def np_crd(student, teacher, dense, memory_s, memory_t, rows, z, temperature, momentum):
    """RepDistiller's CRDLoss forward on fixed weights, in float64: per-example loss (both sides), Z and the
    memories after the update. ``z`` None: set from this batch (the code's first call)."""
    n, k = len(memory_s), rows.shape[1] - 1
    es = normalize(student.astype("float64") @ dense[0] + dense[1])
    et = normalize(teacher.astype("float64") @ dense[2] + dense[3])
    out_s = np.exp(np.einsum("bkd,bd->bk", memory_t[rows], es) / temperature)
    out_t = np.exp(np.einsum("bkd,bd->bk", memory_s[rows], et) / temperature)
    if z is None:
        z = np.array([out_s.mean() * n, out_t.mean() * n])
    noise = k / n

    def contrast_loss(p):
        return -(np.log(p[:, 0] / (p[:, 0] + noise + 1e-7)) + np.log(noise / (p[:, 1:] + noise + 1e-7)).sum(1))

    loss = contrast_loss(out_s / z[0]) + contrast_loss(out_t / z[1])
    index = rows[:, 0]
    new_s, new_t = memory_s.copy(), memory_t.copy()
    new_s[index] = normalize(momentum * memory_s[index] + (1 - momentum) * es)
    new_t[index] = normalize(momentum * memory_t[index] + (1 - momentum) * et)
    return loss, z, new_s, new_t


def connected_term(rng, n=12, width_s=6, width_t=10, **kwargs):
    labels = np.arange(n) % 3
    term = CRD(labels=labels, feat_dim=4, num_negatives=5, seed=0, **kwargs)
    term.connect(((None, CLASSES), {"embedding": (None, width_s)}), ((None, CLASSES), {"embedding": (None, width_t)}))
    dense = [rng.standard_normal(w.shape).astype("float32") for w in
             (term.embed_student.kernel, term.embed_student.bias, term.embed_teacher.kernel, term.embed_teacher.bias)]
    for variable, value in zip((term.embed_student.kernel, term.embed_student.bias, term.embed_teacher.kernel,
                                term.embed_teacher.bias), dense):
        variable.assign(value)
    return term, dense, labels


@pytest.mark.parametrize("dense_ratio", [16, 0])  # scores from all N rows, or from the gathered K+1
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_two_steps_equal_the_codes_forward_and_memory_update(rng, monkeypatch, scale, dense_ratio):
    """Step 1 sets Z from its batch; step 2 reads the memories step 1 moved and keeps Z. Rows given."""
    monkeypatch.setattr(crd, "DENSE_RATIO", dense_ratio)
    term, dense, _ = connected_term(rng, temperature=0.5)
    memory_s, memory_t = to_np(term.memory_student).astype("float64"), to_np(term.memory_teacher).astype("float64")
    z = None
    for index in (np.array([0, 4, 7]), np.array([4, 2, 9])):
        rows = np.concatenate([index[:, None], rng.integers(0, 12, (3, 5))], axis=1)
        term.contrast_rows = lambda _, rows=rows: keras.ops.convert_to_tensor(rows, "int32")
        student = (rng.standard_normal((3, 6)) * scale).astype("float32")
        teacher = (rng.standard_normal((3, 10)) * scale).astype("float32")
        logits = np.zeros((3, CLASSES), "float32")
        step = Step(None, None, (logits, {"embedding": student}), (logits, {"embedding": teacher}), index=index)
        got = to_np(term.parts(step)["loss"])
        loss, z, memory_s, memory_t = np_crd(student, teacher, dense, memory_s, memory_t, rows, z, 0.5, 0.5)
        np.testing.assert_allclose(got, 0.8 * loss, rtol=2e-4)
        np.testing.assert_allclose(to_np(term.normalizers), z, rtol=1e-5)
        np.testing.assert_allclose(to_np(term.memory_student), memory_s, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(to_np(term.memory_teacher), memory_t, rtol=1e-5, atol=1e-6)
    untouched = [i for i in range(12) if i not in (0, 2, 4, 7, 9)]
    initial, _, _ = connected_term(np.random.default_rng(1))  # same seed: the same initial memory
    np.testing.assert_array_equal(to_np(term.memory_student)[untouched], to_np(initial.memory_student)[untouched])


def test_memory_starts_uniform_in_the_codes_bound():
    term = CRD(num_examples=4000, mode="uniform", seed=3)
    memory = to_np(term.memory_student)
    bound = 1 / np.sqrt(128 / 3)
    assert memory.shape == (4000, 128) and np.abs(memory).max() <= bound
    assert abs(memory.std() - bound / np.sqrt(3)) < 0.01 * bound  # uniform(-b, b): std b / sqrt(3)
    assert not np.array_equal(memory, to_np(term.memory_teacher))
    np.testing.assert_array_equal(to_np(term.normalizers), [-1.0, -1.0])


def test_exact_draws_the_example_and_distinct_negatives_of_other_classes():
    labels = np.arange(40) % 4
    term = CRD(labels=labels, num_negatives=30, seed=0)
    index = np.array([0, 5, 38, 13])
    for _ in range(3):
        rows = to_np(term.contrast_rows(keras.ops.convert_to_tensor(index)))
        assert rows.shape == (4, 31)
        np.testing.assert_array_equal(rows[:, 0], index)
        for row, example in zip(rows, index):
            assert len(set(row[1:])) == 30  # without replacement
            assert (labels[row[1:]] != labels[example]).all()


def test_relax_draws_a_positive_of_the_same_class_and_uniform_any_row():
    labels = np.arange(40) % 4
    relax = CRD(labels=labels, num_negatives=30, mode="relax", seed=0)
    index = np.array([0, 5, 38, 13])
    positives = np.concatenate([to_np(relax.contrast_rows(keras.ops.convert_to_tensor(index)))[:, 0]
                                for _ in range(20)])
    assert (labels[positives] == np.tile(labels[index], 20)).all() and len(set(positives)) > 4
    uniform = CRD(num_examples=40, num_negatives=200, mode="uniform", seed=0)
    rows = to_np(uniform.contrast_rows(keras.ops.convert_to_tensor(index)))
    np.testing.assert_array_equal(rows[:, 0], index)
    assert rows.min() >= 0 and rows.max() < 40 and len(set(rows[0, 1:])) < 200  # with replacement


def test_trains_through_fit_and_resumes_exactly(rng, tmp_path):
    """Two epochs in one go equal one epoch, save, load, one epoch: memories, Z, draws and weights."""
    labels = np.arange(16) % CLASSES

    def distiller():
        keras.utils.set_random_seed(0)
        return resnet8_distiller(np.random.default_rng(0), CRD(labels=labels, num_negatives=6, seed=1), examples=16)

    straight, x, _ = distiller()
    inputs = (x, np.arange(16))
    straight.fit(inputs, labels, batch_size=8, epochs=2, shuffle=False, verbose=0)
    first, _, _ = distiller()
    first.fit(inputs, labels, batch_size=8, epochs=1, shuffle=False, verbose=0)
    first.save(tmp_path / "crd.keras")
    resumed = keras.saving.load_model(tmp_path / "crd.keras")
    resumed.fit(inputs, labels, batch_size=8, epochs=1, shuffle=False, verbose=0)
    term, again = straight.terms[0], resumed.terms[0]
    np.testing.assert_array_equal(to_np(again.labels), labels)
    for name in ("memory_student", "memory_teacher", "normalizers"):
        np.testing.assert_allclose(to_np(getattr(again, name)), to_np(getattr(term, name)), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(to_np(again.seed_generator.state), to_np(term.seed_generator.state))
    for a, b in zip(straight.student.get_weights(), resumed.student.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    norms = np.linalg.norm(to_np(term.memory_student), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)  # every row moved (and normalized) by the updates


@pytest.mark.parametrize("kwargs, message", [
    ({}, "pass the training labels by index (labels=...)"),
    ({"labels": np.zeros((4, 2), "int64")}, "labels with shape (4, 2)"),
    ({"labels": np.arange(6) % 2, "num_negatives": 4}, "at most 3, the fewest examples outside one class"),
    ({"labels": np.arange(6), "num_examples": 5}, "`num_examples` must equal len(labels)=6"),
    ({"num_examples": 8, "mode": "uniform", "labels": np.arange(8)}, "mode='uniform' draws without labels"),
    ({"num_examples": 8, "mode": "exac"}, "mode"),
    ({"num_examples": 8, "mode": "uniform", "momentum": 1.0}, "momentum"),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        CRD(**kwargs)


def test_batches_without_an_index_or_outside_the_labels_are_refused(rng):
    distiller, x, y = resnet8_distiller(rng, CRD(labels=np.arange(8) % 2, num_negatives=3), examples=8)
    with pytest.raises(ValueError, match=re.escape("The term 'crd' trains on batches ((images, index), labels)")):
        distiller.fit(x, y, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=re.escape("num_examples=8). Received: index=8")):
        distiller.fit((x, np.arange(1, 9)), y, batch_size=4, verbose=0)


def test_a_term_from_config_draws_only_once_its_weights_load():
    term = CRD(labels=np.arange(10) % 2, num_negatives=3, seed=0)
    rebuilt = CRD.from_config(term.get_config())
    with pytest.raises(ValueError, match="labels are placeholders"):
        rebuilt.contrast_rows(keras.ops.convert_to_tensor(np.arange(2)))
    store = {}
    term.save_own_variables(store)
    rebuilt.load_own_variables(store)
    np.testing.assert_array_equal(to_np(rebuilt.labels), np.arange(10) % 2)
    assert to_np(rebuilt.contrast_rows(keras.ops.convert_to_tensor(np.arange(2)))).shape == (2, 4)


def test_is_known_by_name():
    term = kd.losses.get("crd", num_examples=10, mode="uniform", num_negatives=3)
    assert isinstance(term, CRD) and term.needs_index and term.num_examples == 10


@needs_two_devices
def test_memory_rows_exact_under_two_device_data_parallelism():
    result = run_two_device_script("distributed_fit", "crd")
    assert result["rows_exact"] and result["draws_apart"]  # each replica its own negatives
    assert np.isfinite(result["loss"]) and result["term"] > 0
