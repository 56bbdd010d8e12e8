"""The candidate operations of the DARTS search space (liu2019 §3.1), channels last, as its reference
code (quark0/darts ``cnn/operations.py``) computes them.

- ``sep_conv_3x3`` / ``sep_conv_5x5``: ``ReLU -> depthwise k x k (stride s) -> 1x1 -> BN`` twice, the
  second depthwise at stride 1 (``SepConv``);
- ``dil_conv_3x3`` / ``dil_conv_5x5``: ``ReLU -> depthwise k x k, dilation 2 -> 1x1 -> BN`` (``DilConv``);
- ``max_pool_3x3`` / ``avg_pool_3x3``: padded 1 on every side as torch; the average divides by the
  pixels inside the image (``count_include_pad=False``) (``Pool3x3``);
- ``skip_connect``: the identity, or ``FactorizedReduce`` at stride 2;
- ``none``: zeros (``Zero``), the "no edge" of the relaxation.

Convolutions have no bias. Their kernels start as torch's default (uniform in ``+-1/sqrt(fan_in)``),
the reference code's, not the He normal of the zoo's ResNets. The BatchNorms are torch's (momentum 0.1,
eps 1e-5). In the search network every BatchNorm is without affine parameters and the pools are followed
by one (``affine=False``, ``pool_norm=True``, as the reference's ``MixedOp``); in a network built from a
genotype they have affine parameters and the pools have no BatchNorm (DARTS) or one with affine
parameters (STACNAS, li2019: ``pool_norm=True``).
"""

import keras
from keras import layers, ops

from keras_kd.api import register
from keras_kd.layers.batch_norm import BatchNormalization
from keras_kd.layers.chain import build_chain, run_chain
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.layers.residual_block import BN_EPSILON, BN_MOMENTUM, subsampled_shape
from keras_kd.validation import check_choice, check_int

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
              "dil_conv_3x3", "dil_conv_5x5")
NONE = "none"


def torch_default_initializer():
    """torch's default conv and linear weight initializer: ``kaiming_uniform_(a=sqrt(5))``, i.e.
    uniform in ``+-1/sqrt(fan_in)``."""
    return keras.initializers.VarianceScaling(1 / 3, mode="fan_in", distribution="uniform")


def norm(affine, name):
    """torch's ``BatchNorm2d(affine=affine)``."""
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, center=affine, scale=affine, name=name)


def pointwise(filters, name, strides=1):
    return layers.Conv2D(filters, 1, strides=strides, use_bias=False,
                         kernel_initializer=torch_default_initializer(), name=name)


def depthwise(channels, kernel_size, strides, dilation_rate, name):
    return GroupConv2D(channels, kernel_size, groups=channels, strides=strides, padding="symmetric",
                       dilation_rate=dilation_rate, kernel_initializer=torch_default_initializer(), name=name)


class ChainOperation(layers.Layer):
    """An operation that is a chain of layers (``self.chain``, made by ``make_chain(channels)``) from
    the input to ``self.filters`` channels at ``self.strides``."""

    def build(self, input_shape):
        self.chain = self.make_chain(input_shape[-1])
        build_chain(self.chain, input_shape)

    def call(self, inputs, training=None):
        return run_chain(self.chain, inputs, training)

    def compute_output_shape(self, input_shape):
        return subsampled_shape(tuple(input_shape[:-1]) + (self.filters,), self.strides)


@register
class ReLUConvBN(ChainOperation):
    """``ReLU -> 1x1 conv -> BN``: a cell's preprocessing of an input to the cell's channels.

    Args:
        filters: output channels.
        affine: the BatchNorm has scale and offset.
    """

    strides = 1

    def __init__(self, filters, affine=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters")
        self.affine = check_choice(affine, "affine", (True, False))

    def make_chain(self, channels):
        return [layers.ReLU(name="relu"), pointwise(self.filters, "conv"), norm(self.affine, "bn")]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "affine": self.affine}


@register
class SepConv(ChainOperation):
    """DARTS' separable conv: ``(ReLU -> depthwise k x k -> 1x1 -> BN)`` twice, the first depthwise at
    ``strides``, the first 1x1 keeping the input channels.

    Args:
        filters: output channels.
        kernel_size: the depthwise convs' size (3 or 5 in the space).
        strides: the first depthwise conv's stride.
        affine: the BatchNorms have scale and offset.
    """

    def __init__(self, filters, kernel_size, strides=1, affine=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = check_int(filters, "filters"), check_int(kernel_size, "kernel_size")
        self.strides, self.affine = check_int(strides, "strides"), check_choice(affine, "affine", (True, False))

    def make_chain(self, channels):
        return [layers.ReLU(name="relu1"), depthwise(channels, self.kernel_size, self.strides, 1, "depthwise1"),
                pointwise(channels, "pointwise1"), norm(self.affine, "bn1"),
                layers.ReLU(name="relu2"), depthwise(channels, self.kernel_size, 1, 1, "depthwise2"),
                pointwise(self.filters, "pointwise2"), norm(self.affine, "bn2")]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "affine": self.affine}


