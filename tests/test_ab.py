"""Activation boundaries (keras_kd.losses.ab, heo2019a as RepDistiller's code) against numpy."""

import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.ab import AB, activation_boundary_loss
from tests.helpers import (CLASSES, np_batch_norm_inference, np_batch_norm_training, np_conv2d, np_conv_transpose2d,
                           randomize_weights, to_np)


def np_boundary(s, t, margin=1.0):
    """Per example: the code's criterion_alternative_l2 summed over the example's elements, float64."""
    s, t = s.astype("float64"), t.astype("float64")
    loss = (s + margin) ** 2 * ((s > -margin) & (t <= 0)) + (s - margin) ** 2 * ((s <= margin) & (t > 0))
    return loss.reshape(len(loss), -1).sum(axis=1)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_the_boundary_loss_equals_numpy(rng, scale):
    s = (rng.standard_normal((3, 4, 4, 5)) * scale).astype("float32")
    t = (rng.standard_normal((3, 4, 4, 5)) * scale).astype("float32")
    np.testing.assert_allclose(to_np(activation_boundary_loss(s, t, 0.5)), np_boundary(s, t, 0.5), rtol=1e-5)


def connected(student_taps, teacher_taps, **kwargs):
    term = AB(taps=list(student_taps), **kwargs)
    term.connect(((None, CLASSES), {k: (None, *v.shape[1:]) for k, v in student_taps.items()}),
                 ((None, CLASSES), {k: (None, *v.shape[1:]) for k, v in teacher_taps.items()}))
    return term


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_the_term_equals_numpy_on_fixed_connectors(rng, scale):
    """Four pairs, one per connector of the code's ConvReg (no ReLU): identity, 3x3 stride 2, 4x4
    transposed stride 2, valid (1 + dH) conv; weights 2^(i - 3) and 3/1000 per example; batch norm in
    training mode (the stage trains it)."""
    maps = {"a": ((3, 4, 4, 3), (3, 4, 4, 3)), "b": ((3, 8, 8, 2), (3, 4, 4, 3)),
            "c": ((3, 2, 2, 2), (3, 4, 4, 3)), "d": ((3, 5, 5, 2), (3, 4, 4, 3))}
    student = {k: (rng.standard_normal(s) * scale).astype("float32") for k, (s, _) in maps.items()}
    teacher = {k: (rng.standard_normal(t) * scale).astype("float32") for k, (_, t) in maps.items()}
    term = connected(student, teacher)
    assert sorted(term.connectors) == ["b", "c", "d"]
    for chain in term.connectors.values():
        randomize_weights(chain, rng)
    expected = 0.0
    for i, name in enumerate("abcd"):
        s = student[name].astype("float64")
        if name in term.connectors:
            bn = term.connectors[name][-1]
            conv = next(layer for layer in term.connectors[name] if hasattr(layer, "kernel"))
            kernel, bias = to_np(conv.kernel), to_np(conv.bias)
            if name == "b":
                s = np_conv2d(s, kernel, bias, stride=2, pad=1)
            elif name == "c":
                s = np_conv_transpose2d(s, kernel, bias, stride=2, crop=1)
            else:
                s = np_conv2d(s, kernel, bias)
            s = np_batch_norm_training(s, to_np(bn.gamma), to_np(bn.beta))
        expected = expected + 2.0 ** (i - 3) * 3e-3 * np_boundary(s, teacher[name])
    got = to_np(term.boundary_loss((None, student), (None, teacher), training=True))
    np.testing.assert_allclose(got, expected, rtol=2e-4)


def test_distillation_weight_zero_is_cross_entropy_alone(rng):
    s = {"a": rng.standard_normal((2, 4, 4, 3)).astype("float32")}
    logits = np.zeros((2, CLASSES), "float32")
    assert np.array_equal(to_np(connected(s, s).per_example((logits, s), (logits, s), None)), np.zeros(2))
    weighted = connected(s, s, weight=2.0).per_example((logits, s), (logits, {"a": -s["a"]}), None)
    np.testing.assert_allclose(to_np(weighted), 2.0 * 3e-3 * np_boundary(s["a"], -s["a"]), rtol=1e-5)


