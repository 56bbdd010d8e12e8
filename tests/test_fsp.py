"""FSP (keras_kd.losses.fsp, yim2017 as RepDistiller's code) against numpy."""

import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.fsp import FSP, fsp_loss, fsp_matrix
from tests.helpers import CLASSES, np_pool, to_np


def np_fsp(bottom, top):
    """The code's compute_fsp of one pair: the larger map pooled, then (bot * top).mean over positions."""
    size = min(bottom.shape[1], top.shape[1])
    b, t = (np_pool(x.astype("float64"), size).reshape(len(x), -1, x.shape[-1]) for x in (bottom, top))
    return np.einsum("bpi,bpj->bij", b, t) / b.shape[1]


@pytest.mark.parametrize("scale", [1.0, 25.0])
def test_fsp_matrix_and_loss_equal_numpy(rng, scale):
    """Maps of 8, 4 and 4 pixels (the first pooled 2x2): two matrices; the loss sums their mean squares."""
    shapes = [(3, 8, 8, 2), (3, 4, 4, 3), (3, 4, 4, 5)]
    student = [(rng.standard_normal(s) * scale).astype("float32") for s in shapes]
    teacher = [(rng.standard_normal(s) * scale).astype("float32") for s in shapes]
    np.testing.assert_allclose(to_np(fsp_matrix(student[0], student[1])), np_fsp(student[0], student[1]), rtol=1e-5)
    expected = sum(((np_fsp(student[k], student[k + 1]) - np_fsp(teacher[k], teacher[k + 1])) ** 2).mean()
                   for k in range(2))
    np.testing.assert_allclose(float(to_np(fsp_loss(student, teacher))), expected, rtol=1e-5)


def test_default_taps_are_the_stem_and_the_stages_and_channels_must_agree():
    distiller = kd.Distiller(student=kd.models.cifar_resnet(8, CLASSES), teacher=kd.models.cifar_resnet(14, CLASSES),
                             losses=[FSP()])
    assert distiller.terms[0].pairs == [(name, name) for name in ("stem", "stage1", "stage2", "stage3")]
    with pytest.raises(ValueError, match="equal channels"):
        kd.Distiller(student=kd.models.wide_resnet(16, 1, CLASSES), teacher=kd.models.wide_resnet(16, 2, CLASSES),
                     losses=[FSP()])
    with pytest.raises(ValueError, match="at least two tap pairs"):
        FSP(taps=["a"]).connect(((None, CLASSES), {"a": (None, 4, 4, 2)}), ((None, CLASSES), {"a": (None, 4, 4, 2)}))


def test_distillation_weight_zero_is_cross_entropy_alone(rng):
    maps = {"a": rng.standard_normal((2, 4, 4, 3)).astype("float32"), "b": rng.standard_normal((2, 2, 2, 3))}
    logits = np.zeros((2, CLASSES), "float32")
    term = FSP(taps=["a", "b"])
    term.connect(((None, CLASSES), {k: v.shape for k, v in maps.items()}),
                 ((None, CLASSES), {k: v.shape for k, v in maps.items()}))
    assert np.array_equal(to_np(term.per_example((logits, maps), (logits, maps), None)), np.zeros(2))


def test_bad_arguments_and_config():
    with pytest.raises(ValueError, match="weight"):
        FSP(weight=-1.0)
    again = FSP.from_config(FSP(weight=3.0, taps=["stem", "stage1"]).get_config())
    assert (again.weight, again.taps_arg) == (3.0, ["stem", "stage1"])
