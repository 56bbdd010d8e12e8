"""HyperResStudent: the res-student knobs, eq. 3 as the objective, a tiny search with costs, bad knobs."""

import keras
import keras_tuner
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.tuning import HyperResStudent, Range, pareto_front, trial_records

SHAPE = (8, 8, 3)
CLASSES = 10


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24,) + SHAPE).astype("float32")
    return (x[:16], rng.integers(0, CLASSES, 16)), (x[16:], rng.integers(0, CLASSES, 8))


@pytest.fixture(scope="module")
def teacher():
    return kd.models.cifar_resnet(14, CLASSES, input_shape=SHAPE, name="teacher")


@pytest.fixture(scope="module")
def s0():
    return kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE, name="s0")


def fixed(**values):
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hp


def layer_kinds(model):
    return [type(layer).__name__ for layer in model._flatten_layers(include_self=False, recursive=True)]


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def eq3(teacher, previous, res_student, x, y, temperature, tau):
    """li2021 eq. 3 per example (L2, CE on S_{i-1} + R_i), averaged, from the networks' numpy predictions."""
    t_logits, r_logits = (np.asarray(m.predict(x, verbose=0), np.float64) for m in (teacher, res_student))
    p_logits = sum(np.asarray(m.predict(x, verbose=0), np.float64) for m in previous)
    l2 = np.sum((softmax(r_logits / temperature) - softmax((t_logits - p_logits) / temperature)) ** 2, axis=-1)
    ce = -np.log(softmax(p_logits + r_logits)[np.arange(len(y)), y])
    return float(np.mean(tau * temperature**2 * l2 + (1 - tau) * ce)), float(np.mean(ce))


def test_every_knob_is_sampled_into_the_res_student(teacher, s0):
    hypermodel = HyperResStudent(teacher, [s0], depth=[8, 14], width=[1, 2], shortcut=["pad", "conv"],
                                 blocks=["S", "G"], groups=[2, 4], residual=[True, False], temperature=4.0, tau=0.3)
    hp = fixed(depth=14, width=2, shortcut="conv", block="G", groups=4, residual=False)
    model = hypermodel.build(hp)
    assert isinstance(model, kd.ResidualDistiller)
    assert model.teacher is teacher and model.previous == [s0]
    assert (model.temperature, model.tau, model.divergence, model.hard_labels) == (4.0, 0.3, "l2", "sum")
    assert model.optimizer is not None  # compiled
    expected = kd.models.cifar_resnet(14, CLASSES, block="G(4)", residual=False, shortcut="conv",
                                      widths=(32, 32, 64, 128), input_shape=SHAPE)
    student = model.res_student
    assert student.name == "r1-resnet-14-w2"
    assert student.count_params() == expected.count_params()
    assert layer_kinds(student) == layer_kinds(expected)
    assert hypermodel.deployable(model) is student
    # the other corner of every knob
    other = hypermodel.build_student(fixed(depth=8, width=1, shortcut="pad", block="S", residual=True))
    expected = kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE)
    assert other.count_params() == expected.count_params() and layer_kinds(other) == layer_kinds(expected)


def test_val_loss_is_eq3_on_held_out_data_not_the_cross_entropy(data, teacher, s0):
    (x, y), _ = data
    hypermodel = HyperResStudent(teacher, [s0], depth=8, blocks="S", temperature=4.0, tau=0.5)
    model = hypermodel.build(keras_tuner.HyperParameters())
    reported = model.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)["loss"]  # 16 = 6 + 6 + 4
    expected, ce = eq3(teacher, [s0], model.res_student, x, y, temperature=4.0, tau=0.5)
    np.testing.assert_allclose(reported, expected, rtol=1e-5)
    plain = kd.ResidualDistiller(res_student=model.res_student, teacher=teacher, previous=[s0], temperature=4.0,
                                 tau=0.5)
    plain.compile(optimizer="sgd")
    np.testing.assert_allclose(plain.evaluate(x, y, batch_size=6, verbose=0), ce, rtol=1e-5)  # what it would be
    assert abs(expected - ce) > 0.1
    kd_term = expected - 0.5 * ce  # on unlabeled data: eq. 3 without its hard-label term
    np.testing.assert_allclose(model.evaluate(x, batch_size=6, verbose=0, return_dict=True)["loss"], kd_term, rtol=1e-5)


