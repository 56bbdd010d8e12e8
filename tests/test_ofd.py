"""OFD (keras_kd.losses.ofd, heo2019 as mdistiller's code) against a float64 numpy forward of the code."""

import math
import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.distillers.taps import TapExtractor
from keras_kd.losses.ofd import OFD, ofd_margin, ofd_margins, partial_l2
from keras_kd.models.pre_relu import pre_relu_stages
from tests.helpers import CLASSES, SHAPE, np_batch_norm_inference, np_batch_norm_training, np_pool, to_np

EPS = 1e-5  # every batch norm's epsilon, as torch's


# numpy references


def np_margin(gamma, beta):
    """mdistiller's margin loop in plain Python (the normal cdf from math.erf), the limit for gamma = 0."""
    out = []
    for g, m in zip(np.ravel(gamma), np.ravel(beta)):
        s, m = abs(float(g)), float(m)
        if s == 0:
            out.append(min(m, 0.0))
            continue
        cdf = 0.5 * (1.0 + math.erf(-m / s / math.sqrt(2.0)))
        pdf = math.exp(-((m / s) ** 2) / 2) / math.sqrt(2 * math.pi)
        out.append(-s * pdf / cdf + m if cdf > 0.001 else -3 * s)
    return np.array(out)


def np_feat_loss(source, target, margin):
    """mdistiller's ``feat_loss`` (three masked cases) summed over (H, W, C), per example."""
    loss = ((source - margin) ** 2 * ((source > margin) & (target <= margin))
            + (source - target) ** 2 * ((source > target) & (target > margin) & (target <= 0))
            + (source - target) ** 2 * (target > 0))
    return loss.reshape(len(loss), -1).sum(axis=1)


def np_ofd(student_maps, teacher_maps, kernels, connector_bns, margins, weight):
    """Per example: the connectors (1x1 conv, batch norm with batch statistics), the pooled teacher,
    ``feat_loss / 2^(n-i-1)`` summed over the stages, times ``weight``; and the code's scalar."""
    count, per_example, scalar = len(student_maps), 0.0, 0.0
    for i, (s, t, kernel, (gamma, beta), margin) in enumerate(
            zip(student_maps, teacher_maps, kernels, connector_bns, margins)):
        s = np_batch_norm_training(s.astype("float64") @ kernel[0, 0].astype("float64"), gamma, beta)
        t = np_pool(t.astype("float64"), s.shape[1], s.shape[2])
        loss = np_feat_loss(s, t, margin.reshape(1, 1, 1, -1))
        per_example = per_example + loss / 2 ** (count - i - 1)
        scalar += loss.mean() / 2 ** (count - i - 1)  # abs(loss).mean(dim=0).sum() / 2 ** (n - i - 1)
    return weight * per_example, weight * scalar


# networks


def bn_weights(norm):
    gamma, beta, mean, var = (to_np(w).astype("float64") for w in (norm.gamma, norm.beta, norm.moving_mean,
                                                                     norm.moving_variance))
    return gamma, beta, mean, var


