"""The units of ShuffleNet, ShuffleNet V2, Xception and Inception against numpy on fixed inputs."""

import keras
import numpy as np
import pytest
from keras import layers, ops

from keras_kd.layers import InceptionModule, ShuffleV1Unit, ShuffleV2Unit, channel_shuffle
from keras_kd.layers.inception import conv
from keras_kd.layers.xception_block import max_pool_padded
from keras_kd.models import ShuffleNetV1, ShuffleNetV2, Xception

TINY = (16, 16, 3)


def test_channel_shuffle_is_torchs_view_transpose_order():
    """torch: x.view(N, g, C/g, H, W).transpose(1, 2): position j * g + i holds channel i * C/g + j."""
    groups, channels = 3, 12
    x = np.broadcast_to(np.arange(channels, dtype="float32"), (1, 2, 2, channels))
    shuffled = ops.convert_to_numpy(channel_shuffle(ops.convert_to_tensor(x), groups))[0, 0, 0]
    per_group = channels // groups
    expected = [i * per_group + j for j in range(per_group) for i in range(groups)]
    np.testing.assert_array_equal(shuffled, expected)


def test_shufflenet_v2_unit_keeps_its_first_half_on_the_even_channels(rng):
    unit = ShuffleV2Unit(8)
    x = rng.standard_normal((2, 4, 4, 8)).astype("float32")
    y = ops.convert_to_numpy(unit(x, training=False))
    np.testing.assert_array_equal(y[..., 0::2], x[..., :4])
    assert not np.allclose(y[..., 1::2], x[..., 4:])


def numpy_avg_pool_3x3_counting_padding(x, stride=2):
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    size = (x.shape[1] - 1) // stride + 1
    return np.stack([np.stack([padded[:, stride * r : stride * r + 3, stride * c : stride * c + 3].sum(axis=(1, 2)) / 9
                               for c in range(size)], axis=1) for r in range(size)], axis=1)


def test_shufflenet_unit_concatenates_a_zero_padded_average_pool_at_stride_2(rng):
    """torch's AvgPool2d(3, 2, padding=1) divides by 9 at the borders too (count_include_pad)."""
    unit = ShuffleV1Unit(24, strides=2, groups=3, input_groups=1)
    x = rng.standard_normal((2, 6, 6, 12)).astype("float32")
    y = ops.convert_to_numpy(unit(x, training=False))
    assert y.shape == (2, 3, 3, 24)
    np.testing.assert_allclose(y[..., 12:], np.maximum(numpy_avg_pool_3x3_counting_padding(x), 0),
                               atol=1e-6)


@pytest.mark.parametrize("strides", [1, 2])
def test_xception_max_pool_pads_minus_infinity_on_every_side(rng, strides):
    x = -np.abs(rng.standard_normal((1, 6, 6, 2))).astype("float32")  # all negative: zero padding would show
    y = ops.convert_to_numpy(max_pool_padded(ops.convert_to_tensor(x), layers.MaxPooling2D(3, strides)))
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    size = 6 // strides
    expected = np.array([[padded[0, strides * r : strides * r + 3, strides * c : strides * c + 3].max(axis=(0, 1))
                          for c in range(size)] for r in range(size)])
    np.testing.assert_array_equal(y[0], expected)


def test_which_units_can_be_skipped():
    """ShuffleNet's stride-1 units and Xception's middle flow add an identity; ShuffleNet V2 concatenates."""
    v1 = ShuffleNetV1(5, input_shape=TINY, stages=((48, 1), (96, 2)))
    assert v1.skippable == [False, False, True]
    v2 = ShuffleNetV2(5, input_shape=TINY, stages=((16, 2), (32, 1)), head_filters=32)
    assert not any(v2.skippable)
    xception = Xception(5, input_shape=TINY, middle_blocks=2)
    assert xception.skippable == [False] * 3 + [True] * 2 + [False] * 3


