"""``InitStage``: the initialization stage of AB, FT and FSP through ``fit`` (RepDistiller's ``init``)."""

import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import CLASSES, SHAPE, image_batch


def networks():
    keras.utils.set_random_seed(0)
    return (kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE, name="student"),
            kd.models.cifar_resnet(14, CLASSES, input_shape=SHAPE, name="teacher"))


def snapshot(model):
    return {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.weights}


def moved(before, model):
    return {w.path for w in model.weights if not np.array_equal(before[w.path], keras.ops.convert_to_numpy(w))}


@pytest.mark.parametrize("term", ["ab", "fsp"])
def test_the_stage_trains_the_students_features_alone(rng, term):
    """With weight decay: the student's layers but its classifier move (batch norm statistics included:
    the code's init_modules.train()); the classifier and the teacher do not."""
    student, teacher = networks()
    stage = kd.Distiller(student=student, teacher=teacher, losses=[term]).init_stage()
    stage.compile(kd.optimizers.SGD(0.05, momentum=0.9, weight_decay=5e-4))
    student_before, teacher_before = snapshot(student), snapshot(teacher)
    x, y = image_batch(rng)
    history = stage.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert set(history) == {"loss", f"{term}_loss"} and np.isfinite(history["loss"]).all()
    changed = moved(student_before, student)
    classifier = {w.path for w in student.head[-1].weights}
    assert not changed & classifier and not moved(teacher_before, teacher)
    assert changed == set(student_before) - classifier
    assert any("moving_mean" in path for path in changed)


def test_evaluate_reports_the_stage_loss_and_moves_nothing(rng):
    student, teacher = networks()
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.AB(taps={"stage2_preact": "stage3_preact"})])
    stage = distiller.init_stage()
    stage.compile(keras.optimizers.SGD(0.05))
    before = snapshot(distiller)
    x, _ = image_batch(rng)
    logs = stage.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "ab_loss"} and logs["loss"] > 0 and not moved(before, distiller)


def test_the_stage_saves_loads_and_goes_on(rng, tmp_path):
    student, teacher = networks()
    stage = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.FT()]).init_stage()
    stage.compile(keras.optimizers.SGD(0.05, momentum=0.9))
    x, y = image_batch(rng)
    stage.fit(x, y, batch_size=8, verbose=0)
    stage.save(tmp_path / "stage.keras")
    loaded = keras.saving.load_model(tmp_path / "stage.keras")
    assert isinstance(loaded, kd.InitStage) and isinstance(loaded.distiller.terms[0], kd.losses.FT)
    for got, want in zip(loaded.weights + loaded.optimizer.variables, stage.weights + stage.optimizer.variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want))
    assert loaded.evaluate(x, verbose=0) == pytest.approx(stage.evaluate(x, verbose=0), rel=1e-6)
    assert np.isfinite(loaded.fit(x, y, batch_size=8, verbose=0).history["loss"]).all()


def test_bad_stages():
    student, teacher = networks()
    with pytest.raises(ValueError, match="has an initialization stage"):
        kd.Distiller(student=student, teacher=teacher, losses=["kd"]).init_stage()
    with pytest.raises(ValueError, match="`distiller` must be a keras_kd.Distiller"):
        kd.InitStage(distiller=student)
    stage = kd.Distiller(student=student, teacher=teacher, losses=["kd", "fsp"]).init_stage()
    assert [term.name for term in stage.staged_terms] == ["fsp"]
    with pytest.raises(ValueError, match="optimizer only. Received: metrics="):
        stage.compile("sgd", metrics=["accuracy"])


def test_fitnets_first_stage_trains_up_to_the_guided_layer(rng):
    """romero2015's stage 1: the adapter and the student's layers up to the hint tap, nothing deeper."""
    student, teacher = networks()
    hint = kd.losses.FeatureHint(taps=["stage1"])
    stage = kd.Distiller(student=student, teacher=teacher, losses=[hint]).init_stage()
    stage.compile(keras.optimizers.SGD(0.05))
    before = snapshot(student)
    x, _ = image_batch(rng)
    stage.fit(x, batch_size=8, verbose=0)
    changed = moved(before, student)
    guided = {w.path for layer in list(student.stem) + student.stages[0] for w in layer.weights}
    assert changed and changed <= guided
    assert {id(v) for v in stage.trainable_variables} == (
        {id(w) for layer in list(student.stem) + student.stages[0] for w in layer.trainable_weights}
        | {id(w) for adapter in hint.adapters.values() for w in adapter.trainable_weights})


def test_a_functional_students_stage_trains_its_layers_up_to_the_tap(rng):
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3, padding="same", name="early")(inputs)
    y = keras.layers.Conv2D(4, 3, padding="same", name="late")(x)
    logits = keras.layers.Dense(CLASSES, name="classifier")(keras.layers.GlobalAveragePooling2D()(y))
    student = keras.Model(inputs, logits)
    _, teacher = networks()
    hint = kd.losses.FeatureHint(taps={"early": "stage1"})
    stage = kd.Distiller(student=student, teacher=teacher, losses=[hint]).init_stage()
    assert {v.path for v in stage.trainable_variables} == {"early/kernel", "early/bias", "adapter_early/kernel"}
