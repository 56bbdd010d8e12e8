"""KerasTuner hypermodels: searches complete, resume, save the best student; own students, optimizer knob."""

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


def test_numpy_scalar_knobs_are_sampled_as_python_numbers(teacher):
    hypermodel = HyperDistiller(
        teacher, "resnet-8", temperature=np.float32(4.0), alpha=[np.float64(0.5), 1], beta=np.int64(0),
        learning_rate=Range(np.float32(0.01), np.float32(0.1)), blocks="G", groups=np.int64(2),
        epochs=[np.int64(1), np.int64(2)], batch_size=Range(np.int64(4), 8),
    )
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    assert hypermodel.build(hp).student.block == "G(2)"
    types = {name: type(hp.values[name]) for name in ("temperature", "alpha", "beta", "learning_rate", "groups")}
    assert types == {"temperature": float, "alpha": float, "beta": int, "learning_rate": float, "groups": int}
    assert (hp_kind(hp, "epochs"), hp_kind(hp, "batch_size")) == ("Choice", "Int")
    mutual = HyperMutual(["resnet-8", "resnet-8"], SHAPE, np.int64(10), temperature=np.float32(2.0))
    assert type(mutual.num_classes) is int and mutual.num_classes == 10
    with pytest.raises(ValueError, match="`num_classes` must be an int >= 1. Received: num_classes=np.int64\\(0\\)"):
        HyperMutual(["resnet-8", "resnet-8"], SHAPE, np.int64(0))


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


def fits(directory, name="fits.jsonl"):
    return [json.loads(line) for line in (directory / name).read_text().splitlines()]


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


# Own students and teachers (issue 19 item 11): model instances, builders, only the knobs that apply.

ARCHITECTURE_HPS = {"block", "grouping", "groups", "group_size", "bottleneck", "residual"}


def tiny_classifier(num_classes=10, input_shape=SHAPE):
    """A small functional network without feature taps."""
    inputs = keras.Input(input_shape)
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, padding="same")(inputs))
    return keras.Model(inputs, keras.layers.Dense(num_classes)(features))


