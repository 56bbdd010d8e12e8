"""MobileNetV3 (howard2019): keras.applications' counts, the bneck block against numpy, one training step,
saving and loading here and under the other backends, bad arguments, stage taps."""

import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_kd.layers import MobileNetV3Block
from keras_kd.models import profile
from keras_kd.models.mobilenet_v3 import MobileNetV3, mobilenet_v3_large, mobilenet_v3_small
from tests.helpers import OTHER_BACKENDS, assert_trains_and_updates, predictions_under

TINY = (16, 16, 3)
# A no-expansion row with SE (as both tables' first), a strided 5x5 SE hard-swish row, a residual row.
TINY_ROWS = ((3, 16, 16, True, "RE", 1), (5, 32, 24, True, "HS", 2), (3, 48, 24, False, "HS", 1))
BUILDERS = {"small": mobilenet_v3_small, "large": mobilenet_v3_large}
# Trainable weights with the CIFAR stem (the ImageNet stem has the same weights) at 10, 100, 1000 classes.
COUNTS = {"small": {10: 1528106, 100: 1620356, 1000: 2542856}, "large": {10: 4214842, 100: 4330132, 1000: 5483032}}
HIDDEN = {"small": 1024, "large": 1280}  # the width the logits layer reads


def numpy(x):
    return ops.convert_to_numpy(x)


def trainable(model):
    return profile(model)["trainable_params"]


def tiny(block="G(N)", residual=True):
    return MobileNetV3(5, block, residual, TINY, rows=TINY_ROWS, head_filters=(32, 48), name="tiny_mobilenet_v3")


@pytest.mark.heavy  # ~15 s on JAX (each new weight shape compiles its initializer)
@pytest.mark.parametrize("size", list(BUILDERS))
def test_counts_at_10_100_1000_classes_differ_by_the_last_dense_layer(size):
    counts = {n: trainable(BUILDERS[size](n)) for n in (10, 100, 1000)}
    assert counts == COUNTS[size]
    for n in (10, 100):
        assert counts[1000] - counts[n] == (HIDDEN[size] + 1) * (1000 - n)


@pytest.mark.heavy
@pytest.mark.parametrize("size, reference", [("small", "MobileNetV3Small"), ("large", "MobileNetV3Large")])
def test_imagenet_stem_at_1000_classes_has_keras_applications_count(size, reference):
    """keras.applications.MobileNetV3Small / Large (alpha 1), built here: 2,542,856 / 5,483,032 trainable weights
    (its top is two 1x1 convs with bias, ours two dense layers)."""
    network = getattr(keras.applications, reference)(weights=None, include_preprocessing=False)
    expected = sum(int(np.prod(w.shape)) for w in network.trainable_weights)
    model = BUILDERS[size](1000, stem="imagenet")
    assert trainable(model) == expected == COUNTS[size][1000]
    assert model.input_shape_arg == (224, 224, 3)
    last = model.stage_names[-1]
    assert model.tap_shapes[last][1:] == {"small": (7, 7, 96), "large": (7, 7, 160)}[size]


def np_batch_norm(x, norm):
    gamma, beta, mean, variance = (numpy(w).astype("float64") for w in
                                   (norm.gamma, norm.beta, norm.moving_mean, norm.moving_variance))
    return (x - mean) / np.sqrt(variance + norm.epsilon) * gamma + beta


def np_pointwise(x, conv):
    y = x @ numpy(conv.kernel).astype("float64")[0, 0]
    return y if conv.bias is None else y + numpy(conv.bias)


