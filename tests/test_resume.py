"""Kill-and-resume: a run killed mid-epoch and re-run ends with the state of
an uninterrupted run, for the Distiller (also with CRD's memories), its initialization stage (AB), GKT and ResKD (``BackupAndRestore``)."""

import os
import subprocess
import sys

import numpy as np
import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "resumable_fit.py")
# 4 batches per epoch, 3 epochs: the kill falls in the second epoch (ResKD:
# in the res-student's second epoch, after the 12 steps of stage 0).
EXIT_AT_STEP = {"distiller": 6, "crd": 6, "init_stage": 6, "gkt": 6, "reskd": 18}
TOTAL_STEPS = {"distiller": 12, "crd": 12, "init_stage": 12, "gkt": 12, "reskd": 24}


def run_script(*args):
    return subprocess.run([sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True)


def final_state(directory):
    with np.load(directory / "final.npz") as state:
        return {name: state[name] for name in state.files}


@pytest.mark.parametrize("trainer", sorted(EXIT_AT_STEP))
def test_killed_run_resumes_to_the_uninterrupted_weights(tmp_path, trainer):
    whole = run_script(trainer, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    killed = run_script(trainer, tmp_path / "resumed", EXIT_AT_STEP[trainer])
    assert killed.returncode == 17, killed.stderr
    assert not (tmp_path / "resumed" / "final.npz").exists()
    resumed = run_script(trainer, tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr
    expected, got = final_state(tmp_path / "whole"), final_state(tmp_path / "resumed")
    steps = int((tmp_path / "resumed" / "steps.txt").read_text())
    assert steps == TOTAL_STEPS[trainer] - EXIT_AT_STEP[trainer] + 2  # from the last epoch end
    assert sorted(got) == sorted(expected)
    for name in expected:  # CPU runs here are deterministic: bitwise
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    assert not (tmp_path / "resumed" / "backup").exists()  # removed once training ended