def randomize_batch_norms(model, rng):
    """Every batch norm of ``model`` to random gamma (some negative), beta, moving mean and variance."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.normal(0, 1.0, c).astype("float32"), rng.normal(0, 1.5, c).astype("float32"),
                               rng.normal(0, 1.0, c).astype("float32"), rng.uniform(0.5, 2, c).astype("float32")])


def norms_before_relu(model):
    """The batch norm before each stage's ReLU as mdistiller's ``get_bn_before_relu``, read by layer name."""
    stages = len(model.stage_sizes)
    if isinstance(model, kd.models.VGG):
        return [model.get_layer(f"stage{i + 1}_block{model.stage_sizes[i]}").norm for i in range(stages)]
    if model.preactivation:  # WRN: block2.layer[0].bn1, block3.layer[0].bn1, bn1
        return [model.get_layer(f"stage{i + 2}_block1").norms[0] for i in range(stages - 1)] + [
            model.get_layer("head_bn")]
    return [model.get_layer(f"stage{i + 1}_block{model.stage_sizes[i]}").norms[-1] for i in range(stages)]


def connected(term, student, teacher):
    term.connect(TapExtractor(student).shapes, TapExtractor(teacher).shapes)
    term.connect_networks(student, [teacher])
    return term


# Few distinct layer shapes: JAX compiles each weight initializer once per shape.
NETWORKS = {
    "post-activation": lambda: (kd.models.get_model("resnet8", CLASSES, input_shape=SHAPE),
                                kd.models.cifar_resnet(8, CLASSES, shortcut="conv", widths=(16, 32, 64, 128),
                                                       input_shape=SHAPE)),
    "pre-activation": lambda: (kd.models.wide_resnet(10, 1, CLASSES, input_shape=SHAPE),
                               kd.models.wide_resnet(10, 2, CLASSES, input_shape=SHAPE)),
}


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_the_term_equals_the_codes_forward_on_fixed_weights(rng, kind, scale):
    """Random connectors and batch norms: per-example losses equal a float64 numpy forward of mdistiller's
    ``ofd_loss``, and their mean its scalar. A pre-activation network's feature goes through its own batch
    norm (the student's with batch statistics, the teacher's with moving ones)."""
    student, teacher = NETWORKS[kind]()
    randomize_batch_norms(student, rng)
    randomize_batch_norms(teacher, rng)
    term = connected(OFD(weight=0.5), student, teacher)
    preact = kind == "pre-activation"
    assert term.pairs == [(f"stage{i}" if preact else f"stage{i}_preact",) * 2 for i in (1, 2, 3)]
    kernels = []
    for conv, norm in term.connectors:
        kernels.append(rng.standard_normal(conv.kernel.shape).astype("float32"))
        conv.kernel.assign(kernels[-1])
        norm.gamma.assign(rng.normal(1, 0.5, norm.gamma.shape[0]).astype("float32"))
        norm.beta.assign(rng.normal(0, 1, norm.gamma.shape[0]).astype("float32"))
    connector_bns = [(to_np(n.gamma).astype("float64"), to_np(n.beta).astype("float64")) for _, n in term.connectors]
    s_shapes, t_shapes = TapExtractor(student).tap_shapes, TapExtractor(teacher).tap_shapes
    s_maps = [(rng.standard_normal((3, *s_shapes[s][1:])) * scale).astype("float32") for s, _ in term.pairs]
    t_maps = [(rng.standard_normal((3, *t_shapes[t][1:])) * scale).astype("float32") for _, t in term.pairs]
    logits = np.zeros((3, CLASSES), "float32")
    got = to_np(term.per_example((logits, dict(zip([s for s, _ in term.pairs], s_maps))),
                                 (logits, dict(zip([t for _, t in term.pairs], t_maps))), None))
    s_norms, t_norms = norms_before_relu(student), norms_before_relu(teacher)
    margins = [np_margin(*bn_weights(norm)[:2]) for norm in t_norms]
    if preact:
        s_maps = [np_batch_norm_training(m.astype("float64"), *bn_weights(n)[:2]) for m, n in zip(s_maps, s_norms)]
        t_maps = [np_batch_norm_inference(m.astype("float64"), *bn_weights(n)) for m, n in zip(t_maps, t_norms)]
    want, scalar = np_ofd(s_maps, t_maps, kernels, connector_bns, margins, 0.5)
    assert want.min() > 0
    np.testing.assert_allclose(got, want, rtol=2e-4)
    np.testing.assert_allclose(got.mean(), scalar, rtol=2e-4)


def functional(filters, strides, name):
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", name=name)(inputs)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(keras.layers.GlobalAveragePooling2D()(x)))


@pytest.mark.parametrize("margins", [[-0.7], [[-0.5, -1.0, -0.1, -2.0, 0.0]]])
def test_explicit_taps_and_margins_pool_the_teacher(rng, margins):
    """Functional networks: taps read as they are, the given margins (one number, or one per channel), the
    teacher's 8 x 8 map 2 x 2-averaged to the student's 4 x 4 (adaptive_avg_pool2d at an integer ratio)."""
    student, teacher = functional(3, 2, "s"), functional(5, 1, "t")
    term = OFD(taps={"s": "t"}, margins=margins)
    term.connect(TapExtractor(student, ["s"]).shapes, TapExtractor(teacher, ["t"]).shapes)
    term.connect_networks(student, [teacher])
    s_map = (rng.standard_normal((4, 4, 4, 3)) * 3).astype("float32")
    t_map = (rng.standard_normal((4, 8, 8, 5)) * 3).astype("float32")
    logits = np.zeros((4, CLASSES), "float32")
    got = to_np(term.per_example((logits, {"s": s_map}), (logits, {"t": t_map}), None))
    margin = np.broadcast_to(np.asarray(margins[0], "float64"), (5,))
    np.testing.assert_array_equal(to_np(term.margins[0]), margin.astype("float32"))
    conv, norm = term.connectors[0]
    want, _ = np_ofd([s_map], [t_map], [to_np(conv.kernel)], [(np.ones(5), np.zeros(5))], [margin], 1e-3)
    np.testing.assert_allclose(got, want, rtol=1e-4)


def test_connectors_start_as_the_codes(rng):
    """conv without bias, normal with std sqrt(2 / (k * k * out)), size kept (torch's padding (k - 1) // 2);
    batch norm at gamma 1, beta 0, torch's momentum 0.1 and eps 1e-5."""
    student, teacher = functional(16, 1, "s"), functional(32, 1, "t")
    term = OFD(taps={"s": "t"}, margins=[-1.0], kernel_size=3)
    term.connect(TapExtractor(student, ["s"]).shapes, TapExtractor(teacher, ["t"]).shapes)
    term.connect_networks(student, [teacher])
    conv, norm = term.connectors[0]
    kernel = to_np(conv.kernel)
    assert kernel.shape == (3, 3, 16, 32) and conv.bias is None
    np.testing.assert_allclose(kernel.std(), math.sqrt(2 / (3 * 3 * 32)), rtol=0.05)
    assert abs(kernel.mean()) < 0.005
    np.testing.assert_array_equal(to_np(norm.gamma), np.ones(32))
    np.testing.assert_array_equal(to_np(norm.beta), np.zeros(32))
    assert (norm.momentum, norm.epsilon) == (0.9, EPS)
    assert tuple(conv.compute_output_shape((2, 8, 8, 16))) == (2, 8, 8, 32)


def test_partial_l2_skips_where_the_student_is_below_a_non_positive_target():
    s = np.array([[[[-3.0, -1.0, 0.5, 2.0, -0.2]]]], "float32")
    t = np.array([[[[-2.0, -4.0, -1.0, 1.0, 0.5]]]], "float32")
    margin = np.array([-1.0, -1.5, -0.5, -1.0, -1.0], "float32")
    # targets max(t, m): -1, -1.5, -0.5, 1, 0.5; counted: s > target or target > 0
    want = 0 + (-1.0 + 1.5) ** 2 + (0.5 + 0.5) ** 2 + (2.0 - 1.0) ** 2 + (-0.2 - 0.5) ** 2
    np.testing.assert_allclose(to_np(partial_l2(s, t, margin)), [want], rtol=1e-6)


# margins

MARGIN_CASES = [  # (gamma, beta)
    (1.0, 0.0), (0.5, 1.2), (2.0, -3.0), (-1.5, 0.7),  # |gamma| is the std
    (1.0, 3.0),  # P(x < 0) = 0.00135 > 0.001: the formula
    (1.0, 3.2), (1e-3, 10.0), (0.3, 5.0),  # P(x < 0) <= 0.001: -3 std
    (0.01, -5.0),  # almost all mass below 0: about the mean
    (0.0, -2.0), (0.0, 1.0), (0.0, 0.0),  # a point mass: min(beta, 0)
]


def test_the_margin_equals_the_closed_form_and_the_conditional_mean():
    gamma, beta = (np.array(column) for column in zip(*MARGIN_CASES))
    got = ofd_margin(gamma, beta)
    np.testing.assert_allclose(got, np_margin(gamma, beta), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[4:8], [np_margin([1.0], [3.0])[0], -3.0, -3e-3, -0.9], rtol=1e-12)
    np.testing.assert_allclose(got[9:], [-2.0, 0.0, 0.0])
    for (g, m), margin in zip(MARGIN_CASES[:5], got[:5]):  # E[x | x < 0] by quadrature
        s = abs(g)
        x = np.linspace(min(m - 12 * s, -1e-9), 0.0, 400001)
        density = np.exp(-0.5 * ((x - m) / s) ** 2)
        np.testing.assert_allclose(margin, np.trapezoid(x * density, x) / np.trapezoid(density, x), rtol=1e-6)


@pytest.mark.parametrize("name", ["resnet8x4", "wrn-16-2", "vgg8"])
def test_margins_come_from_the_batch_norm_before_each_relu_of_a_zoo_teacher(rng, name):
    """mdistiller's get_bn_before_relu in keras_kd's zoo: a post-activation stage's last block's last norm,
    a WRN's next stage's first norm (the head's for the last stage), a VGG stage's last norm; the term keeps
    the default stages' margins (all of a ResNet's; a VGG's from stage 2) as float32 weights."""
    teacher = kd.models.get_model(name, 100)
    randomize_batch_norms(teacher, rng)
    expected = [np_margin(*bn_weights(norm)[:2]) for norm in norms_before_relu(teacher)]
    got = ofd_margins(teacher)
    assert list(got) == teacher.stage_names
    for stage, want in zip(got.values(), expected):
        np.testing.assert_allclose(stage, want, rtol=1e-12)
    term = connected(OFD(), kd.models.get_model(name, 100), teacher)
    first = 1 if name == "vgg8" else 0
    assert len(term.margins) == len(expected) - first
    for weight, want in zip(term.margins, expected[first:]):
        assert not weight.trainable
        np.testing.assert_allclose(to_np(weight), want.astype("float32"))


def test_stages_pair_from_the_deepest():
    """A VGG-8 student (OFD stages 2-5) against a 3-stage ResNet teacher: its last three (_align_list); an
    ImageNet-stem ResNet's default stages start at its second."""
    student = kd.models.vgg(8, CLASSES, input_shape=(16, 16, 3))
    teacher = kd.models.get_model("resnet8", CLASSES, input_shape=(16, 16, 3))
    term = connected(OFD(), student, teacher)
    assert term.pairs == [(f"stage{i + 2}_preact", f"stage{i}_preact") for i in (1, 2, 3)]
    assert [m.shape[0] for m in term.margins] == [16, 32, 64]
    explicit = connected(OFD(taps={"stage5": "stage3"}), student, teacher)
    assert explicit.pairs == [("stage5_preact", "stage3_preact")]
    imagenet = kd.models.ResidualNetwork(stage_widths=(16, 16, 32, 64), stage_sizes=(1,) * 4, num_classes=CLASSES,
                                         stem_filters=16, preactivation=False, stem="imagenet",
                                         input_shape=(32, 32, 3))
    assert pre_relu_stages(imagenet) == ["stage2", "stage3", "stage4"]  # the code's ImageNet ResNet
    assert pre_relu_stages(teacher) == ["stage1", "stage2", "stage3"]


# training, saving


def test_fits_and_a_reloaded_distiller_keeps_the_loss_and_the_margins(rng, tmp_path):
    """Two steps of fit on CIFAR ResNet-8s (RepDistiller's resnet8) with a teacher of random batch norms; a
    ``.keras`` round trip keeps the margins (saved, not recomputed from the not yet loaded teacher) and the loss."""
    student, teacher = (kd.models.get_model("resnet8", CLASSES, input_shape=SHAPE) for _ in range(2))
    randomize_batch_norms(teacher, rng)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[OFD()])
    distiller.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y = rng.standard_normal((8, *SHAPE)).astype("float32"), rng.integers(0, CLASSES, 8)
    assert distiller.student_loss_weight == 1.0
    term = distiller.terms[0]
    assert len(term.weights) == 3 * (1 + 1 + 4)  # per stage: margins, connector kernel, gamma beta mean variance
    for weight, norm in zip(term.margins, norms_before_relu(teacher)):
        np.testing.assert_allclose(to_np(weight), np_margin(*bn_weights(norm)[:2]).astype("float32"), rtol=1e-6)
    margins = [to_np(m) for m in term.margins]
    teacher_before = [w.copy() for w in distiller.teacher.get_weights()]
    connectors_before = [to_np(w) for w in term.trainable_weights]
    history = distiller.fit(x, y, batch_size=4, epochs=1, verbose=0).history  # two steps
    assert np.isfinite(history["ofd_loss"]).all() and history["ofd_loss"][0] > 0
    assert np.isfinite(distiller.evaluate(x, y, verbose=0))  # the student alone: no connector runs
    assert all(not np.array_equal(a, to_np(w)) for a, w in zip(connectors_before, term.trainable_weights))
    assert all(np.array_equal(a, b) for a, b in zip(teacher_before, distiller.teacher.get_weights()))
    for weight, margin in zip(term.margins, margins):
        np.testing.assert_array_equal(to_np(weight), margin)
    distiller.save(tmp_path / "ofd.keras")
    restored = keras.saving.load_model(tmp_path / "ofd.keras")
    again = restored.terms[0]
    assert again.get_config() == term.get_config() and again.pairs == term.pairs
    for weight, margin in zip(again.margins, margins):
        np.testing.assert_array_equal(to_np(weight), margin)

    def ofd_loss(model):
        outputs = model(x, training=True)
        return float(to_np(model.loss_parts(x, y, outputs, None)["ofd_loss"][0]))

    np.testing.assert_allclose(ofd_loss(restored), ofd_loss(distiller), rtol=1e-5)


