"""Pre-activation residual block with cheap convs and two switches.

The block of the Wide ResNets in crowley2018 (Table 1, Table 2) and jha2020
(Figure 3): ``BN-ReLU-conv-BN-ReLU-(dropout)-conv`` plus a shortcut, where
the convs come from the block notation (``block_spec``):

* ``residual=False`` removes the shortcut add and the 1x1 shortcut conv
  (jha2020's non-residual "NR" networks);
* the ``gate`` call argument turns the whole block into the identity for a
  step (GKT, stochastic depth, stimulative training); see ``skip``.
"""

import keras
from keras import layers

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.block_spec import parse_block
from keras_kd.layers.group_conv import GroupConv2D

BN_MOMENTUM = 0.9  # PyTorch's momentum=0.1, as in the papers' code.
BN_EPSILON = 1e-5


def batch_norm(name):
    return layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name
    )


def body_convs(spec, in_channels, filters, strides):
    """The conv layers of a block body and where dropout goes.

    Returns ``(convs, dropout_index)``: the body is ``convs`` joined by
    BN-ReLU, with dropout right before ``convs[dropout_index]``.
    """

    def conv(name, out, kernel=3, stride=1, dilation=1, **grouping):
        return GroupConv2D(
            out,
            kernel,
            strides=stride,
            dilation_rate=dilation,
            padding="symmetric",
            name=name,
            **(grouping or {"groups": 1}),
        )

    if spec.kind in ("S", "S-2x2"):
        kernel, dilation = (2, 2) if spec.kind == "S-2x2" else (3, 1)
        return [
            conv("conv1", filters, kernel, strides, dilation),
            conv("conv2", filters, kernel, 1, dilation),
        ], 1
    if spec.kind == "G":
        grouping = spec.grouping()
        return [
            conv("conv1_grouped", in_channels, 3, strides, **grouping),
            conv("conv1_pointwise", filters, 1),
            conv("conv2_grouped", filters, 3, 1, **grouping),
            conv("conv2_pointwise", filters, 1),
        ], 2
    width = filters // spec.bottleneck
    if width * spec.bottleneck != filters:
        raise ValueError(
            f"The bottleneck must divide the block width. Received: "
            f"bottleneck={spec.bottleneck}, filters={filters}"
        )
    middle = spec.grouping() if spec.kind == "BG" else {}
    return [
        conv("reduce", width, 1),
        conv("conv_grouped" if middle else "conv", width, 3, strides, **middle),
        conv("expand", filters, 1),
    ], 2


@register
class SwitchableResidualBlock(keras.layers.Layer):
    """Pre-activation block with cheap convs, residual and skip switches.

    Args:
        filters: output channels N.
        strides: stride of the block's first spatial conv (and shortcut).
        block: notation string or ``BlockSpec`` (see ``block_spec``).
        residual: keep the shortcut (``False``: jha2020's NR block).
        dropout: dropout rate before the second spatial conv (WRN).
        skip_mode: ``"auto"``, ``"cond"`` or ``"mask"`` (see ``skip``).

    Call args:
        inputs: (batch, height, width, channels).
        training: Python bool.
        gate: ``None``/``True`` run the block, ``False`` or a false scalar
            tensor make it the identity; only for blocks with ``can_skip``.

    Example:

    >>> block = SwitchableResidualBlock(32, block="G(4)")
    >>> y = block(keras.ops.ones((2, 8, 8, 32)), gate=False)
    """

    def __init__(
        self,
        filters,
        strides=1,
        block="S",
        residual=True,
        dropout=0.0,
        skip_mode="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
        skip.resolve_mode(skip_mode)
        self.filters = filters
        self.strides = strides
        self.spec = parse_block(block)
        self.residual = residual
        self.dropout = dropout
        self.skip_mode = skip_mode

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.can_skip = in_channels == self.filters and self.strides == 1
        self.preact = batch_norm("bn_in")
        self.convs, self.dropout_index = body_convs(
            self.spec, in_channels, self.filters, self.strides
        )
        self.inner_norms = [batch_norm(f"bn{i}") for i in range(1, len(self.convs))]
        self.drop = layers.Dropout(self.dropout) if self.dropout else None
        self.shortcut = None
        if self.residual and not self.can_skip:
            self.shortcut = layers.Conv2D(
                self.filters,
                1,
                strides=self.strides,
                use_bias=False,
                kernel_initializer="he_normal",
                name="shortcut",
            )
        shape = self.preact.compute_output_shape(input_shape)
        self.preact.build(shape)
        for index, conv in enumerate(self.convs):
            if index:
                self.inner_norms[index - 1].build(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        if self.shortcut is not None:
            self.shortcut.build(input_shape)

    def _run(self, inputs, training):
        activated = keras.activations.relu(self.preact(inputs, training=training))
        x = activated
        for index, conv in enumerate(self.convs):
            if index:
                x = keras.activations.relu(
                    self.inner_norms[index - 1](x, training=training)
                )
            if index == self.dropout_index and self.drop is not None:
                x = self.drop(x, training=training)
            x = conv(x)
        if not self.residual:
            return x
        if self.shortcut is None:
            return x + inputs
        return x + self.shortcut(activated)

    def call(self, inputs, training=None, gate=None):
        if gate is not None and gate is not True and not self.can_skip:
            raise ValueError(
                f"Block {self.name!r} changes shape ({self.strides=}, "
                f"filters={self.filters}) and cannot be skipped. "
                f"Received: gate={gate}"
            )
        return skip.gated(
            lambda: self._run(inputs, training),
            inputs,
            gate,
            self.non_trainable_variables,
            self.skip_mode,
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides > 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        return (batch, height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "block": str(self.spec),
                "residual": self.residual,
                "dropout": self.dropout,
                "skip_mode": self.skip_mode,
            }
        )
        return config
