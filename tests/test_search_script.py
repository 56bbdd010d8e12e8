"""tuning/search.py end to end on a tiny image-folder dataset: a search, its
tables, plot and best student, the test retraining, and a re-run that
resumes instead of searching again."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import write_folder

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tuning", "search.py")


def search(source, output_dir):
    args = [
        f"--source={source}", f"--output_dir={output_dir}", "--teacher=resnet-8", "--student=resnet-8",
        "--teacher_epochs=1", "--max_trials=2", "--epochs=1", "--train_size=0", "--validation_size=0",
        "--validation_fraction=0.25", "--blocks=S,G", "--groups=2", "--batch_size=8", "--evaluate_test",
        "--final_epochs=1",
    ]
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


# The script's tables, plot and resume do not depend on the backend (the hypermodels are tested on every
# backend in tests/test_tuning.py).
@pytest.mark.heavy
def test_search_writes_results_and_a_rerun_resumes(tmp_path):
    write_folder(tmp_path / "data", np.random.default_rng(0), per_class=8)
    out = tmp_path / "out"
    first = search(tmp_path / "data", out)
    assert first.returncode == 0, first.stderr[-3000:]
    assert {"trials.json", "trials.md", "pareto.png", "student.keras", "teacher.keras", "test.json"} <= set(
        os.listdir(out))
    trials = json.loads((out / "trials.json").read_text())["trials"]
    assert len(trials) == 2 and all(t["status"] == "COMPLETED" for t in trials)
    assert 0.0 <= json.loads((out / "test.json").read_text())["test_accuracy"] <= 1.0
    student = kd.files.load_model(out / "student.keras")
    assert student.predict(np.zeros((2, 8, 8, 3), "float32"), verbose=0).shape == (2, 3)

    again = search(tmp_path / "data", out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Teacher: " in again.stdout  # the saved teacher, not a retrained one
    assert json.loads((out / "trials.json").read_text())["trials"] == trials  # no trial ran again