@register
class DilConv(ChainOperation):
    """DARTS' dilated conv: ``ReLU -> depthwise k x k (dilation, stride) -> 1x1 -> BN``.

    Args:
        filters: output channels.
        kernel_size: the depthwise conv's size (3 or 5 in the space).
        strides: the depthwise conv's stride.
        dilation_rate: the depthwise conv's dilation (2 in the space).
        affine: the BatchNorm has scale and offset.
    """

    def __init__(self, filters, kernel_size, strides=1, dilation_rate=2, affine=True, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = check_int(filters, "filters"), check_int(kernel_size, "kernel_size")
        self.strides, self.dilation_rate = check_int(strides, "strides"), check_int(dilation_rate, "dilation_rate")
        self.affine = check_choice(affine, "affine", (True, False))

    def make_chain(self, channels):
        return [layers.ReLU(name="relu"),
                depthwise(channels, self.kernel_size, self.strides, self.dilation_rate, "depthwise"),
                pointwise(self.filters, "pointwise"), norm(self.affine, "bn")]

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "dilation_rate": self.dilation_rate, "affine": self.affine}


@register
class FactorizedReduce(layers.Layer):
    """Halves the map: ``ReLU``, then two 1x1 stride-2 convs of ``filters / 2`` channels, one on the input
    and one on it shifted by a pixel (``x[:, 1:, 1:]``), concatenated, then BN.

    Args:
        filters: output channels (even).
        affine: the BatchNorm has scale and offset.
    """

    def __init__(self, filters, affine=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_int(filters, "filters")
        if self.filters % 2:
            raise ValueError(f"FactorizedReduce needs an even `filters`. Received: filters={filters}")
        self.affine = check_choice(affine, "affine", (True, False))

    def build(self, input_shape):
        if any(size is not None and size % 2 for size in input_shape[1:3]):
            raise ValueError("FactorizedReduce halves even maps only (the shifted half would be smaller). "
                             f"Received an input of shape {tuple(input_shape)}")
        self.convs = [pointwise(self.filters // 2, "conv1", strides=2), pointwise(self.filters // 2, "conv2", strides=2)]
        for conv in self.convs:
            conv.build(input_shape)
        self.norm = norm(self.affine, "bn")
        self.norm.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        x = keras.activations.relu(inputs)
        halves = [self.convs[0](x), self.convs[1](x[:, 1:, 1:, :])]
        return self.norm(ops.concatenate(halves, axis=-1), training=training)

    def compute_output_shape(self, input_shape):
        return subsampled_shape(tuple(input_shape[:-1]) + (self.filters,), 2)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "affine": self.affine}


@register
class Pool3x3(layers.Layer):
    """torch's ``MaxPool2d(3, strides, padding=1)`` or ``AvgPool2d(3, strides, padding=1,
    count_include_pad=False)``, optionally followed by a BatchNorm.

    Args:
        kind: ``"max"`` or ``"avg"``.
        strides: 1 or 2.
        pool_norm: a BatchNorm after the pool (the search network's; STACNAS' final network's).
        affine: that BatchNorm has scale and offset.
    """

    def __init__(self, kind, strides=1, pool_norm=False, affine=True, **kwargs):
        super().__init__(**kwargs)
        self.kind = check_choice(kind, "kind", ("max", "avg"))
        self.strides = check_choice(strides, "strides", (1, 2))
        self.pool_norm = check_choice(pool_norm, "pool_norm", (True, False))
        self.affine = check_choice(affine, "affine", (True, False))

    def build(self, input_shape):
        pool = layers.MaxPooling2D if self.kind == "max" else layers.AveragePooling2D
        self.pool = pool(3, self.strides, name="pool")
        batch, height, width, channels = input_shape
        self.pool.build((batch, *(None if n is None else n + 2 for n in (height, width)), channels))
        self.norm = norm(self.affine, "bn") if self.pool_norm else None
        if self.norm is not None:
            self.norm.build(self.compute_output_shape(input_shape))

    def call(self, inputs, training=None):
        padding = ((0, 0), (1, 1), (1, 1), (0, 0))
        if self.kind == "max":
            x = self.pool(ops.pad(inputs, padding, constant_values=float("-inf")))
        else:  # the mean over the window's pixels inside the image
            inside = ops.pad(ops.ones_like(inputs[:1, :, :, :1]), padding)
            x = self.pool(ops.pad(inputs, padding)) / self.pool(inside)
        return x if self.norm is None else self.norm(x, training=training)

    def compute_output_shape(self, input_shape):
        return subsampled_shape(tuple(input_shape), self.strides)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "strides": self.strides, "pool_norm": self.pool_norm,
                "affine": self.affine}


@register
class Zero(layers.Layer):
    """The ``none`` operation: zeros of the (subsampled) input's shape.

    Args:
        strides: 1 or 2.
    """

    def __init__(self, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.strides = check_choice(strides, "strides", (1, 2))

    def call(self, inputs):
        return ops.zeros_like(inputs[:, ::self.strides, ::self.strides, :])

    def compute_output_shape(self, input_shape):
        return subsampled_shape(tuple(input_shape), self.strides)

    def get_config(self):
        return {**super().get_config(), "strides": self.strides}


def operation(primitive, channels, strides, affine, pool_norm, name):
    """The layer of one candidate operation named as in ``PRIMITIVES``, keeping ``channels``."""
    check_choice(primitive, "primitive", PRIMITIVES)
    if primitive == NONE:
        return Zero(strides, name=name)
    if primitive == "skip_connect":
        return layers.Identity(name=name) if strides == 1 else FactorizedReduce(channels, affine, name=name)
    kind, size = primitive.split("_")[0], int(primitive[-1])
    if kind in ("max", "avg"):
        return Pool3x3(kind, strides, pool_norm, affine, name=name)
    if kind == "sep":
        return SepConv(channels, size, strides, affine, name=name)
    return DilConv(channels, size, strides, 2, affine, name=name)
