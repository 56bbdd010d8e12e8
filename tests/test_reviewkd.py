"""ReviewKD (keras_kd.losses.reviewkd, chen2021 as mdistiller's code) against numpy, and as a Distiller term."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.losses.reviewkd import ReviewKD, hcl_loss, hcl_per_example, nearest_resize
from tests.helpers import (CLASSES, TrainableFeatures, np_batch_norm_training, np_conv2d, np_pool, resnet8_distiller,
                           to_np)


# numpy references of mdistiller's forward, float64, NHWC


def np_nearest(x, size):
    """torch's F.interpolate(mode="nearest") to size x size: output pixel i reads input pixel floor(i * in / out)."""
    index = np.minimum(np.floor(np.arange(size) * (x.shape[1] / size)).astype(int), x.shape[1] - 1)
    return x[:, index][:, :, index]


def np_conv(x, kernel, bias=None):
    """Stride-1 convolution with zero padding (k - 1) / 2 on each side (torch's padding=1 for 3x3, 0 for 1x1)."""
    return np_conv2d(x, kernel, bias, pad=kernel.shape[0] // 2)


def np_hcl(student_maps, teacher_maps, per_example=True):
    """mdistiller's hcl_loss: per example (each example's mean squares) or the code's scalar (means over the
    whole batch)."""
    def mse(a, b):
        squares = (a - b) ** 2
        return squares.reshape(len(a), -1).mean(axis=1) if per_example else squares.mean()

    total = 0.0
    for fs, ft in zip(student_maps, teacher_maps):
        loss, cnt, tot = mse(fs, ft), 1.0, 1.0
        for size in (4, 2, 1):
            if size >= fs.shape[1]:
                continue
            cnt /= 2.0
            loss = loss + mse(np_pool(fs, size), np_pool(ft, size)) * cnt
            tot += cnt
        total = total + loss / tot
    return total


def np_abf(x, residual, p, out_size):
    """mdistiller's ABF.forward: (output, residual for the next level)."""
    x = np_batch_norm_training(np_conv(x, *p["conv1"]), *p["bn1"])
    if "att" in p:
        residual = np_nearest(residual, x.shape[1])
        z = 1 / (1 + np.exp(-np_conv(np.concatenate([x, residual], axis=-1), *p["att"])))
        x = x * z[..., :1] + residual * z[..., 1:]
    if x.shape[1] != out_size:
        x = np_nearest(x, out_size)
    return np_batch_norm_training(np_conv(x, *p["conv2"]), *p["bn2"]), x


def np_reviewkd(student_maps, teacher_maps, params):
    """ReviewKD.forward_train's loss per example (without weight and warm-up): the ABFs from the deepest
    level up, then hcl. Maps shallow to deep; 2-D features are 1x1 maps."""
    as_map = lambda f: f.reshape(len(f), 1, 1, -1) if f.ndim == 2 else f  # noqa: E731
    student_maps = [as_map(f.astype("float64")) for f in student_maps]
    teacher_maps = [as_map(f.astype("float64")) for f in teacher_maps]
    results, residual = [None] * len(params), None
    for index in reversed(range(len(params))):
        results[index], residual = np_abf(student_maps[index], residual, params[index],
                                          teacher_maps[index].shape[1])
    return np_hcl(results, teacher_maps)


def randomize(term, rng):
    """Random kernels, biases and BN scales / offsets in every ABF; returns them as np_abf's params
    (``{layer: [its trainable weights]}``, float64)."""
    params = []
    for abf in term.abfs:
        p = {}
        for key, layer in (("conv1", abf.conv1), ("bn1", abf.bn1), ("conv2", abf.conv2), ("bn2", abf.bn2),
                           ("att", abf.att_conv)):
            if layer is None:
                continue
            values = [(rng.standard_normal(w.shape) * (1.0 if key.startswith("bn") else 0.5)).astype("float32")
                      for w in layer.trainable_weights]
            for weight, value in zip(layer.trainable_weights, values):
                weight.assign(value)
            p[key] = [value.astype("float64") for value in values]
        params.append(p)
    return params


LAYOUTS = {
    # student maps smaller than the teacher's (upsampled to them), a pooled 1x1 level last
    "upsample": ({"s1": (3, 4, 4, 3), "s2": (3, 2, 2, 5), "s_pool": (3, 6)},
                 {"t1": (3, 8, 8, 4), "t2": (3, 4, 4, 6), "t_pool": (3, 7)}),
    # student maps larger (every other pixel kept), a 4-D deepest level
    "downsample": ({"s1": (3, 8, 8, 3), "s2": (3, 4, 4, 5)}, {"t1": (3, 4, 4, 4), "t2": (3, 2, 2, 6)}),
}


def connected(layout, **kwargs):
    student_shapes, teacher_shapes = LAYOUTS[layout]
    term = ReviewKD(taps=dict(zip(student_shapes, teacher_shapes)), **kwargs)
    logits = (None, CLASSES)
    term.connect((logits, student_shapes), (logits, teacher_shapes))
    return term


def features(rng, shapes, scale=1.0):
    return {name: (rng.standard_normal(shape) * scale).astype("float32") for name, shape in shapes.items()}


@pytest.mark.parametrize("scale", [1.0, 30.0])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_term_equals_numpy_on_fixed_weights(rng, layout, scale):
    """ABF convs, train-mode BN, sigmoid attention fusion, nearest resizing and hcl against float64 numpy."""
    term = connected(layout, weight=2.0, warmup_epochs=0, max_mid_channels=4)
    assert term.mid_channels == 4  # min(4, channels of the deepest student level)
    params = randomize(term, rng)
    student, teacher = (features(rng, shapes, scale) for shapes in LAYOUTS[layout])
    logits = np.zeros((3, CLASSES), "float32")
    got = to_np(term.per_example((logits, student), (logits, teacher), None))
    want = np_reviewkd(list(student.values()), list(teacher.values()), params)
    np.testing.assert_allclose(got, 2.0 * want, rtol=2e-4, atol=1e-5)


def test_hcl_equals_numpy_and_its_batch_mean_is_the_codes_scalar(rng):
    sizes = [12, 8, 4, 2, 1]  # pooled to 4, 2, 1 / 4, 2, 1 / 2, 1 / 1 / none
    student = [rng.standard_normal((4, s, s, 3)).astype("float32") * 3 for s in sizes]
    teacher = [rng.standard_normal((4, s, s, 3)).astype("float32") for s in sizes]
    per_example = to_np(hcl_per_example(student, teacher))
    np.testing.assert_allclose(per_example, np_hcl(student, teacher), rtol=1e-5)
    scalar = np_hcl(student, teacher, per_example=False)  # the code's F.mse_loss(reduction="mean") per level
    np.testing.assert_allclose(float(to_np(hcl_loss(student, teacher))), scalar, rtol=1e-5)
    np.testing.assert_allclose(np.mean(np_hcl(student, teacher)), scalar, rtol=1e-12)  # exactly, in float64
    with pytest.raises(ValueError, match=re.escape("6 x 6 does not divide into 4 x 4")):
        hcl_loss([student[0][:, :6, :6]], [teacher[0][:, :6, :6]])
    with pytest.raises(ValueError, match="pairs of equal square NHWC maps"):
        hcl_loss([student[1]], [teacher[2]])


@pytest.mark.filterwarnings("ignore:Gradients do not exist")  # the teacher's, as it should be
def test_hcl_sends_no_gradient_to_the_teacher(rng):
    student, teacher = (rng.standard_normal((2, 4, 4, 3)).astype("float32") for _ in range(2))
    new_student, new_teacher = TrainableFeatures(lambda s, t: hcl_loss([s], [t]), student, teacher).step()
    np.testing.assert_array_equal(new_teacher, teacher)
    assert not np.allclose(new_student, student)


@pytest.mark.parametrize("sizes", [(1, 8), (2, 8), (4, 8), (3, 9), (5, 15), (7, 14), (8, 4), (8, 2), (9, 3), (6, 6)])
def test_nearest_resize_is_torchs_nearest(rng, sizes):
    """Integer ratios up and down: torch's floor(i * in / out) rule in numpy, and torch itself on torch."""
    size, target = sizes
    x = rng.standard_normal((2, size, size, 3)).astype("float32")
    got = to_np(nearest_resize(x, target))
    np.testing.assert_array_equal(got, np_nearest(x, target))
    if keras.backend.backend() == "torch":
        import torch

        want = torch.nn.functional.interpolate(torch.tensor(x).permute(0, 3, 1, 2), (target, target), mode="nearest")
        np.testing.assert_array_equal(got, want.permute(0, 2, 3, 1).numpy())
    with pytest.raises(ValueError, match=re.escape("a 4 x 4 map to resize to 6 x 6")):
        nearest_resize(np.zeros((1, 4, 4, 1), "float32"), 6)


def test_the_loss_warms_up_by_epoch(rng):
    """weight * min(epoch / warmup_epochs, 1), epochs from 1, counted from the term's steps."""
    term = connected("upsample", weight=5.0, warmup_epochs=4, steps_per_epoch=3)
    student, teacher = (features(rng, shapes) for shapes in LAYOUTS["upsample"])
    logits = np.zeros((3, CLASSES), "float32")
    maps = [f.reshape(3, 1, 1, -1) if f.ndim == 2 else f for f in teacher.values()]
    base = to_np(hcl_per_example(term.outputs(list(student.values())), maps))  # BN on batch statistics: fixed
    for count in range(15):  # epochs 1..5 of 3 steps: 1/4, 2/4, 3/4, 1, 1
        got = to_np(term.per_example((logits, student), (logits, teacher), None))
        np.testing.assert_allclose(got, 5.0 * min((count // 3 + 1) / 4, 1.0) * base, rtol=1e-5)
    assert int(to_np(term.steps)) == 15


def test_outside_training_the_batch_norms_use_their_moving_statistics_and_no_step_counts(rng):
    term = connected("downsample", warmup_epochs=2, steps_per_epoch=1)
    student, teacher = (features(rng, shapes) for shapes in LAYOUTS["downsample"])
    logits = np.zeros((3, CLASSES), "float32")
    statistics = [to_np(w) for w in term.non_trainable_weights]
    inference = to_np(term.per_example((logits, student), (logits, teacher), None, training=False))
    assert int(to_np(term.steps)) == 0
    for before, after in zip(statistics, term.non_trainable_weights):
        np.testing.assert_array_equal(before, to_np(after))
    for abf in term.abfs:  # at their initial moving statistics (0, 1) the batch norms scale by 1 / sqrt(1 + eps)
        for bn in (abf.bn1, abf.bn2):
            bn.moving_mean.assign(np.full(bn.moving_mean.shape, 0.5, "float32"))
    shifted = to_np(term.per_example((logits, student), (logits, teacher), None, training=False))
    training = to_np(term.per_example((logits, student), (logits, teacher), None))
    assert int(to_np(term.steps)) == 1
    assert not np.allclose(inference, shifted) and not np.allclose(inference, training)


def test_connecting_again_keeps_the_layers_and_other_networks_are_refused():
    term = connected("upsample", warmup_epochs=0)
    abfs = list(term.abfs)
    student_shapes, teacher_shapes = LAYOUTS["upsample"]
    term.connect(((None, CLASSES), student_shapes), ((None, CLASSES), teacher_shapes))
    assert list(term.abfs) == abfs
    with pytest.raises(ValueError, match="connected to other networks"):
        term.connect(((None, CLASSES), {**student_shapes, "s1": (3, 4, 4, 9)}), ((None, CLASSES), teacher_shapes))


def torch_abf_parameters(in_channels, out_channels):
    """What mdistiller's ReviewKD.get_extra_parameters counts (sum of p.numel() over self.abfs.parameters()),
    by arithmetic from its module definitions:

        mid_channel = min(512, in_channels[-1])
        ABF(in_channel, mid_channel, out_channels[idx], idx < len(in_channels) - 1)
        self.conv1 = Sequential(Conv2d(in_channel, mid_channel, kernel_size=1, bias=False), BatchNorm2d(mid_channel))
        self.conv2 = Sequential(Conv2d(mid_channel, out_channel, kernel_size=3, stride=1, padding=1, bias=False),
                                BatchNorm2d(out_channel))
        if fuse: self.att_conv = Sequential(Conv2d(mid_channel * 2, 2, kernel_size=1), Sigmoid())

    A BatchNorm2d has 2 parameters per channel (weight, bias; its running statistics are buffers); the
    attention conv has a bias."""
    mid = min(512, in_channels[-1])
    total = 0
    for index, (channels_in, channels_out) in enumerate(zip(in_channels, out_channels)):
        total += channels_in * mid + 2 * mid + mid * channels_out * 3 * 3 + 2 * channels_out
        if index < len(in_channels) - 1:
            total += 2 * mid * 2 + 2
    return total


@pytest.mark.heavy
@pytest.mark.parametrize("teacher, student, code", [
    # mdistiller's cfg.py (its CIFAR-100 default, the ResNet32x4 -> ResNet8x4 pair)
    ("resnet32x4", "resnet8x4", {"in_channels": [64, 128, 256, 256], "out_channels": [64, 128, 256, 256],
                                 "shapes": [1, 8, 16, 32], "out_shapes": [1, 8, 16, 32], "mid_channels": 256}),
    # the authors' build_review_kd for a 'wrn' student: [16r, 32r, 64r, 64r], out [32, 64, 128, 128]
    ("wrn-40-2", "wrn-16-2", {"in_channels": [32, 64, 128, 128], "out_channels": [32, 64, 128, 128],
                              "shapes": [1, 8, 16, 32], "out_shapes": [1, 8, 16, 32], "mid_channels": 128}),
])
def test_connect_derives_the_codes_settings_and_parameters(teacher, student, code):
    term = ReviewKD(steps_per_epoch=1)
    kd.Distiller(student=kd.models.get_model(student, 100), teacher=kd.models.get_model(teacher, 100), losses=[term])
    assert {name: getattr(term, name) for name in code} == code
    assert term.taps == (("stage1", "stage1_preact"), ("stage2", "stage2_preact"), ("stage3", "stage3_preact"),
                         ("embedding", "embedding"))
    count = sum(int(np.prod(w.shape)) for w in term.trainable_weights)
    assert count == torch_abf_parameters(code["in_channels"], code["out_channels"])
    assert count == {"resnet8x4": 1_808_774, "wrn-16-2": 453_830}[student]
    for abf in term.abfs:  # the code's initialization: kaiming_uniform_(a=1), torch's default for att_conv
        for conv in (abf.conv1, abf.conv2):
            kernel = to_np(conv.kernel)
            bound = np.sqrt(3 / np.prod(kernel.shape[:3]))
            assert 0.95 * bound < np.abs(kernel).max() <= bound
        if abf.att_conv is not None:
            bound = 1 / np.sqrt(2 * term.mid_channels)
            assert np.abs(to_np(abf.att_conv.kernel)).max() <= bound and np.abs(to_np(abf.att_conv.bias)).max() <= bound
        np.testing.assert_array_equal(to_np(abf.bn2.gamma), 1.0)


def shapes_of(**taps):
    return (None, CLASSES), {name: (None, *shape) for name, shape in taps.items()}


def test_default_taps_and_the_students_preactivation():
    """Each stage then the embedding; the student's stage<i>_preact with student_preact (the code's STU_PREACT)."""
    taps = dict(stage1=(8, 8, 16), stage2=(4, 4, 32), embedding=(32,), stage1_preact=(8, 8, 16),
                stage2_preact=(4, 4, 32))
    for student_preact, student_taps in ((False, ["stage1", "stage2"]), (True, ["stage1_preact", "stage2_preact"])):
        term = ReviewKD(warmup_epochs=0, student_preact=student_preact)
        term.connect(shapes_of(**taps), shapes_of(**taps))
        assert term.taps == tuple(zip(student_taps + ["embedding"], ["stage1_preact", "stage2_preact", "embedding"]))
        assert (term.in_channels, term.shapes, term.out_shapes, term.mid_channels) == ([16, 32, 32], [1, 4, 8],
                                                                                       [1, 4, 8], 32)


def test_trains_saves_and_loads_with_the_same_loss(rng, tmp_path):
    """fit trains the ABFs and moves their BN statistics; a .keras round trip keeps weights, steps and loss."""
    distiller, x, y = resnet8_distiller(rng, ReviewKD(steps_per_epoch=2), examples=8)
    term = distiller.terms[0]
    before = {w.path: to_np(w) for w in term.weights}
    distiller.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert all(not np.array_equal(to_np(w), before[w.path]) for w in term.weights)  # steps and BN statistics too
    distiller.save(tmp_path / "reviewkd.keras")
    restored = keras.saving.load_model(tmp_path / "reviewkd.keras")
    again = restored.terms[0]
    assert type(again) is ReviewKD and again.get_config() == term.get_config() and int(to_np(again.steps)) == 2
    for a, b in zip(term.weights, again.weights):
        np.testing.assert_array_equal(to_np(a), to_np(b))

    def loss(model):
        return to_np(model.loss_parts(x, y, model(x, training=True), None)["reviewkd_loss"][0])

    np.testing.assert_allclose(loss(restored), loss(distiller), rtol=1e-6)


def test_get_config_round_trips_and_the_name_finds_the_class():
    term = ReviewKD(weight=1.0, warmup_epochs=1, steps_per_epoch=10, max_mid_channels=256, student_preact=True,
                    taps={"stage2": "stage2_preact", "embedding": "embedding"}, name="review")
    restored = kd.losses.get(keras.saving.serialize_keras_object(term))
    assert type(restored) is ReviewKD and restored.get_config() == term.get_config()
    assert list(restored.taps_arg.items()) == [("stage2", "stage2_preact"), ("embedding", "embedding")]
    default = kd.losses.get("reviewkd", steps_per_epoch=5)
    assert (default.weight, default.warmup_epochs, default.max_mid_channels, default.student_preact,
            default.taps_arg) == (5.0, 20, 512, False, None)


@pytest.mark.parametrize("kwargs, message", [
    ({}, "Received: steps_per_epoch=None, warmup_epochs=20"),
    ({"warmup_epochs": 0, "weight": -1.0}, "weight=-1.0"),
    ({"warmup_epochs": -1}, "warmup_epochs=-1"),
    ({"warmup_epochs": 2, "steps_per_epoch": 0}, "steps_per_epoch=0"),
    ({"warmup_epochs": 0, "max_mid_channels": 0}, "max_mid_channels=0"),
    ({"warmup_epochs": 0, "student_preact": 1}, "student_preact=1"),
    ({"warmup_epochs": 0, "taps": ["stage1"]}, "taps=['stage1']"),
    ({"warmup_epochs": 0, "taps": {}}, "taps={}"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ReviewKD(**kwargs)


@pytest.mark.parametrize("student, teacher, taps, message", [
    (dict(a=(4, 4, 3)), dict(b=(4, 4, 3)), {"a": "c"}, "Unknown teacher tap 'c'"),
    (dict(a=(4, 2, 3)), dict(b=(4, 4, 3)), {"a": "b"}, "student tap 'a' has shape (None, 4, 2, 3)"),
    (dict(a=(6, 6, 3)), dict(b=(4, 4, 3)), {"a": "b"}, "resizes its student map to its teacher map's size, 6 to 4"),
    (dict(a=(4, 4, 3), c=(3, 3, 3)), dict(b=(4, 4, 3), d=(3, 3, 3)), {"a": "b", "c": "d"},
     "resizes the deeper level's output to its student map's size, 3 to 4"),
    (dict(a=(6, 6, 3)), dict(b=(6, 6, 3)), {"a": "b"}, "6 x 6 does not divide into 4 x 4"),
    (dict(stage1=(4, 4, 3), stage2=(2, 2, 3), embedding=(3,)), dict(stage1=(4, 4, 3), stage2=(2, 2, 3), embedding=(3,)),
     None, "missing taps: ['stage1_preact', 'stage2_preact']"),
    (dict(stage1=(4, 4, 3), embedding=(3,)), dict(stage1=(4, 4, 3), stage2=(2, 2, 3), embedding=(3,),
                                                   stage1_preact=(4, 4, 3), stage2_preact=(2, 2, 3)),
     None, "in networks with as many stages"),
])
def test_networks_that_do_not_fit_are_refused(student, teacher, taps, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ReviewKD(warmup_epochs=0, taps=taps).connect(shapes_of(**student), shapes_of(**teacher))