def test_xception_shortcuts_read_the_relud_input_as_the_reference_code(rng):
    """In a middle block with its convs zeroed the output is the identity: ReLU(x) with the reference's in-place
    ReLU (the default), x itself with chollet2017's form."""
    x = rng.standard_normal((2,) + TINY).astype("float32")
    for inplace_relu in (True, False):
        block = Xception(5, input_shape=TINY, middle_blocks=1, inplace_relu=inplace_relu).blocks[3]
        for weight in block.trainable_weights:
            if "kernel" in weight.path:
                weight.assign(ops.zeros(weight.shape))
        features = rng.standard_normal((2, 4, 4, 728)).astype("float32")
        y = ops.convert_to_numpy(block(features, training=False))
        np.testing.assert_allclose(y, np.maximum(features, 0) if inplace_relu else features, atol=1e-6)


def test_shufflenet_v2_stride_1_unit_refuses_a_width_change():
    with pytest.raises(ValueError, match="filters=12"):
        ShuffleV2Unit(12).build((None, 4, 4, 8))


def test_a_shufflenet_unit_trains_every_weight_but_a_gamma_its_batch_norms_cancel(rng):
    """The first BN's gamma scales each channel before ReLU, a depthwise conv and a BN in training mode, which
    normalizes the scale away: its gradient is zero up to BN's epsilon (in torch too); every other weight moves."""
    unit = ShuffleV1Unit(24, groups=3)
    x = keras.Input((4, 4, 24))
    model = keras.Model(x, unit(x))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = {w.path: ops.convert_to_numpy(w) for w in unit.trainable_weights}
    model.train_on_batch(rng.standard_normal((2, 4, 4, 24)).astype("float32"), np.ones((2, 4, 4, 24), "float32"))
    for weight in unit.trainable_weights:
        change = np.abs(ops.convert_to_numpy(weight) - before[weight.path]).max()
        assert (change < 1e-5) if weight.path.endswith("conv1_bn/gamma") else change > 0, weight.path


def test_inception_module_concatenates_its_branches_and_averages_over_the_zero_padding(rng):
    """An average-pool branch (torch's AvgPool2d(3, 1, padding=1): / 9 at the borders too), an identity-like
    max-pool branch and a fork of a 1x3 and a 3x1 conv: 3 + 3 + 2 + 2 channels, in branch order."""
    module = InceptionModule([[["avg", 3, 1, 1]], [["max", 1, 1]], [["fork", [conv(2, (1, 3))], [conv(2, (3, 1))]]]])
    x = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    y = ops.convert_to_numpy(module(x, training=False))
    assert y.shape == (2, 5, 5, 10) and module.compute_output_shape((None, 5, 5, 3)) == (None, 5, 5, 10)
    np.testing.assert_allclose(y[..., :3], numpy_avg_pool_3x3_counting_padding(x, stride=1), atol=1e-6)
    np.testing.assert_array_equal(y[..., 3:6], x)
    assert (y[..., 6:] >= 0).all()  # conv-BN-ReLU


def test_inception_module_refuses_an_unknown_step():
    with pytest.raises(ValueError, match="Unknown Inception step kind"):
        InceptionModule([[["dilated", 3]]]).build((None, 5, 5, 3))


def test_li2021_counting_adds_each_average_pools_outputs():
    """A tiny ShuffleNet at 16 px: its stride-2 units' pooled shortcuts give 8 x 8 x 24 and 4 x 4 x 48 outputs, one
    op each in li2021's (thop's) convention, beside 2 per BatchNorm output (no conv biases)."""
    from keras_kd.models import profile
    from keras_kd.models.profile import batch_norm_outputs

    model = ShuffleNetV1(5, input_shape=TINY, stages=((48, 1), (96, 2)))
    norms = sum(batch_norm_outputs(layer) for layer in model._flatten_layers(include_self=False, recursive=True))
    extra = profile(model, convention="li2021")["flops"] - profile(model)["flops"] - 2 * norms
    assert extra == 8 * 8 * 24 + 4 * 4 * 48