def test_default_taps_are_the_pre_activation_stages():
    student, teacher = kd.models.cifar_resnet(8, CLASSES), kd.models.cifar_resnet(14, CLASSES)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[AB()])
    assert distiller.terms[0].pairs == [(f"stage{i}_preact",) * 2 for i in (1, 2, 3)]
    assert distiller.student_taps.extras and distiller.teacher_taps[0].extras
    with pytest.raises(ValueError, match="default taps are the stage<N>_preact taps"):
        AB().connect(((None, CLASSES), {"stage1": (None, 4, 4, 2)}), ((None, CLASSES), {"stage1": (None, 4, 4, 2)}))


@pytest.mark.parametrize("kwargs, message", [({"weight": -1.0}, "weight"), ({"margin": 0.0}, "margin")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        AB(**kwargs)


def test_get_config_round_trips():
    term = AB(weight=0.5, margin=2.0, taps={"stage1_preact": "stage2_preact"}, name="ab2")
    again = AB.from_config(term.get_config())
    assert (again.name, again.weight, again.margin, again.taps_arg) == ("ab2", 0.5, 2.0, term.taps_arg)
    assert isinstance(kd.losses.get("ab"), AB)


def np_inference_norm(x, norm):
    return np_batch_norm_inference(x, *(to_np(w) for w in (norm.gamma, norm.beta, norm.moving_mean,
                                                           norm.moving_variance)), eps=norm.epsilon)


def test_a_wrn_reads_each_stage_through_the_next_batch_norm(rng):
    """RepDistiller's wrn.py with preact=True: f1 = block2.layer[0].bn1(f1), ..., f3 = bn1(f3); the student's
    block norms in training mode (trained with the feature modules), its head's and the teacher's in inference
    mode. VGG leaves its first stage out (the code's feat[1:-1])."""
    student, teacher = (kd.models.wide_resnet(10, 1, CLASSES, input_shape=(8, 8, 3), name=n) for n in ("s", "t"))
    for model in (student, teacher):
        for norm in [stage[0].norms[0] for stage in model.stages[1:]] + [model.head[0]]:
            randomize_weights([norm], rng)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[AB()])
    term = distiller.terms[0]
    assert term.pairs == [(f"stage{i}",) * 2 for i in (1, 2, 3)] and not term.connectors
    x = rng.standard_normal((4, 8, 8, 3)).astype("float32")
    s_out, t_out = student.call_with_features(x, training=True), teacher.call_with_features(x, training=False)
    expected = 0.0
    for i, name in enumerate(("stage1", "stage2", "stage3")):
        s_norm = student.stages[i + 1][0].norms[0] if i < 2 else student.head[0]
        t_norm = teacher.stages[i + 1][0].norms[0] if i < 2 else teacher.head[0]
        s_map = to_np(s_out[1][name]).astype("float64")
        s_map = (np_batch_norm_training(s_map, to_np(s_norm.gamma), to_np(s_norm.beta)) if i < 2
                 else np_inference_norm(s_map, s_norm))
        expected = expected + 2.0 ** (i - 2) * 3e-3 * np_boundary(s_map, np_inference_norm(to_np(t_out[1][name]), t_norm))
    got = term.boundary_loss((s_out[0], s_out[1]), (t_out[0], t_out[1]), training=True)
    np.testing.assert_allclose(to_np(got), expected, rtol=2e-4)
    vgg = kd.Distiller(student=kd.models.vgg(8, CLASSES), teacher=kd.models.vgg(8, CLASSES), losses=[AB()])
    assert vgg.terms[0].pairs == [(f"stage{i}_preact",) * 2 for i in (2, 3, 4, 5)]


def test_the_connectors_are_held_in_distillation():
    """The code's distillation optimizer leaves the connectors out: the stage trains them, fit does not."""
    student, teacher = kd.models.wide_resnet(10, 1, CLASSES), kd.models.wide_resnet(10, 2, CLASSES)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[AB(weight=1.0)])
    connectors = {id(w) for chain in distiller.terms[0].connectors.values() for layer in chain for w in layer.trainable_weights}
    assert connectors and not connectors & {id(v) for v in distiller.trainable_variables}
    assert connectors <= {id(v) for v in distiller.init_stage().trainable_variables}
