"""Residual block with cheap convs and two switches.

The block of the Wide ResNets in crowley2018 (Table 1, Table 2) and jha2020
(Figure 3), ``BN-ReLU-conv-BN-ReLU-(dropout)-conv`` plus a shortcut, and its
post-activation form of the CIFAR ResNets; the convs come from the block
notation (``block_spec``):

* ``residual=False`` removes the shortcut add and the 1x1 shortcut conv
  (jha2020's non-residual "NR" networks);
* the ``gate`` call argument turns the whole block into the identity for a
  step (GKT, stochastic depth, stimulative training) and ``branch_scale``
  multiplies its residual branch (inverted stochastic depth); see ``skip``.
"""

import keras
from keras import layers, ops

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.batch_norm import BatchNormalization
from keras_kd.layers.block_spec import parse_block
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.validation import check_choice

BN_MOMENTUM = 0.9  # PyTorch's momentum=0.1, as in the papers' code.
BN_EPSILON = 1e-5


def batch_norm(name):
    return BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def subsampled_shape(shape, strides):
    """``shape`` (NHWC) of ``x[:, ::strides, ::strides, :]``."""
    batch, height, width, channels = shape
    return batch, *(None if n is None else -(-n // strides) for n in (height, width)), channels


def zero_pad_shortcut(x, filters, strides):
    """He et al.'s (he2016) option A shortcut: subsample, then zero-pad the channels."""
    x = x[:, ::strides, ::strides, :]
    extra = filters - x.shape[-1]
    return ops.pad(x, [(0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)])


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


SHORTCUTS = ("conv", "pad")


@register
class SwitchableResidualBlock(skip.GatedBlock):
    """Residual block with cheap convs, residual and skip switches.

    Pre-activation (WRN, crowley2018 Table 1):
    ``x + convs(BN-ReLU(x))`` with BN-ReLU between the convs. Post-activation
    (CIFAR ResNets, ResNet-18, jha2020 Figure 3 and li2021):
    ``ReLU(BN(convs(x)) + shortcut(x))`` with BN-ReLU between the convs.

    Args:
        filters: output channels N.
        strides: stride of the block's first spatial conv (and shortcut).
        block: notation string or ``BlockSpec`` (see ``block_spec``).
        residual: keep the shortcut (``False``: jha2020's NR block).
        dropout: dropout rate before the second spatial conv (WRN).
        preactivation: pre- (``True``) or post-activation block.
        shortcut: where the shape changes, ``"conv"`` (1x1 strided conv; in
            post-activation blocks followed by BN) or ``"pad"`` (He et al.'s
            parameter-free option A, he2016: subsample and zero-pad channels).
        skip_mode: ``None`` (the runtime setting), ``"auto"``, ``"cond"`` or
            ``"mask"`` (see ``skip``); not saved in the config.

    Call args:
        inputs: (batch, height, width, channels).
        training: Python bool.
        gate: ``None``/``True`` run the block, ``False`` or a false scalar
            tensor make it the identity; only for blocks with ``can_skip``.
        branch_scale: ``None`` or a factor of the branch (the convs' output,
            after the last BN of a post-activation block) before the add.

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
        preactivation=True,
        shortcut="conv",
        skip_mode=None,
        **kwargs,
    ):
        super().__init__(skip_mode=skip_mode, **kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
        check_choice(shortcut, "shortcut", SHORTCUTS)
        self.filters = filters
        self.strides = strides
        self.spec = parse_block(block)
        self.residual = residual
        self.dropout = dropout
        self.preactivation = preactivation
        self.shortcut_type = shortcut

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.can_skip = in_channels == self.filters and self.strides == 1
        self.convs, self.dropout_index = body_convs(
            self.spec, in_channels, self.filters, self.strides
        )
        self.norms = [batch_norm(f"bn{i + 1}") for i in range(len(self.convs))]
        self.drop = layers.Dropout(self.dropout) if self.dropout else None
        self.projection = []
        if self.residual and not self.can_skip and self.shortcut_type == "conv":
            self.projection.append(
                layers.Conv2D(  # stride 1 on the subsampled input (see ``_shortcut``)
                    self.filters, 1, use_bias=False, kernel_initializer="he_normal", name="shortcut",
                )
            )
            if not self.preactivation:
                self.projection.append(batch_norm("shortcut_bn"))
        shape = input_shape
        for norm, conv in zip(self.norms, self.convs):
            if self.preactivation:
                norm.build(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            if not self.preactivation:
                norm.build(shape)
        shortcut_shape = subsampled_shape(input_shape, self.strides)
        for layer in self.projection:
            layer.build(shortcut_shape)
            shortcut_shape = layer.compute_output_shape(shortcut_shape)

    def _body(self, x, training):
        """The convs of the block; returns (output, pre-activated input)."""
        activated = None
        for index, (norm, conv) in enumerate(zip(self.norms, self.convs)):
            if self.preactivation:
                x = keras.activations.relu(norm(x, training=training))
                activated = x if index == 0 else activated
            elif index:
                x = keras.activations.relu(x)
            if index == self.dropout_index and self.drop is not None:
                x = self.drop(x, training=training)
            x = conv(x)
            if not self.preactivation:
                x = norm(x, training=training)
        return x, activated

    def _shortcut(self, inputs, activated, training):
        """The identity, option A, or the 1x1 projection as a stride-1 conv of every
        ``strides``-th pixel (the same products as a strided 1x1 conv; torch 2.13's CPU
        backward of a strided channels-last 1x1 conv with under 8 input channels
        corrupts the heap)."""
        if self.can_skip:
            return inputs
        if self.shortcut_type == "pad":
            return zero_pad_shortcut(inputs, self.filters, self.strides)
        x = activated if self.preactivation else inputs
        x = x[:, :: self.strides, :: self.strides, :]
        for layer in self.projection:
            x = layer(x, training=training)
        return x

    offers_preactivation = True

    def before_activation(self, inputs, training, branch_scale=None):
        """The block's sum (branch + shortcut) before a post-activation block's final ReLU."""
        x, activated = self._body(inputs, training)
        x = skip.scale_branch(x, branch_scale)
        if self.residual:
            x = x + self._shortcut(inputs, activated, training)
        return x

    def final_activation(self, x):
        return x if self.preactivation else keras.activations.relu(x)

    def _run(self, inputs, training, branch_scale=None):
        return self.final_activation(self.before_activation(inputs, training, branch_scale))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "block": str(self.spec),
                "residual": self.residual,
                "dropout": self.dropout,
                "preactivation": self.preactivation,
                "shortcut": self.shortcut_type,
            }
        )
        return config
