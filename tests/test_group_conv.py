import keras
import numpy as np
import pytest
from keras import ops

from keras_kd.layers import GroupConv2D
from keras_kd.layers.group_conv import dilate_kernel

CHANNELS = 32
IMPLEMENTATIONS = ("auto", "native", "split", "dense")


def keras_grouped(x, kernel, groups, strides=1):
    reference = keras.layers.Conv2D(
        kernel.shape[-1], kernel.shape[:2], strides=strides, padding="same",
        groups=groups, use_bias=False,
    )
    reference.build(x.shape)
    reference.set_weights([kernel])
    return ops.convert_to_numpy(reference(x))


def grouped(x, groups=None, group_size=None, implementation="auto", **kwargs):
    layer = GroupConv2D(
        CHANNELS, 3, groups=groups, group_size=group_size,
        implementation=implementation, **kwargs,
    )
    y = ops.convert_to_numpy(layer(x))
    return layer, y


@pytest.mark.parametrize("groups", [1, 2, 4, 16, CHANNELS])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("strides", [1, 2])
def test_equals_keras_grouped_conv(rng, groups, implementation, strides):
    x = rng.standard_normal((2, 8, 8, CHANNELS)).astype("float32")
    layer, y = grouped(x, groups=groups, implementation=implementation,
                       strides=strides, padding="same")
    want = keras_grouped(x, layer.get_weights()[0], groups, strides)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("group_size", [1, 2, 8, CHANNELS])
def test_group_size_sets_groups_from_input_channels(rng, group_size):
    x = rng.standard_normal((2, 8, 8, CHANNELS)).astype("float32")
    layer, y = grouped(x, group_size=group_size)
    assert layer.groups == CHANNELS // group_size
    assert layer.kernel.shape == (3, 3, group_size, CHANNELS)
    want = keras_grouped(x, layer.get_weights()[0], CHANNELS // group_size)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_depthwise_implementation_with_channel_multiplier(rng):
    x = rng.standard_normal((2, 8, 8, 8)).astype("float32")
    layer = GroupConv2D(16, 3, groups=8, implementation="depthwise")
    y = ops.convert_to_numpy(layer(x))
    reference = keras.layers.Conv2D(16, 3, padding="same", groups=8, use_bias=False)
    reference.build(x.shape)
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, ops.convert_to_numpy(reference(x)), rtol=1e-5, atol=1e-5)


def test_symmetric_padding_pads_both_sides_like_pytorch(rng):
    x = rng.standard_normal((2, 8, 8, 4)).astype("float32")
    layer = GroupConv2D(4, 3, groups=2, strides=2, padding="symmetric")
    y = ops.convert_to_numpy(layer(x))
    padded = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)])
    reference = keras.layers.Conv2D(4, 3, strides=2, groups=2, use_bias=False)
    reference.build(padded.shape)
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(y, ops.convert_to_numpy(reference(padded)), rtol=1e-5, atol=1e-5)


def test_stride_with_dilation_equals_subsampled_dilated_conv(rng):
    """Keras rejects strides > 1 with dilation > 1; ours is exact."""
    x = rng.standard_normal((2, 9, 9, 4)).astype("float32")
    strided = GroupConv2D(6, 2, groups=1, strides=2, dilation_rate=2, padding="symmetric")
    y = ops.convert_to_numpy(strided(x))
    dense = GroupConv2D(6, 2, groups=1, dilation_rate=2, padding="symmetric")
    dense.build(x.shape)
    dense.set_weights(strided.get_weights())
    want = ops.convert_to_numpy(dense(x))[:, ::2, ::2]
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


def test_dilate_kernel_places_taps_on_the_dilated_grid():
    kernel = np.arange(1, 5, dtype="float32").reshape(2, 2, 1, 1)
    spread = ops.convert_to_numpy(dilate_kernel(kernel, (2, 3)))[..., 0, 0]
    np.testing.assert_array_equal(spread, [[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]])


