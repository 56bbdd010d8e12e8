"""Factor transfer (keras_kd.losses.ft, kim2018 as RepDistiller's code) against numpy."""

import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.ft import FT, factor_transfer_per_example
from tests.helpers import (CLASSES, np_batch_norm_training, np_conv2d, np_conv_transpose2d, randomize_weights,
                           to_np)


def np_factor(f, p1=2.0):
    f = (f.astype("float64") ** p1).mean(axis=-1).reshape(len(f), -1)
    return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)


def leaky(x):
    return np.where(x > 0, x, 0.1 * x)


def np_stack(x, chain, transposed=False):
    """The code's Paraphraser encoder / decoder or Translator: 3x3 (transposed) convs, padding 1, each
    followed by batch norm (training mode) where the chain has one, and LeakyReLU(0.1)."""
    for layer in chain:
        if hasattr(layer, "kernel"):
            kernel, bias = to_np(layer.kernel), to_np(layer.bias)
            x = np_conv_transpose2d(x, kernel, bias, crop=1) if transposed else np_conv2d(x, kernel, bias, pad=1)
        elif hasattr(layer, "gamma"):
            x = np_batch_norm_training(x, to_np(layer.gamma), to_np(layer.beta))
        else:
            x = leaky(x)
    return x


@pytest.mark.parametrize("p2", [1.0, 2.0])
def test_the_factor_loss_equals_numpy(rng, p2):
    """A 4 x 4 student factor against an 8 x 8 teacher one, pooled 2 x 2 first (adaptive_avg_pool2d)."""
    s = rng.standard_normal((3, 4, 4, 2)).astype("float32")
    t = rng.standard_normal((3, 8, 8, 3)).astype("float32") * 20
    pooled = t.astype("float64").reshape(3, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    expected = (np.abs(np_factor(s) - np_factor(pooled)) ** p2).mean(axis=1)
    np.testing.assert_allclose(to_np(factor_transfer_per_example(s, t, 2.0, p2)), expected, rtol=1e-5)


def connected(rng, scale=1.0, **kwargs):
    student = {"stage2": (rng.standard_normal((3, 4, 4, 3)) * scale).astype("float32")}
    teacher = {"stage2": (rng.standard_normal((3, 4, 4, 6)) * scale).astype("float32")}
    term = FT(**kwargs)
    term.connect(((None, CLASSES), {"stage1": (None, 8, 8, 2), "stage2": (None, 4, 4, 3)}),
                 ((None, CLASSES), {"stage1": (None, 8, 8, 2), "stage2": (None, 4, 4, 6)}))
    for chain in (term.encoder, term.decoder, term.translator):
        randomize_weights(chain, rng)
    return term, student, teacher


@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_the_paraphraser_stage_and_the_transfer_equal_numpy_on_fixed_weights(rng, scale):
    """Stage: the mean squared error of decoder(encoder(t)) against t (6 -> 6 -> 3 -> 3 -> 3 -> 6 -> 6
    channels). Distillation: 200 |factor(translator(s)) - factor(encoder(t))|, mean over positions."""
    term, student, teacher = connected(rng, scale)
    assert term.pairs == [("stage2", "stage2")]  # the last stage
    t = teacher["stage2"].astype("float64")
    reconstruction = np_stack(np_stack(t, term.encoder), term.decoder, transposed=True)
    got = term.init_parts(kd.losses.Step(None, None, None, (None, teacher)))["reconstruction"]
    np.testing.assert_allclose(to_np(got), ((reconstruction - t) ** 2).reshape(3, -1).mean(axis=1), rtol=1e-4)
    factor_s = np_stack(student["stage2"], term.translator)
    factor_t = np_stack(t, term.encoder)
    expected = 200 * np.abs(np_factor(factor_s) - np_factor(factor_t)).mean(axis=1)
    got = term.per_example((None, student), (None, teacher), None)
    np.testing.assert_allclose(to_np(got), expected, rtol=1e-4, atol=1e-6)


def test_the_paraphraser_trains_in_its_stage_only(rng):
    """The paraphraser is held out of the distiller's trainable variables (the code's optimizer leaves it
    out); the stage trains it alone and does not run the student."""
    student, teacher = kd.models.cifar_resnet(8, CLASSES), kd.models.cifar_resnet(14, CLASSES)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[FT()])
    term = distiller.terms[0]
    paraphraser = {id(w) for layer in term.encoder + term.decoder for w in layer.weights}
    assert not paraphraser & {id(v) for v in distiller.trainable_variables}
    assert paraphraser <= {id(v) for v in distiller.non_trainable_variables}
    stage = distiller.init_stage()
    assert {id(v) for v in stage.trainable_variables} == paraphraser and not stage.reads_student


@pytest.mark.parametrize("kwargs, message", [({"weight": -1.0}, "weight"), ({"rate": 0.0}, "rate"),
                                             ({"p1": -2.0}, "p1"), ({"p2": 0.0}, "p2")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FT(**kwargs)


def test_one_pair_and_config():
    with pytest.raises(ValueError, match="one tap pair"):
        FT(taps=["a", "b"]).connect(((None, CLASSES), {"a": (None, 4, 4, 2), "b": (None, 4, 4, 2)}),
                                    ((None, CLASSES), {"a": (None, 4, 4, 2), "b": (None, 4, 4, 2)}))
    again = FT.from_config(FT(weight=10.0, rate=0.25, p1=1.0, p2=2.0, taps=["stage1"]).get_config())
    assert (again.weight, again.rate, again.p1, again.p2, again.taps_arg) == (10.0, 0.25, 1.0, 2.0, ["stage1"])