def test_random_search_scores_eq3_and_records_costs(tmp_path, data, teacher, s0):
    (x, y), (xv, yv) = data
    hypermodel = HyperResStudent(teacher, [s0], depth=[8, 14], width=[1, 2], blocks="S", learning_rate=0.05,
                                 temperature=4.0, tau=0.5)
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_loss", max_trials=2, seed=1, directory=tmp_path)
    tuner.search(x, y, validation_data=(xv, yv), epochs=1, batch_size=8, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert [t.status for t in trials] == ["COMPLETED"] * 2
    assert tuner.oracle.objective.direction == "min"

    best_trial = tuner.oracle.get_best_trials(1)[0]
    best = tuner.get_best_models(1)[0]
    assert isinstance(best, kd.ResidualDistiller)
    expected, _ = eq3(teacher, [s0], best.res_student, xv, yv, temperature=4.0, tau=0.5)
    np.testing.assert_allclose(best_trial.score, expected, rtol=1e-4)

    records = trial_records(tuner)
    s0_params = kd.models.profile(s0)["params"]
    s0_flops = kd.models.profile(s0, convention="li2021")["flops"]
    for record, trial in zip(records, trials):
        values = trial.hyperparameters.values
        res_student = kd.models.cifar_resnet(values["depth"], CLASSES, input_shape=SHAPE,
                                             widths=tuple(values["width"] * w for w in (16, 16, 32, 64)))
        li2021 = kd.models.profile(res_student, convention="li2021")["flops"]
        assert record["params"] == res_student.count_params()
        assert record["mflops"] == pytest.approx(li2021 / 1e6)
        assert record["student_params"] == s0_params + record["params"]
        assert record["student_mflops"] == pytest.approx((s0_flops + li2021) / 1e6)
    front = pareto_front(records, direction="min", cost="mflops")
    assert front and min(r["score"] for r in records) in [r["score"] for r in front]


def test_pareto_front_direction():
    records = [{"score": 1.0, "params": 10}, {"score": 2.0, "params": 20}, {"score": 3.0, "params": 15}]
    assert [r["params"] for r in pareto_front(records)] == [10, 15]
    assert [r["params"] for r in pareto_front(records, direction="min")] == [10]
    with pytest.raises(ValueError, match="direction"):
        pareto_front(records, direction="lower")


@pytest.mark.parametrize("arguments, message", [
    ({"depth": 9}, "`depth` has an invalid value 9"),
    ({"depth": [8, 16]}, "`depth` has an invalid value 16"),
    ({"depth": Range(8, 20)}, r"depth=Range\(min=8, max=20"),
    ({"depth": Range(8, 20, step=4)}, "step that is a multiple of 6"),
    ({"width": 0}, "`width` has an invalid value 0"),
    ({"width": [1, 1.5]}, "`width` has an invalid value 1.5"),
    ({"shortcut": "identity"}, "`shortcut` has an invalid value 'identity'"),
    ({"temperature": 0.0}, "temperature"),
    ({"tau": 1.5}, "tau=1.5"),
    ({"divergence": "js"}, "divergence"),
    ({"hard_labels": "teacher"}, "hard_labels"),
    ({"previous": []}, r"previous=\[\]"),
    ({"blocks": "X"}, "`blocks` has an invalid value 'X'"),
])
def test_bad_knobs_raise_naming_argument_and_value(teacher, s0, arguments, message):
    arguments = {"teacher": teacher, "previous": [s0], **arguments}
    with pytest.raises(ValueError, match=message):
        HyperResStudent(**arguments)


def test_previous_of_other_classes_is_refused(teacher):
    other = kd.models.cifar_resnet(8, 5, input_shape=SHAPE, name="five")
    with pytest.raises(ValueError, match=r"previous\[0\].*predicts 5.*previous=\['five'\]"):
        HyperResStudent(teacher, [other])
    with pytest.raises(ValueError, match="previous"):
        HyperResStudent(teacher, [keras.layers.Dense(10)])