class SubclassedClassifier(keras.Model):
    """A subclassed network: its input shape is known only once it is built (by a call)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.pool, self.head = keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)

    def call(self, inputs):
        return self.head(self.pool(inputs))


def hp_names(hp):
    return {h.name for h in hp.space}


def hp_kind(hp, name):
    """The keras_tuner class name of hyperparameter ``name`` (Fixed, Choice, ...)."""
    return {h.name: type(h).__name__ for h in hp.space}[name]


def test_a_student_model_is_cloned_for_each_trial(tmp_path, data, teacher):
    student = keras.Sequential(
        [keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same"), keras.layers.GlobalAveragePooling2D(),
         keras.layers.Dense(10)]
    )
    weights = [w.copy() for w in student.get_weights()]
    hypermodel = HyperDistiller(teacher, student, epochs=1, batch_size=8)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=0, directory=tmp_path)
    trials = search(tuner, data)
    assert [t.status for t in trials] == ["COMPLETED"] * 2
    for trial in trials:
        assert not ARCHITECTURE_HPS & hp_names(trial.hyperparameters)
        assert trial.hyperparameters.values["beta"] == 0.0  # the student has no taps: no AT term
    best = hypermodel.deployable(tuner.get_best_models(1)[0])
    assert best is not student and [type(layer) for layer in best.layers] == [type(layer) for layer in student.layers]
    assert any(not np.array_equal(a, b) for a, b in zip(best.get_weights(), weights))  # the clone trained
    for before, after in zip(weights, student.get_weights()):
        np.testing.assert_array_equal(after, before)  # the user's instance did not
    records = kd.tuning.trial_records(tuner)
    assert all(r["block"] is None and r["residual"] is None and r["params"] > 0 for r in records)


def test_each_trial_clones_fresh_weights(teacher):
    student = tiny_classifier()
    hypermodel = HyperDistiller(teacher, student)
    first, second = (hypermodel.build_student(keras_tuner.HyperParameters()) for _ in range(2))
    assert first is not student and second is not first
    kernels = [model.get_weights()[0] for model in (student, first, second)]
    assert not np.array_equal(kernels[0], kernels[1]) and not np.array_equal(kernels[1], kernels[2])


def test_a_subclassed_student_built_by_a_call_is_cloned_per_trial(teacher):
    subclassed = SubclassedClassifier()
    subclassed(np.zeros((1,) + SHAPE, "float32"))  # its input shape: the one it was built with
    clone = HyperDistiller(teacher, subclassed).build_student(keras_tuner.HyperParameters())
    assert clone is not subclassed and isinstance(clone, SubclassedClassifier)
    assert tuple(clone(np.zeros((2,) + SHAPE, "float32")).shape) == (2, 10)


def test_builders_get_only_the_arguments_they_take(teacher):
    received = {}

    def classes_only(num_classes):
        received["classes_only"] = {"num_classes": num_classes}
        return tiny_classifier(num_classes)

    def with_block(num_classes, block):
        received["with_block"] = {"num_classes": num_classes, "block": block}
        return kd.models.cifar_resnet(8, num_classes, block=block, input_shape=SHAPE)

    def with_everything(**kwargs):
        received["with_everything"] = kwargs
        return kd.models.get_model("resnet-8", **kwargs)

    def without_arguments():
        received["without_arguments"] = {}
        return tiny_classifier()

    cases = {
        classes_only: ({"num_classes"}, set()),
        with_block: ({"num_classes", "block"}, {"block", "groups"}),
        with_everything: ({"num_classes", "block", "residual", "input_shape"}, {"block", "groups", "residual"}),
        without_arguments: (set(), set()),
    }
    for builder, (arguments, knobs) in cases.items():
        hp = keras_tuner.HyperParameters()
        architecture = {}
        if knobs:
            hp.Fixed("block", "G")
            architecture = dict(blocks=["S", "G"], groups=2)
        HyperDistiller(teacher, builder, **architecture).build(hp)
        assert set(received[builder.__name__]) == arguments, builder.__name__
        assert hp_names(hp) & ARCHITECTURE_HPS == knobs, builder.__name__
        if "block" in arguments:
            assert received[builder.__name__]["block"] == "G(2)"
        # AT is searched only where the built student has taps (the zoo networks here).
        assert hp_kind(hp, "beta") == ("Choice" if knobs else "Fixed"), builder.__name__
        assert knobs or hp.values["beta"] == 0.0


def test_hyper_mutual_takes_model_and_builder_peers():
    peer = tiny_classifier()
    hypermodel = HyperMutual([peer, "resnet-8", lambda num_classes: tiny_classifier(num_classes)], SHAPE, 10,
                             blocks=["S", "G"], groups=2)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("block", "G")
    mutual = hypermodel.build(hp)
    assert mutual.peers[0] is not peer and mutual.peers[1].block == "G(2)"
    assert {"block", "groups", "residual"} <= hp_names(hp)
    with pytest.raises(ValueError, match="`auxiliary` needs DCM heads on `peers\\[0\\]`"):
        HyperMutual([peer, "resnet-8"], SHAPE, 10, auxiliary=[False, True])
    with pytest.raises(ValueError, match="`blocks` cannot apply: `peers\\[0\\]` is a keras.Model.*peers\\[1\\]"):
        HyperMutual([peer, tiny_classifier()], SHAPE, 10, blocks="G")


def test_a_teacher_without_taps_gets_no_attention_transfer(tmp_path, data):
    teacher = tiny_classifier()
    hypermodel = HyperDistiller(teacher, "resnet-8", blocks="S", optimizer="adam", epochs=1, batch_size=8)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2, seed=0, directory=tmp_path)
    trials = search(tuner, data)
    assert [t.status for t in trials] == ["COMPLETED"] * 2
    assert hp_kind(tuner.oracle.hyperparameters, "beta") == "Fixed"
    assert all(t.hyperparameters.values["beta"] == 0.0 for t in trials)
    assert HyperDistiller(teacher, "resnet-8", beta=0.0).beta == 0.0  # beta 0 is still allowed


@pytest.mark.parametrize("beta", [1e3, [0.0, 1e3], Range(0.0, 1e3)])
def test_attention_transfer_without_taps_fails_at_construction(teacher, beta):
    with pytest.raises(ValueError, match="beta` > 0 adds attention transfer, which needs feature taps, and the "
                                         "teacher has none.*AttentionTransfer\\(taps="):
        HyperDistiller(tiny_classifier(), "resnet-8", beta=beta)
    with pytest.raises(ValueError, match="and the student has none"):
        HyperDistiller(teacher, tiny_classifier(), beta=beta)


@pytest.mark.parametrize(
    "kwargs, optimizer_class, settings, active",
    [
        (dict(optimizer="adam", learning_rate=0.01), keras.optimizers.Adam, {}, set()),
        (dict(optimizer="sgd", momentum=0.5, weight_decay=5e-4), kd.optimizers.SGD,
         {"momentum": 0.5, "weight_decay": 5e-4}, {"momentum", "weight_decay"}),
        (dict(optimizer="adamw", weight_decay=1e-3), keras.optimizers.AdamW, {"weight_decay": 1e-3},
         {"weight_decay"}),
        (dict(), kd.optimizers.SGD, {"momentum": 0.9, "weight_decay": 0.0}, {"momentum", "weight_decay"}),
    ],
)
def test_optimizer_knob_compiles_the_chosen_optimizer(teacher, kwargs, optimizer_class, settings, active):
    hp = keras_tuner.HyperParameters()
    model = HyperDistiller(teacher, "resnet-8", blocks="S", **kwargs).build(hp)
    # isinstance and the name: torch swaps in its own Adam / AdamW subclasses, and AdamW is an Adam.
    assert isinstance(model.optimizer, optimizer_class) and type(model.optimizer).__name__ == optimizer_class.__name__
    assert {name: getattr(model.optimizer, name) for name in settings} == pytest.approx(settings)
    assert {"momentum", "weight_decay"} & set(hp.values) == active


def test_optimizer_choices_activate_their_own_knobs(teacher):
    hypermodel = HyperDistiller(teacher, "resnet-8", blocks="S", optimizer=["sgd", "adam", "adamw"],
                                weight_decay=[0.0, 1e-4])
    for name, active in (("sgd", {"momentum", "weight_decay"}), ("adam", set()), ("adamw", {"weight_decay"})):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("optimizer", name)
        hypermodel.build(hp)
        assert {"momentum", "weight_decay"} & set(hp.values) == active, name


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(optimizer="rmsprop"), "invalid value 'rmsprop' \\(expected \\('sgd', 'adam', 'adamw'\\)\\). "
                                    "Received: optimizer='rmsprop'"),
        (dict(optimizer=["sgd", "SGD"]), "invalid value 'SGD'"),
        (dict(optimizer="adam", momentum=0.5), "`momentum` applies only to optimizer 'sgd'. Received: momentum=0.5"),
        (dict(optimizer="adam", weight_decay=1e-4), "`weight_decay` applies only to optimizer 'sgd' or 'adamw'"),
        (dict(weight_decay=-1.0), "Received: weight_decay=-1.0"),
        (dict(momentum=1.0), "Received: momentum=1.0"),
    ],
)
def test_bad_optimizer_knobs_name_the_value(teacher, kwargs, message):
    with pytest.raises(ValueError, match=message):
        HyperDistiller(teacher, "resnet-8", **kwargs)


@pytest.mark.parametrize(
    "student, kwargs, message",
    [
        ("model", dict(blocks=["S", "G"]), "`blocks` cannot apply: `student` is a keras.Model, cloned as it is. "
                                           "Received: blocks=\\['S', 'G'\\]"),
        ("model", dict(groups=4), "`groups` cannot apply.*Received: groups=4"),
        ("model", dict(residual=False), "`residual` cannot apply.*Received: residual=False"),
        ("classes_only", dict(bottleneck=2), "the builder `student` takes no `block` argument"),
        ("with_block", dict(residual=[True, False]), "the builder `student` takes no `residual` argument"),
    ],
)
def test_architecture_knobs_the_student_cannot_take_raise(teacher, student, kwargs, message):
    students = {
        "model": tiny_classifier(),
        "classes_only": lambda num_classes: tiny_classifier(num_classes),
        "with_block": lambda num_classes, block: kd.models.cifar_resnet(8, num_classes, block=block),
    }
    with pytest.raises(ValueError, match=message):
        HyperDistiller(teacher, students[student], **kwargs)


def test_students_that_cannot_fit_the_teacher_fail_at_construction(teacher):
    with pytest.raises(ValueError, match="must take inputs of shape \\(8, 8, 3\\) and predict 10 classes.*"
                                         "predicts 5. Received: student="):
        HyperDistiller(teacher, tiny_classifier(num_classes=5))
    with pytest.raises(ValueError, match="it takes \\(16, 16, 3\\)"):
        HyperDistiller(teacher, tiny_classifier(input_shape=(16, 16, 3)))
    with pytest.raises(ValueError, match="`student` must be built"):
        HyperDistiller(teacher, keras.Sequential([keras.layers.Dense(10)]))
    with pytest.raises(ValueError, match="`student` must be built"):
        HyperDistiller(teacher, SubclassedClassifier())  # never called: no input shape
    inputs = keras.Input(SHAPE)
    doubled = keras.layers.Lambda(lambda x: 2.0 * x)(inputs)
    with_lambda = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(doubled)))
    with pytest.raises(ValueError, match="`student` cannot be cloned for each trial.*pass a builder"):
        HyperDistiller(teacher, with_lambda)
    with pytest.raises(ValueError, match="requires argument\\(s\\) \\['depth'\\].*functools.partial"):
        HyperDistiller(teacher, lambda depth, num_classes: kd.models.cifar_resnet(depth, num_classes))


def test_method_choice_adds_the_chosen_term_with_its_sampled_arguments(teacher):
    """methods={name: {argument: knob}}: the "method" choice, each method's knobs active only when it is chosen."""
    hypermodel = HyperDistiller(teacher, "resnet-8", alpha=0.0, beta=0.0,
                                methods={"pkt": {"weight": [1e3, 3e4]}, "dkd": {"beta": Range(4.0, 8.0), "warmup_epochs": 0},
                                         "rkd": {}})
    for method, chosen, term_class in (("pkt", {"pkt_weight": 3e4}, kd.losses.PKT),
                                       ("dkd", {"dkd_beta": 6.0, "dkd_warmup_epochs": 0}, kd.losses.DKD),
                                       ("rkd", {}, kd.losses.RKD)):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("method", method)
        for name, value in chosen.items():
            with hp.conditional_scope("method", [method]):
                hp.Fixed(name, value)
        trainer = hypermodel.build_trainer(hp)
        assert [type(t) for t in trainer.terms] == [kd.losses.KD, term_class]
        for name, value in chosen.items():
            assert getattr(trainer.terms[1], name.split("_", 1)[1]) == value
        active = {h.name for h in hp.space if hp.is_active(h)} - {"method", "temperature", "alpha", "beta", "block",
                                                                   "residual"}
        assert active == set(chosen)  # the other methods' knobs are registered but inactive
        assert {h.name for h in hp.space} >= {"method", "pkt_weight", "dkd_beta", "dkd_warmup_epochs"}


