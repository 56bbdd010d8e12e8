"""KerasTuner hypermodels: searches complete, resume, and save the best student."""

import json
import os
import subprocess
import sys

import keras
import keras_tuner
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.tuning import ArchitectureSpace, HyperDistiller, HyperMutual, Range

SHAPE = (8, 8, 3)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16,) + SHAPE).astype("float32"), rng.integers(0, 10, 16)


@pytest.fixture(scope="module")
def teacher():
    return kd.models.cifar_resnet(8, 10, input_shape=SHAPE)


def search(tuner, data, **kwargs):
    x, y = data
    tuner.search(x, y, validation_data=(x, y), verbose=0, **kwargs)
    return tuner.oracle.trials.values()


def test_random_search_saves_a_reloadable_best_student(tmp_path, data, teacher):
    hypermodel = HyperDistiller(
        teacher, "resnet-8", blocks=["S", "G"], groups=2, epochs=1, batch_size=[4, 8]
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=2, seed=0, directory=tmp_path
    )
    trials = search(tuner, data)
    assert [t.status for t in trials] == ["COMPLETED"] * 2
    for trial in trials:
        values = trial.hyperparameters.values
        assert {"batch_size", "epochs", "temperature", "alpha", "beta", "learning_rate"} <= set(values)
        assert ("groups" in values) == (values["block"] == "G")
        assert "bottleneck" not in values

    student = hypermodel.deployable(tuner.get_best_models(1)[0])
    path = str(tmp_path / "student.keras")
    student.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(data[0], verbose=0), student.predict(data[0], verbose=0), atol=1e-5)

    records = kd.tuning.trial_records(tuner)
    assert [r["trial_id"] for r in records] == [t.trial_id for t in trials]
    assert all(r["params"] > 0 and r["flops"] > 0 for r in records)
    assert kd.tuning.pareto_front(records)


def test_hyperband_over_a_distiller_completes(tmp_path, data, teacher):
    hypermodel = HyperDistiller(teacher, "resnet-8", blocks="S", beta=[0.0, 1e3])
    tuner = keras_tuner.Hyperband(
        hypermodel, objective="val_accuracy", max_epochs=2, factor=2, seed=0, directory=tmp_path
    )
    trials = search(tuner, data, batch_size=8)
    assert len(trials) >= 2 and all(t.status == "COMPLETED" for t in trials)
    assert all(np.isfinite(t.score) for t in trials)


def test_hyper_mutual_search_scores_peer_zero(tmp_path, data):
    hypermodel = HyperMutual(["resnet-8", "resnet-8"], SHAPE, 10, blocks="S", learning_rate=0.05)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=1, directory=tmp_path)
    (trial,) = search(tuner, data, epochs=1, batch_size=8)
    assert trial.status == "COMPLETED" and 0 <= trial.score <= 1
    assert set(trial.hyperparameters.values) >= {"kl_weight", "temperature", "auxiliary"}
    assert hypermodel.deployable(tuner.get_best_models(1)[0]).name == "resnet-8"


def active(space, **fixed):
    hp = keras_tuner.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    block = space.sample(hp)
    return block, hp.values


def test_conditional_hyperparameters_are_active_only_when_used():
    space = ArchitectureSpace(blocks=["S", "G", "B", "BG"], groups=[2, 4], group_size=[8], bottleneck=[2])
    assert active(space, block="S") == (("S", True), {"block": "S", "residual": True})
    block, values = active(space, block="G", grouping="group_size")
    assert block == ("G(N/8)", True) and "groups" not in values and "bottleneck" not in values
    block, values = active(space, block="B")
    assert block == ("B(2)", True) and "grouping" not in values and "groups" not in values
    block, values = active(space, block="BG", grouping="groups", groups=4)
    assert block == ("BG(2,4)", True) and "group_size" not in values
    # Every knob is registered, active or not, so the oracle sees the whole space.
    hp = keras_tuner.HyperParameters()
    space.sample(hp)
    assert {h.name for h in hp.space} == {"block", "grouping", "groups", "group_size", "bottleneck", "residual"}


def test_space_knobs_map_to_keras_tuner_types():
    hp = keras_tuner.HyperParameters()
    space = ArchitectureSpace(blocks="G", groups=Range(1, 4), residual=[True, False])
    space.sample(hp)
    assert kd.tuning.space.sample(hp, "beta", [0, 1e3]) == 0.0  # mixed int/float: one Choice of floats
    assert kd.tuning.space.sample(hp, "lr", Range(0.01, 0.1, log=True)) == 0.01
    kinds = {h.name: type(h).__name__ for h in hp.space}
    assert kinds == {"block": "Fixed", "groups": "Int", "residual": "Choice", "beta": "Choice", "lr": "Float"}


def test_a_block_that_does_not_fit_fails_only_its_trial(teacher):
    hypermodel = HyperDistiller(teacher, "resnet-8", blocks="G", groups=3)
    with pytest.raises(keras_tuner.errors.FailedTrialError, match="block='G\\(3\\)'"):
        hypermodel.build_student(keras_tuner.HyperParameters())


def test_tuned_epochs_clash_with_hyperband(teacher):
    hypermodel = HyperDistiller(teacher, "resnet-8", epochs=[1, 2])
    hp = keras_tuner.HyperParameters()
    hp.Fixed("tuner/epochs", 2)
    with pytest.raises(ValueError, match="epochs=\\[1, 2\\]"):
        hypermodel.training_knobs(hp)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(temperature=0), "temperature"),
        (dict(alpha=Range(0.5, 2.0)), "alpha"),
        (dict(beta=[-1.0]), "beta"),
        (dict(learning_rate=[]), "learning_rate"),
        (dict(blocks="X"), "blocks='X'"),
        (dict(blocks=["G"], groups=None), "groups=None"),
        (dict(blocks="B", bottleneck=None), "bottleneck=None"),
        (dict(groups=[0]), "groups"),
        (dict(residual="yes"), "residual"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(student=3), "student=3"),
    ],
)
def test_bad_knobs_name_the_argument(teacher, kwargs, message):
    kwargs = {"student": "resnet-8", **kwargs}
    with pytest.raises(ValueError, match=message):
        HyperDistiller(teacher, **kwargs)


def test_bad_range_and_peers():
    with pytest.raises(ValueError, match="min=2"):
        Range(2, 1)
    with pytest.raises(ValueError, match="min=0"):
        Range(0, 1, log=True)
    with pytest.raises(ValueError, match="peers="):
        HyperMutual(["resnet-8"], SHAPE, 10)


def run_script(*args):
    script = os.path.join(os.path.dirname(__file__), "scripts", "interrupted_search.py")
    return subprocess.run([sys.executable, script, *map(str, args)], capture_output=True, text=True)


def fits(directory):
    return [json.loads(line) for line in (directory / "fits.jsonl").read_text().splitlines()]


def test_killed_search_resumes_without_redoing_finished_trials(tmp_path):
    killed = run_script(tmp_path, 2)  # dies as trial 2 starts
    assert killed.returncode == 17, killed.stderr
    first_run = fits(tmp_path)
    assert len(first_run) == 2

    resumed = run_script(tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result["lazy"], "import keras_kd imported keras_tuner"
    trials = sorted(result["trials"].items())
    assert [status for _, (status, _) in trials] == ["COMPLETED"] * 2
    assert fits(tmp_path)[2:] == [first_run[1]]  # only the interrupted trial ran again
    assert [values for _, (_, values) in trials] == first_run