def test_gradients_match_between_implementations(rng):
    x = rng.standard_normal((2, 6, 6, 8)).astype("float32")
    target = rng.standard_normal((2, 6, 6, 8)).astype("float32")
    grads = {}
    for implementation in ("native", "split", "dense"):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [keras.Input((6, 6, 8)), GroupConv2D(8, 3, groups=4, implementation=implementation)]
        )
        model.compile(optimizer=keras.optimizers.SGD(1.0), loss="mse")
        before = model.get_weights()[0]
        model.train_on_batch(x, target)
        grads[implementation] = before - model.get_weights()[0]
    np.testing.assert_allclose(grads["split"], grads["native"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["dense"], grads["native"], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"groups": 2, "group_size": 4}, "exactly one of `groups` and `group_size`"),
        ({}, "exactly one of `groups` and `group_size`"),
        ({"groups": 0}, "groups=0"),
        ({"groups": 3}, "groups=3, filters=32"),
        ({"groups": 2, "padding": "full"}, "padding='full'"),
        ({"groups": 2, "implementation": "fast"}, "implementation='fast'"),
        ({"groups": 2, "strides": 0}, "strides=(0, 0)"),
    ],
)
def test_bad_arguments_name_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        GroupConv2D(CHANNELS, 3, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"groups": 8}, "groups=8, input channels=12"),
        ({"group_size": 5}, "group_size=5, input channels=12"),
        ({"groups": 4, "implementation": "depthwise"}, "groups=4, input channels=12"),
    ],
)
def test_groups_must_divide_input_channels(kwargs, message):
    layer = GroupConv2D(CHANNELS, 3, **kwargs)
    with pytest.raises(ValueError, match=message):
        layer.build((None, 8, 8, 12))


def test_serialization_round_trip_keeps_config_and_outputs(rng, tmp_path):
    x = rng.standard_normal((2, 8, 8, CHANNELS)).astype("float32")
    model = keras.Sequential(
        [keras.Input((8, 8, CHANNELS)), GroupConv2D(CHANNELS, 3, group_size=8, use_bias=True)]
    )
    path = tmp_path / "group_conv.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert restored.layers[0].get_config() == model.layers[0].get_config()
    np.testing.assert_array_equal(
        ops.convert_to_numpy(restored(x)), ops.convert_to_numpy(model(x))
    )


@pytest.mark.parametrize(
    "backend, device, groups, channels, want",
    [
        ("torch", "cpu", 4, 64, "native"),
        ("tensorflow", "gpu", 4, 64, "native"),
        ("jax", "gpu", 64, 64, "native"),
        ("tensorflow", "cpu", 1, 64, "native"),
        ("tensorflow", "cpu", 4, 64, "split"),
        ("tensorflow", "cpu", 64, 64, "depthwise"),
        ("jax", "cpu", 16, 64, "split"),
        ("jax", "cpu", 64, 64, "dense"),
        ("jax", "cpu", 512, 512, "depthwise"),
        ("jax", "cpu", 256, 512, "split"),
    ],
)
def test_auto_policy_follows_the_measured_table(backend, device, groups, channels, want):
    from keras_kd.backend import group_conv_policy

    assert group_conv_policy.choose(groups, channels, backend, device) == want


def reference_pads(size, k, s, d, padding):
    """Independent zero padding (before, after) of one spatial dim."""
    if padding == "valid":
        return 0, 0
    total = d * (k - 1) if padding == "symmetric" else max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize("padding", ["same", "valid", "symmetric"])
@pytest.mark.parametrize("strides, dilation", [(1, 1), (2, 1), (1, 2)])
def test_native_conv_equals_padded_ops_conv(rng, padding, strides, dilation):
    """On torch "native" bypasses ops.conv (keras_kd.backend.torch_conv); same numbers."""
    x = rng.standard_normal((2, 9, 8, 8)).astype("float32")
    layer = GroupConv2D(6, 3, groups=2, strides=strides, dilation_rate=dilation, padding=padding,
                        implementation="native")
    y = ops.convert_to_numpy(layer(x))
    kernel = layer.get_weights()[0]
    pads = [reference_pads(n, 3, strides, dilation, padding) for n in x.shape[1:3]]
    padded = np.pad(x, [(0, 0), *pads, (0, 0)])
    want = ops.convert_to_numpy(ops.conv(padded, kernel, strides, "valid", dilation_rate=dilation))
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding", ["same", "valid", "symmetric"])
def test_strided_1x1_conv_with_few_channels_trains(rng, padding):
    """A 1x1 stride-2 conv on 4 channels equals ops.conv on every other pixel and trains:
    on torch it runs as a stride-1 conv of the subsampled input (torch 2.13's CPU
    backward of the strided channels-last one corrupts the heap and aborts)."""
    x = rng.standard_normal((8, 9, 9, 4)).astype("float32")
    layer = GroupConv2D(8, 1, groups=1, strides=2, padding=padding)
    y = ops.convert_to_numpy(layer(x))
    want = np.einsum("nhwc,cf->nhwf", x[:, ::2, ::2], layer.get_weights()[0][0, 0])
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    model = keras.Sequential([keras.Input(x.shape[1:]), layer, keras.layers.GlobalAveragePooling2D()])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    before = layer.get_weights()[0].copy()
    model.fit(x, rng.standard_normal((8, 8)).astype("float32"), batch_size=8, verbose=0)
    assert not np.allclose(layer.get_weights()[0], before)
