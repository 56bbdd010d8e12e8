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
@pytest.mark.heavy(backend="torch")  # subprocesses: a script starts in ~6 s on torch, ~15 s on TensorFlow
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


def search_process(source, output_dir, tuner_id, port, *extra):
    env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
               KERASTUNER_ORACLE_PORT=str(port))
    args = [f"--source={source}", f"--output_dir={output_dir}", "--student=resnet-8", "--max_trials=2",
            "--epochs=1", "--train_size=0", "--validation_size=0", "--validation_fraction=0.25", "--blocks=S",
            "--batch_size=8", *extra]
    with open(output_dir.parent / f"{tuner_id}.log", "w") as log:
        return subprocess.Popen([sys.executable, SCRIPT, *args], env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.heavy(backend="torch")  # subprocesses: a script starts in ~6 s on torch, ~15 s on TensorFlow
def test_a_distributed_search_needs_a_teacher_and_its_chief_writes_the_results(tmp_path):
    """KerasTuner's variables: a chief and a worker share --output_dir; without a teacher file the script
    refuses (no process trains its own)."""
    from keras_kd.launch import free_port, stop

    write_folder(tmp_path / "data", np.random.default_rng(0), per_class=8)
    out = tmp_path / "out"
    refused = search_process(tmp_path / "data", out, "tuner0", free_port())
    assert refused.wait(timeout=120) != 0
    assert "needs a trained teacher first" in (tmp_path / "tuner0.log").read_text()

    teacher = tmp_path / "teacher.keras"
    kd.files.save_model(kd.models.get_model("resnet-8", 3, input_shape=(8, 8, 3)), teacher)
    port = free_port()
    processes = [search_process(tmp_path / "data", out, name, port, f"--teacher_path={teacher}")
                 for name in ("chief", "tuner0")]
    try:
        for process, name in zip(processes, ("chief", "tuner0")):
            assert process.wait(timeout=300) == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
    finally:
        stop(processes)
    trials = json.loads((out / "trials.json").read_text())["trials"]
    assert len(trials) == 2 and all(t["status"] == "COMPLETED" for t in trials)
    assert "student.keras" in os.listdir(out)
