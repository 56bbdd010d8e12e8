"""The one trainer family (keras_kd.distillers.base)."""

import inspect

import keras
import numpy as np
import pytest

import keras_kd as kd

TRAINERS = [kd.Distiller, kd.MutualDistiller, kd.GKT, kd.StimulativeTraining, kd.StochasticDepth,
            kd.ResidualDistiller, kd.ResidualEnsemble, kd.distillers.SubnetTrainer]
CLASSES, SHAPE = 4, (8, 8, 3)


@pytest.mark.parametrize("trainer", TRAINERS, ids=lambda t: t.__name__)
def test_every_trainer_derives_from_the_base_and_keeps_its_step(trainer):
    assert issubclass(trainer, kd.distillers.Trainer)
    for cls in inspect.getmro(trainer):
        if cls is kd.distillers.Trainer:
            break
        for method in ("compute_loss", "train_step", "call"):
            assert method not in vars(cls), f"{cls.__name__} overrides {method}"


def net(depth=8, seed=0):
    keras.utils.set_random_seed(seed)
    return kd.models.cifar_resnet(depth, CLASSES, input_shape=SHAPE)


def data(n=8):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *SHAPE)).astype("float32"), np.arange(n) % CLASSES


def test_evaluate_reports_no_training_parts_and_training_logs_them():
    x, y = data()
    stage = kd.ResidualDistiller(res_student=net(8, 1), teacher=net(14, 2), previous=[net(8, 3)])
    stage.compile(keras.optimizers.SGD(0.01))
    history = stage.fit(x, y, epochs=1, verbose=0).history
    assert {"loss", "residual_kd_loss", "student_loss"} <= set(history)
    assert set(stage.evaluate(x, y, verbose=0, return_dict=True)) == {"loss"}


def test_deployable_is_what_inference_runs():
    x, _ = data()
    previous, res_student = [net(8, 3)], net(8, 1)
    stage = kd.ResidualDistiller(res_student=res_student, teacher=net(14, 2), previous=previous)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stage.deployable()(x)),
                               keras.ops.convert_to_numpy(stage(x)), rtol=1e-6)
    distiller = kd.Distiller(student=net(8, 1), teacher=net(14, 2))
    assert distiller.deployable() is distiller.student
    gkt = kd.GKT(net(14), num_examples=8)
    assert gkt.deployable() is gkt.model


def test_shared_weights_between_any_two_networks_are_refused():
    shared = net(8, 1)
    with pytest.raises(ValueError, match="`previous\\[0\\]` and `res_student` share weights|"
                                         "`res_student` and `previous\\[0\\]` share weights"):
        kd.ResidualDistiller(res_student=shared, teacher=net(14, 2), previous=[shared])
