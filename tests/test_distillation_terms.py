"""Golden-value tests of every loss term against independent numpy code."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_kd import losses
from tests.helpers import TrainableFeatures, np_attention, np_kl, softmax, to_np

SHAPES = ((10, 10, 3), None)


@pytest.fixture
def logits(rng):
    return (rng.standard_normal((8, 100)) * 4).astype("float32"), (rng.standard_normal((8, 100)) * 4).astype("float32")


@pytest.fixture
def features(rng):
    shapes = [(8, 8, 8, 4), (8, 4, 4, 8)]
    student = [rng.standard_normal(s).astype("float32") for s in shapes]
    teacher = [rng.standard_normal(s[:3] + (s[3] * 2,)).astype("float32") for s in shapes]
    return student, teacher


def taps(maps):
    return {f"stage{i + 1}": m for i, m in enumerate(maps)}


def shapes_of(logits, maps):
    return logits.shape, {name: m.shape for name, m in taps(maps).items()}


@pytest.mark.parametrize("temperature", [1.0, 4.0, 10.0])
@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9, 1.0])
def test_kd_term_hinton_and_moonshine_modes(logits, temperature, alpha):
    s, t = logits
    kl = np_kl(t, s, temperature)
    hinton = losses.KD(temperature, alpha).per_example((s, {}), (t, {}), None)
    np.testing.assert_allclose(to_np(hinton), alpha * temperature**2 * kl, rtol=1e-5, atol=1e-7)
    moonshine = losses.KD(temperature, alpha, mode="moonshine").per_example((s, {}), (t, {}), None)
    np.testing.assert_allclose(to_np(moonshine), alpha * 2 * temperature**2 * kl / 100, rtol=1e-5, atol=1e-7)
    assert losses.KD(temperature, alpha).student_loss_weight() == pytest.approx(1 - alpha)


def test_public_functional_forms(logits, features):
    s, t = logits
    np.testing.assert_allclose(
        float(to_np(losses.kd_loss(t, s, 4.0))), 16 * np.mean(np_kl(t, s, 4.0)), rtol=1e-5
    )
    fs, ft = features
    np.testing.assert_allclose(to_np(losses.attention_map(fs[0])), np_attention(fs[0]), rtol=1e-5, atol=1e-7)
    want = sum(np.mean((np_attention(a) - np_attention(b)) ** 2) for a, b in zip(fs, ft))
    np.testing.assert_allclose(float(to_np(losses.attention_transfer_loss(fs, ft))), want, rtol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kl_from_probabilities_equals_numpy_with_zero_probabilities(logits, temperature):
    s, t = logits
    p = softmax(t.astype("float64"))
    p[:, :3] = 0.0  # classes with no mass contribute 0 log 0 = 0
    p /= p.sum(-1, keepdims=True)
    q = softmax(s.astype("float64") / temperature)
    kept = p > 0
    want = np.sum(np.where(kept, p * (np.log(np.where(kept, p, 1.0)) - np.log(q)), 0.0), axis=-1)
    got = to_np(losses.kl_from_probabilities(p.astype("float32"), s, temperature))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("beta", [1.0, 1e3])
def test_attention_transfer_term_sums_taps_times_beta(logits, features, beta):
    fs, ft = features
    term = losses.AttentionTransfer(beta=beta)
    term.connect(shapes_of(logits[0], fs), shapes_of(logits[1], ft))
    got = to_np(term.per_example((logits[0], taps(fs)), (logits[1], taps(ft)), None))
    want = beta * sum(np.mean((np_attention(a) - np_attention(b)) ** 2, axis=-1) for a, b in zip(fs, ft))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_feature_hint_with_learned_adapter(logits, features):
    fs, ft = features
    term = losses.FeatureHint(weight=0.5)
    term.connect(shapes_of(logits[0], fs), shapes_of(logits[1], ft))
    assert sorted(term.adapters) == ["stage1", "stage2"]
    got = to_np(term.per_example((logits[0], taps(fs)), (logits[1], taps(ft)), None))
    want = 0.0
    for name, a, b in zip(("stage1", "stage2"), fs, ft):
        kernel = to_np(term.adapters[name].kernel)[0, 0]
        want = want + np.mean(((a @ kernel) - b).reshape(8, -1) ** 2, axis=-1)
    np.testing.assert_allclose(got, 0.5 * want, rtol=1e-4)


def test_feature_hint_without_adapter_when_channels_match(logits, features):
    fs, _ = features
    term = losses.FeatureHint(taps=["stage2"])
    term.connect(shapes_of(logits[0], fs), shapes_of(logits[1], fs))
    assert term.adapters == {}
    same = to_np(term.per_example((logits[0], taps(fs)), (logits[1], taps(fs)), None))
    np.testing.assert_allclose(same, 0.0)


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_logit_l2_and_plain_kl_terms(logits, temperature):
    s, t = logits
    l2 = losses.LogitL2(weight=2.0).per_example((s, {}), (t, {}), None)
    np.testing.assert_allclose(to_np(l2), 2.0 * np.mean((s - t) ** 2, axis=-1), rtol=1e-5)
    kl = losses.KL(temperature=temperature, weight=0.5).per_example((s, {}), (t, {}), None)
    np.testing.assert_allclose(to_np(kl), 0.5 * np_kl(t, s, temperature), rtol=1e-5, atol=1e-7)


def np_softmax_l2(target, logits, temperature):
    p, q = softmax(target.astype("float64") / temperature), softmax(logits.astype("float64") / temperature)
    return np.sum((q - p) ** 2, axis=-1)


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
@pytest.mark.parametrize("tau", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_softmax_l2_term_is_reskd_eq3_kd_part(logits, temperature, tau):
    s, t = logits
    got = losses.SoftmaxL2(temperature, tau).per_example((s, {}), (t, {}), None)
    want = tau * temperature**2 * np_softmax_l2(t, s, temperature)
    np.testing.assert_allclose(to_np(got), want, rtol=1e-5, atol=1e-7)
    assert losses.SoftmaxL2(temperature, tau).student_loss_weight() == pytest.approx(1 - tau)


def test_softmax_l2_defaults_are_li2021_s0_on_cifar10():
    term = losses.SoftmaxL2()
    assert (term.temperature, term.tau, term.name) == (20.0, 0.9, "softmax_l2")


class TrainableSides(keras.Model):
    """Student and teacher logits as trainable weights, loss = one term."""

    def __init__(self, term, student, teacher):
        super().__init__(name="sides")
        self.term = term
        self.student = self.add_weight(shape=student.shape, initializer=keras.initializers.Constant(student))
        self.teacher = self.add_weight(shape=teacher.shape, initializer=keras.initializers.Constant(teacher))
        self.built = True

    def call(self, inputs):
        return inputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return ops.mean(self.term.per_example((self.student, {}), (self.teacher, {}), y))


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the teacher's, as it should be
@pytest.mark.parametrize("make", [lambda: losses.SoftmaxL2(4.0, 0.9), lambda: losses.KD(4.0)])
def test_no_gradient_reaches_the_teacher_side(logits, make):
    s, t = logits
    model = TrainableSides(make(), s, t)
    model.compile(optimizer=keras.optimizers.SGD(10.0))
    model.train_on_batch(np.zeros((8, 1), "float32"), np.zeros(8, "int32"))
    np.testing.assert_array_equal(to_np(model.teacher), t)
    assert not np.allclose(to_np(model.student), s)


def test_softmax_l2_serialization_round_trip(logits):
    term = losses.SoftmaxL2(temperature=5.0, tau=0.5, name="reskd")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(term))
    assert isinstance(restored, losses.SoftmaxL2)
    assert (restored.temperature, restored.tau, restored.name) == (5.0, 0.5, "reskd")
    s, t = logits
    np.testing.assert_array_equal(to_np(restored.per_example((s, {}), (t, {}), None)),
                                  to_np(term.per_example((s, {}), (t, {}), None)))


def test_extreme_logits_stay_finite():
    s = np.array([[1e4, -1e4, 0.0]], "float32")
    t = np.array([[-1e4, 1e4, 0.0]], "float32")
    for term in (losses.KD(1.0), losses.KL(), losses.LogitL2(), losses.SoftmaxL2(1.0)):
        assert np.isfinite(to_np(term.per_example((s, {}), (t, {}), None))).all()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: losses.KD(temperature=0), "temperature=0"),
        (lambda: losses.KD(temperature=-2.0), "temperature=-2.0"),
        (lambda: losses.KD(alpha=1.5), "alpha=1.5"),
        (lambda: losses.KD(alpha=-0.1), "alpha=-0.1"),
        (lambda: losses.KD(mode="torch"), "mode='torch'"),
        (lambda: losses.AttentionTransfer(beta=-1), "beta=-1"),
        (lambda: losses.KL(temperature=0.0), "temperature=0.0"),
        (lambda: losses.LogitL2(weight="1"), "weight='1'"),
        (lambda: losses.SoftmaxL2(tau=1.5), "tau=1.5"),
        (lambda: losses.SoftmaxL2(tau=True), "tau=True"),
        (lambda: losses.SoftmaxL2(temperature=0), "temperature=0"),
    ],
)
def test_bad_term_arguments_name_argument_and_value(make, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        make()


def test_attention_spatial_mismatch_names_both_shapes(logits, features):
    fs, ft = features
    term = losses.AttentionTransfer(taps={"stage1": "stage2"})
    with pytest.raises(ValueError, match=r"\(8, 8, 8, 4\).*\(8, 4, 4, 16\)"):
        term.connect(shapes_of(logits[0], fs), shapes_of(logits[1], ft))


def test_unknown_tap_names_the_tap(logits, features):
    fs, ft = features
    with pytest.raises(ValueError, match="Unknown student tap 'stage9'"):
        losses.AttentionTransfer(taps=["stage9"]).connect(
            shapes_of(logits[0], fs), shapes_of(logits[1], ft)
        )


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the teacher's, as it should be
def test_attention_transfer_of_an_all_zero_map_has_finite_gradients(rng):
    student = rng.standard_normal((2, 4, 4, 3)).astype("float32")
    student[0] = 0.0  # every channel of one example dead after a ReLU
    teacher = rng.standard_normal((2, 4, 4, 5)).astype("float32")
    loss = lambda s, t: losses.attention_transfer_loss([s], [t])  # noqa: E731
    new_student, new_teacher = TrainableFeatures(loss, student, teacher).step()
    np.testing.assert_array_equal(new_teacher, teacher)
    np.testing.assert_array_equal(new_student[0], 0.0)
    assert np.isfinite(new_student).all() and not np.allclose(new_student[1], student[1])
