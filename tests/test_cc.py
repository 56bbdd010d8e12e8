"""Correlation congruence (keras_kd.losses.cc, peng2019: RepDistiller's code and the paper's kernel form)
against numpy, and as a term."""

import math

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.cc import CC, cc_loss
from tests.helpers import CLASSES, TrainableFeatures, resnet8_distiller, to_np


def np_cc(student, teacher):
    """RepDistiller's Correlation: d = |f_s - f_t|, mean over i of sum_k d[i, k] d[i + 1, k], in float64."""
    delta = np.abs(student.reshape(len(student), -1).astype("float64") - teacher.reshape(len(teacher), -1))
    return np.mean(np.sum(delta[:-1] * delta[1:], axis=1))


def np_kernel_cc(student, teacher, gamma=0.4, p_order=2):
    """peng2019's kernel form in float64: per side C[i, j] = sum_p e^(-2 gamma) (2 gamma)^p / p! (u_i . u_j)^p
    over unit rows u; the mean squared difference of the two (B, B) matrices."""
    def correlation(f):
        f = f.reshape(len(f), -1).astype("float64")
        unit = f / np.linalg.norm(f, axis=1, keepdims=True)
        cosine = unit @ unit.T
        return sum(math.exp(-2 * gamma) * (2 * gamma) ** p / math.factorial(p) * cosine ** p
                   for p in range(p_order + 1))
    return np.mean((correlation(student) - correlation(teacher)) ** 2)


def test_the_expansion_approaches_the_gaussian_rbf_of_unit_rows(rng):
    """The paper's kernel is exp(-gamma ||u_i - u_j||^2): a high order recovers it."""
    from keras_kd.losses.cc import correlation_matrix
    f = rng.standard_normal((5, 7)).astype("float32")
    unit = f / np.linalg.norm(f, axis=1, keepdims=True)
    rbf = np.exp(-0.4 * np.sum((unit[:, None] - unit[None]) ** 2, axis=-1))
    np.testing.assert_allclose(to_np(correlation_matrix(f, 0.4, 12)), rbf, atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("gamma, p_order", [(0.4, 2), (1.5, 3), (0.4, 0)])
def test_paper_mode_equals_numpy(rng, scale, gamma, p_order):
    student = (rng.standard_normal((6, 2, 2, 2)) * scale).astype("float32")
    teacher = (rng.standard_normal((6, 5)) * scale).astype("float32")  # widths may differ: B x B matrices
    got = float(to_np(cc_loss(student, teacher, mode="paper", gamma=gamma, p_order=p_order)))
    np.testing.assert_allclose(got, np_kernel_cc(student, teacher, gamma, p_order), rtol=1e-5, atol=1e-12)


def test_the_term_in_paper_mode_takes_the_kernel_form_of_the_embeddings(rng):
    student, teacher = rng.standard_normal((5, 6)).astype("float32"), rng.standard_normal((5, 4)).astype("float32")
    logits = np.zeros((5, CLASSES), "float32")
    term = CC(weight=2.0, feat_dim=3, tap="f", mode="paper", gamma=0.7, p_order=3)
    term.connect((logits.shape, {"f": student.shape}), (logits.shape, {"f": teacher.shape}))
    weights = [rng.standard_normal(w.shape).astype("float32") for w in term.trainable_weights]
    for variable, value in zip(term.trainable_weights, weights):
        variable.assign(value)
    w_s, b_s, w_t, b_t = weights
    want = 2.0 * np_kernel_cc(student @ w_s + b_s, teacher @ w_t + b_t, 0.7, 3)
    got = to_np(term.per_example((logits, {"f": student}), (logits, {"f": teacher}), None))
    np.testing.assert_allclose(got, np.full(5, want), rtol=1e-5)


@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_cc_loss_equals_numpy(rng, scale):
    student = (rng.standard_normal((6, 2, 2, 2)) * scale).astype("float32")  # flattened to (6, 8)
    teacher = (rng.standard_normal((6, 8)) * scale).astype("float32")
    np.testing.assert_allclose(float(to_np(cc_loss(student, teacher))), np_cc(student, teacher), rtol=1e-5)


def test_the_term_embeds_both_sides_linearly_then_takes_cc(rng):
    """Fixed embedding weights: the term equals weight * numpy CC of (s W_s + b_s, t W_t + b_t)."""
    student, teacher = rng.standard_normal((5, 6)).astype("float32"), rng.standard_normal((5, 4)).astype("float32")
    logits = np.zeros((5, CLASSES), "float32")
    term = CC(weight=0.5, feat_dim=3, tap="f")
    term.connect((logits.shape, {"f": student.shape}), (logits.shape, {"f": teacher.shape}))
    weights = [rng.standard_normal(w.shape).astype("float32") for w in term.trainable_weights]
    for variable, value in zip(term.trainable_weights, weights):
        variable.assign(value)
    w_s, b_s, w_t, b_t = weights
    want = 0.5 * np_cc(student @ w_s + b_s, teacher @ w_t + b_t)
    got = to_np(term.per_example((logits, {"f": student}), (logits, {"f": teacher}), None))
    np.testing.assert_allclose(got, np.full(5, want), rtol=1e-5)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the teacher's, as it should be
def test_the_functional_form_sends_no_gradient_to_the_teacher(rng):
    student, teacher = rng.standard_normal((4, 3)).astype("float32"), rng.standard_normal((4, 3)).astype("float32")
    new_student, new_teacher = TrainableFeatures(cc_loss, student, teacher).step()
    np.testing.assert_array_equal(new_teacher, teacher)
    assert not np.allclose(new_student, student)


def test_both_embeddings_train_with_the_student(rng):
    """RepDistiller trains embed_s and embed_t (its trainable_list): the teacher's features are frozen, its
    embedding is not."""
    distiller, x, y = resnet8_distiller(rng, CC(feat_dim=4))
    distiller.fit(x, y, epochs=1, batch_size=4, verbose=0)
    cc = distiller.terms[0]
    before = {w.path: to_np(w) for w in cc.trainable_weights}
    distiller.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert all(not np.array_equal(to_np(w), before[w.path]) for w in cc.trainable_weights)


@pytest.mark.parametrize("mode", ["code", "paper"])
def test_get_config_round_trips_and_the_name_finds_the_class(mode):
    term = CC(weight=0.5, feat_dim=64, tap="stage3", name="cc_stage3", mode=mode, gamma=0.3, p_order=4)
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is CC and restored.get_config() == term.get_config()
    default = kd.losses.get("cc")
    assert (type(default), default.weight, default.feat_dim, default.tap, default.mode, default.gamma,
            default.p_order) == (CC, 0.02, 128, "embedding", "code", 0.4, 2)


@pytest.mark.parametrize("make, message", [
    (lambda: CC(weight=-1.0), "weight=-1.0"),
    (lambda: CC(feat_dim=0), "feat_dim=0"),
    (lambda: CC(mode="kernel"), "mode='kernel'"),
    (lambda: CC(mode="paper", gamma=0.0), "gamma=0.0"),
    (lambda: CC(p_order=-1), "p_order=-1"),
    (lambda: cc_loss(np.zeros((3, 4), "float32"), np.zeros((3, 4), "float32"), mode="Paper"), "mode='Paper'"),
    (lambda: cc_loss(np.zeros((3, 4), "float32"), np.zeros((3, 5), "float32")), "teacher width 5"),
])
def test_bad_arguments_name_the_value(make, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        make()