def test_a_pre_activation_students_own_batch_norm_learns_from_the_loss(rng):
    """WRN student, cross-entropy weight 0: only OFD trains, and it reaches the head's batch norm (the last
    stage's pre-ReLU position, as the code's f3_pre = bn1(f3)) but not the classifier."""
    student = kd.models.wide_resnet(10, 1, CLASSES, input_shape=SHAPE)
    teacher = kd.models.wide_resnet(10, 2, CLASSES, input_shape=SHAPE)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[OFD(ce_weight=0.0)])
    assert distiller.student_loss_weight == 0.0
    assert len(distiller.terms[0].weights) == 3 * 6  # the student's and teacher's norms stay theirs
    distiller.compile(optimizer=keras.optimizers.SGD(0.1))
    head_bn, dense = student.get_layer("head_bn"), student.get_layer("logits")
    before = to_np(head_bn.gamma), to_np(dense.kernel)
    distiller.fit(rng.standard_normal((4, *SHAPE)).astype("float32"), rng.integers(0, CLASSES, 4),
                  batch_size=4, epochs=1, verbose=0)
    assert not np.allclose(to_np(head_bn.gamma), before[0])
    np.testing.assert_array_equal(to_np(dense.kernel), before[1])


def test_get_config_round_trips_and_the_name_finds_the_class():
    term = OFD(weight=2e-3, ce_weight=0.5, kernel_size=3, taps={"a": "b"}, margins=[[-1.0, -0.5]], name="ofd2")
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is OFD and restored.get_config() == term.get_config()
    default = kd.losses.get("ofd")
    assert (default.weight, default.ce_weight, default.kernel_size, default.taps_arg, default.margins_arg) == (
        1e-3, 1.0, 1, None, None)