def np_depthwise(x, kernel, strides):
    """Depthwise conv padded ``(k - 1) / 2`` on every side, sampled every ``strides`` pixels."""
    k = kernel.shape[0]
    height, width = x.shape[1:3]
    padded = np.pad(x, [(0, 0), ((k - 1) // 2,) * 2, ((k - 1) // 2,) * 2, (0, 0)])
    y = sum(padded[:, i:i + height, j:j + width, :] * kernel[i, j, 0] for i in range(k) for j in range(k))
    return y[:, ::strides, ::strides, :]


def np_hard_swish(x):
    return x * np.clip(x + 3, 0, 6) / 6


def np_block(block, x):
    act = np_hard_swish if block.activation == "hard_swish" else (lambda v: np.maximum(v, 0))
    h = x
    if block.expand is not None:
        h = act(np_batch_norm(np_pointwise(h, block.expand), block.expand_bn))
    h = act(np_batch_norm(np_depthwise(h, numpy(block.depthwise.kernel).astype("float64"), block.strides),
                          block.depthwise_bn))
    if block.se:
        squeezed = np.maximum(np_pointwise(h.mean(axis=(1, 2), keepdims=True), block.se[0]), 0)
        h = h * np.clip(np_pointwise(squeezed, block.se[1]) + 3, 0, 6) / 6
    h = np_batch_norm(np_pointwise(h, block.project), block.project_bn)
    return h + x if block.residual and block.can_skip else h


@pytest.mark.parametrize("config, channels", [
    (dict(filters=8, exp_size=24, kernel_size=5, squeeze_excite=True, activation="hard_swish"), 8),
    (dict(filters=8, exp_size=24, kernel_size=5, squeeze_excite=True, activation="hard_swish", residual=False), 8),
    (dict(filters=12, exp_size=16, kernel_size=3, strides=2, squeeze_excite=True, activation="relu"), 16),
])
def test_block_matches_numpy_on_fixed_weights_in_inference(rng, config, channels):
    block = MobileNetV3Block(**config)
    x = rng.standard_normal((2, 7, 7, channels)).astype("float32")
    block.build(x.shape)
    for weight in block.weights:
        positive = weight.path.endswith(("gamma", "moving_variance"))
        value = rng.uniform(0.5, 1.5, weight.shape) if positive else 0.5 * rng.standard_normal(weight.shape)
        weight.assign(value.astype("float32"))
    assert (block.expand is None) == (config["exp_size"] == channels)
    assert block.can_skip == (config.get("strides", 1) == 1 and config["filters"] == channels)
    np.testing.assert_allclose(numpy(block(x, training=False)), np_block(block, x.astype("float64")),
                               rtol=1e-5, atol=1e-5)


def test_squeeze_excite_width_is_a_quarter_rounded_to_eight():
    block = MobileNetV3Block(40, exp_size=120, kernel_size=5, squeeze_excite=True)
    block.build((None, 8, 8, 40))
    assert [conv.filters for conv in block.se] == [32, 120]  # 120 / 4 = 30 -> 32, as keras.applications


def test_tiny_model_trains_one_step_and_updates_every_weight(rng):
    assert_trains_and_updates(tiny(), rng)


@pytest.mark.parametrize("block, residual", [("G(N)", True), ("g2", False)])
def test_keras_round_trip_with_safe_mode(rng, tmp_path, block, residual):
    model = tiny(block, residual)
    x = rng.standard_normal((2,) + TINY).astype("float32")
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(restored) is MobileNetV3
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(numpy(restored(x)), numpy(model(x)))


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_saved_here_predicts_identically_under_another_backend(rng, tmp_path, backend):
    x = rng.standard_normal((2,) + TINY).astype("float32")
    model = tiny()
    path = str(tmp_path / "mobilenet_v3.keras")
    model.save(path)
    theirs = predictions_under(backend, x, [path], tmp_path)
    np.testing.assert_allclose(theirs[path], numpy(model(x)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("build, message", [
    (lambda: mobilenet_v3_small(10, stem="x"), "stem='x'"),
    (lambda: MobileNetV3(10, stem="x"), "stem='x'"),
    (lambda: mobilenet_v3_large(10, residual="yes"), "residual='yes'"),
    (lambda: mobilenet_v3_large(10, block="bogus"), "block='bogus'"),
    (lambda: mobilenet_v3_small(10, block="B(2)"), "block='B(2)'"),
    (lambda: mobilenet_v3_small(0), "num_classes=0"),
    (lambda: mobilenet_v3_small(10, dropout=1.0), "dropout=1.0"),
    (lambda: MobileNetV3(10, rows=((3, 16, 16, True, "XX", 1),)), "NL='XX'"),
    (lambda: MobileNetV3(10, rows=((3, 16, 16, True, "RE"),)), "row=(3, 16, 16, True, 'RE')"),
    (lambda: MobileNetV3(10, head_filters=(960,)), "head_filters=(960,)"),
    (lambda: MobileNetV3Block(8, 16, activation="gelu"), "activation='gelu'"),
    (lambda: MobileNetV3Block(8, 16, squeeze_excite="yes"), "squeeze_excite='yes'"),
])
def test_bad_arguments_name_argument_and_value(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


@pytest.mark.heavy  # ~25 s on JAX; shapes do not depend on the backend
def test_cifar_stem_taps_at_32_px():
    large, small = mobilenet_v3_large(10), mobilenet_v3_small(10)
    assert large.stage_sizes == [1, 2, 3, 6, 3] and small.stage_sizes == [1, 2, 5, 3]
    assert {name: shape[1:] for name, shape in large.tap_shapes.items()} == {
        "stage1": (32, 32, 16), "stage2": (16, 16, 24), "stage3": (8, 8, 40), "stage4": (4, 4, 112),
        "stage5": (2, 2, 160), "embedding": (1280,)}
    assert {name: shape[1:] for name, shape in small.tap_shapes.items()} == {
        "stage1": (16, 16, 16), "stage2": (8, 8, 24), "stage3": (4, 4, 48), "stage4": (2, 2, 96),
        "embedding": (1024,)}
    assert sum(large.skippable) == 10 and sum(small.skippable) == 6


def test_taps_come_from_one_pass_and_identity_blocks_can_be_skipped(rng):
    model = tiny()
    assert model.skippable == [True, False, True]
    x = rng.standard_normal((2,) + TINY).astype("float32")
    logits, taps = model.call_with_features(x, block_gates=[False, None, False])
    assert [tuple(taps[name].shape) for name in ("stage1", "stage2", "embedding")] == [
        (2, 16, 16, 16), (2, 8, 8, 24), (2, 48)]
    stem = x
    for layer in model.stem:
        stem = layer(stem, training=False)
    np.testing.assert_array_equal(numpy(taps["stage1"]), numpy(stem))  # the skipped block passes its input on
    assert logits.shape == (2, 5)
    with pytest.raises(ValueError, match="cannot be skipped"):
        model(x, block_gates=[None, False, None])