@pytest.mark.parametrize("methods, message", [
    ({"nope": {}}, "unknown term 'nope'"),
    ({"kd": {}}, "cannot add 'kd'"),
    ({"pkt": {"weight": [1.0, -1.0]}}, "weight=-1.0"),
    ({"pkt": {"colour": [1.0]}}, "colour"),
    ({"pkt": {"weight": []}}, "methods['pkt']['weight']"),
    ({"vid": {"taps": [["stage1"]]}}, "methods['vid']['taps']"),
    ({"ctkd": {"steps_per_epoch": 10}}, "implies its own cross-entropy weight"),
    ({"crd": {"num_examples": 10, "mode": "uniform", "num_negatives": 3}}, "cannot add 'crd': it reads each example's index"),
    ({"crd": {}}, "pass the training labels by index"),
    (["pkt"], "methods=['pkt']"),
])
def test_bad_methods_name_the_argument(teacher, methods, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        HyperDistiller(teacher, "resnet-8", methods=methods)


def search_process(directory, tuner_id, port, *args):
    """A process of a distributed search (KerasTuner's variables) running the interrupted-search script; its
    output goes to ``<tuner_id>.out`` / ``.err`` in ``directory`` (never a pipe that could fill)."""
    script = os.path.join(os.path.dirname(__file__), "scripts", "interrupted_search.py")
    env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
               KERASTUNER_ORACLE_PORT=str(port))
    with open(directory / f"{tuner_id}.out", "w") as out, open(directory / f"{tuner_id}.err", "a") as err:
        return subprocess.Popen([sys.executable, script, str(directory), *map(str, args)], env=env, stdout=out,
                                stderr=err)