# refusals


@pytest.mark.parametrize("kwargs, message", [
    ({"weight": -1.0}, "weight=-1.0"),
    ({"ce_weight": -0.5}, "ce_weight=-0.5"),
    ({"kernel_size": 2}, "kernel_size=2"),
    ({"kernel_size": 0}, "kernel_size=0"),
    ({"taps": {}}, "taps={}"),
    ({"taps": "stage1"}, "taps='stage1'"),
    ({"margins": [0.5]}, "margins=[0.5]"),
    ({"margins": [[]]}, "margins=[[]]"),
    ({"margins": [float("nan")]}, "margins=[nan]"),
    ({"margins": "x"}, "margins='x'"),
])
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        OFD(**kwargs)


def zoo_pair():
    return tuple(kd.models.get_model("resnet8", CLASSES, input_shape=SHAPE) for _ in range(2))


@pytest.mark.parametrize("make, message", [
    (lambda: (functional(3, 1, "s"), functional(5, 1, "t"), OFD()), "Received: taps=None"),
    (lambda: (functional(3, 1, "s"), functional(5, 1, "t"), OFD(taps={"s": "t"})), "Received: margins=None"),
    (lambda: (zoo_pair()[0], functional(5, 1, "t"), OFD(taps={"stage3": "t"})), "Received: margins=None"),
    (lambda: (*zoo_pair(), OFD(taps=["stage3_preact"])), "are not"),
    (lambda: (*zoo_pair(), OFD(margins=[-1.0])), "one entry per tap pair (3)"),
    (lambda: (*zoo_pair(), OFD(taps=["stage1"], margins=[[-1.0, -2.0]])), "one number per channel"),
    (lambda: (functional(3, 1, "s"), functional(5, 2, "t"), OFD(taps={"s": "t"}, margins=[-1.0])),
     "by an integer ratio"),
    (lambda: (*zoo_pair(), OFD(taps={"stage1": "nope"})), "Unknown teacher tap 'nope'"),
])
def test_networks_it_cannot_read_are_refused(make, message):
    student, teacher, term = make()
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.Distiller(student=student, teacher=teacher, losses=[term])


def test_several_teachers_and_a_second_distiller_are_refused():
    student = kd.models.get_model("resnet8", CLASSES, input_shape=SHAPE)
    teachers = [kd.models.get_model("resnet8", CLASSES, input_shape=SHAPE) for _ in range(2)]
    with pytest.raises(ValueError, match=re.escape("Received: 2 teachers")):
        kd.MultiTeacherDistiller(student=student, teachers=teachers, losses=["kd", OFD()])
    term = OFD()
    distiller = kd.MultiTeacherDistiller(student=student, teachers=teachers, losses=["kd", term],
                                         term_teachers={"ofd": 1})
    assert len(term.margins) == 3 and distiller.terms[1] is term
    with pytest.raises(ValueError, match="connected already"):
        kd.Distiller(student=student, teacher=teachers[0], losses=[term])
