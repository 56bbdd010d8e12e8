"""Files users saved keep loading: ``.keras`` files of every trainer and zoo network
written by keras_kd before the one ``Trainer`` base (commit a7780e5, issue 20) load
with the current code, on every backend (whichever backend saved them), give the
predictions recorded when they were saved, and trainers resume training.

The files and ``compat/expected.json`` are written by ``compat/make_fixtures.py``
run with that old code on ``PYTHONPATH`` (its docstring says how). Never
regenerate them with the current code: this test would then compare the code
with itself.
"""

import json
import pathlib

import keras
import numpy as np
import pytest

import keras_kd  # noqa: F401  (registers the classes the files name)
from tests.compat.make_fixtures import BACKENDS, fit_kwargs, last_batch, nested, seeded_images, training_data

COMPAT = pathlib.Path(__file__).parent / "compat"
EXPECTED = json.loads((COMPAT / "expected.json").read_text())
TOLERANCE = {"rtol": 1e-5, "atol": 5e-6}  # measured across the backends: at most 1.2e-6 apart


def entries(kind=None, key=None):
    """File names of the entries of ``kind`` (``"trainer"`` / ``"network"``) or holding ``key``."""
    return sorted(name for name, entry in EXPECTED.items()
                  if (kind is None or entry["kind"] == kind) and (key is None or key in entry))


def load(name):
    return keras.saving.load_model(COMPAT / name, safe_mode=True)


def predict(model, entry):
    return model.predict(seeded_images(**entry["inputs"]), verbose=0)


def assert_predictions(predicted, expected, label):
    predicted, expected = np.asarray(predicted, np.float64), np.asarray(expected, np.float64)
    assert predicted.shape == expected.shape, label
    np.testing.assert_allclose(predicted, expected, err_msg=label, **TOLERANCE)


def train_one_step(model, entry):
    """Fits ``model`` on the last batch of the entry's training data; returns the step's loss."""
    x, y = training_data(**entry["train"])
    history = model.fit(*last_batch(x, y, entry["train"]["batch_size"]), **fit_kwargs(entry["train"]))
    (loss,) = history.history["loss"]
    return loss


def iterations(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def test_fixtures_cover_every_backend_and_come_from_the_old_code():
    for kind in ("trainer", "network"):
        assert {EXPECTED[name]["backend"] for name in entries(kind)} == set(BACKENDS), kind
    assert {entry["keras_kd_commit"] for entry in EXPECTED.values()} == {"a7780e5"}
    assert sorted(path.name for path in COMPAT.glob("*.keras")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", entries())
def test_file_loads_with_the_recorded_predictions(name):
    entry = EXPECTED[name]
    model = load(name)
    assert type(model).__name__ == entry["class"]
    assert_predictions(predict(model, entry), entry["predictions"], name)
    for path, expected in entry["networks"].items():
        assert_predictions(predict(nested(model, path), entry), expected, f"{name}: {path}")


@pytest.mark.parametrize("name", entries("trainer"))
def test_loaded_trainer_resumes_training(name):
    """The optimizer state is restored and one more ``fit`` step runs, also with an
    optimizer saved on another backend (Keras 3.15 alone rebuilds torch's class on
    TensorFlow / JAX and fails here); on the backend that saved the file (or for a
    step that draws no random numbers) it gives the predictions the old code gave
    after that same step."""
    entry = EXPECTED[name]
    trainer = load(name)
    assert iterations(trainer) == entry["optimizer_iterations"]
    before = predict(trainer, entry)
    assert np.isfinite(train_one_step(trainer, entry))
    assert iterations(trainer) == entry["optimizer_iterations"] + 1
    after = predict(trainer, entry)
    assert not np.allclose(after, before), "the step left the predictions unchanged"
    if entry["backend"] == keras.backend.backend() or not entry["random_steps"]:
        assert_predictions(after, entry["resumed_predictions"], f"{name} after one more step")


@pytest.mark.parametrize("name", entries("network"))
def test_loaded_network_fine_tunes(name):
    entry = EXPECTED[name]
    model = load(name)
    model.compile(keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = predict(model, entry)
    assert np.isfinite(train_one_step(model, entry))
    assert not np.allclose(predict(model, entry), before), "the step left the predictions unchanged"


@pytest.mark.parametrize("name", entries(key="adaptive"))
def test_loaded_ensemble_keeps_its_sample_adaptive_inference(name):
    expected = EXPECTED[name]["adaptive"]
    logits, used = load(name).predict_adaptive(seeded_images(**EXPECTED[name]["inputs"]))
    np.testing.assert_array_equal(used, expected["used"])
    assert_predictions(logits, expected["logits"], name)
