"""Atomic writes: a file is replaced whole or left as it was."""

import json
import os

import keras
import numpy as np
import pytest

from keras_kd import files


def test_write_json_replaces_file(tmp_path):
    path = tmp_path / "results.json"
    files.write_json(path, {"a": 1})
    files.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert os.listdir(tmp_path) == ["results.json"]


def test_failed_write_keeps_previous_content_and_no_partial_file(tmp_path):
    path = tmp_path / "results.md"
    files.write_text(path, "old")
    with pytest.raises(RuntimeError):
        with files.atomic_path(path) as temporary:
            with open(temporary, "w") as handle:
                handle.write("half of the new")
            raise RuntimeError("killed while writing")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["results.md"]


def test_save_model_round_trip(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = tmp_path / "model.keras"
    files.save_model(model, path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert os.listdir(tmp_path) == ["model.keras"]


def test_markdown_table():
    assert files.markdown_table(["a", "b"], [[1, 2], ["x", ""]]) == "| a | b |\n|---|---|\n| 1 | 2 |\n| x |  |"