@pytest.mark.heavy  # subprocesses; KerasTuner's gRPC oracle is backend-independent
def test_distributed_search_runs_every_trial_once_and_a_restarted_worker_continues(tmp_path):
    """A chief and two workers on 127.0.0.1, 4 trials; worker tuner0 dies as its second fit starts and is
    started again: every trial completes exactly once, the interrupted one resumed by the same worker."""
    from keras_kd.launch import free_port, stop

    port = free_port()
    chief = search_process(tmp_path, "chief", port, 0, 4)
    workers = [search_process(tmp_path, "tuner0", port, 2, 4), search_process(tmp_path, "tuner1", port, 0, 4)]
    restarted = None
    try:
        assert workers[0].wait(timeout=300) == 17, (tmp_path / "tuner0.err").read_text()
        interrupted = fits(tmp_path, "fits-tuner0.jsonl")[-1]
        restarted = search_process(tmp_path, "tuner0", port, 0, 4)
        for process, name in ((restarted, "tuner0"), (workers[1], "tuner1"), (chief, "chief")):
            assert process.wait(timeout=300) == 0, (tmp_path / f"{name}.err").read_text()
    finally:
        stop([chief, *workers, *([restarted] if restarted else [])])
    trials = json.loads((tmp_path / "chief.out").read_text().strip().splitlines()[-1])["trials"]
    assert len(trials) == 4 and all(status == "COMPLETED" for status, _ in trials.values())
    completed = sorted(json.dumps(values, sort_keys=True) for _, values in trials.values())
    started = [json.dumps(v, sort_keys=True) for name in ("fits-tuner0.jsonl", "fits-tuner1.jsonl")
               for v in fits(tmp_path, name)]
    assert sorted(set(started)) == sorted(set(completed)) and len(set(completed)) == 4
    assert fits(tmp_path, "fits-tuner0.jsonl").count(interrupted) == 2  # started, killed, resumed
    assert sorted(started) == sorted(completed + [json.dumps(interrupted, sort_keys=True)])
