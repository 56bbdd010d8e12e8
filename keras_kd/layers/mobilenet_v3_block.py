"""MobileNetV3's bneck block (howard2019 Tables 1-2), with a grouped depthwise conv (jha2020).

``1x1 expand BN-NL, kxk depthwise BN-NL, squeeze-and-excite, 1x1 project BN`` plus an identity add
where the stride is 1 and the channels are kept. The order is keras.applications.MobileNetV3's:
squeeze-and-excite reads the activated depthwise output. NL is ReLU (the tables' "RE") or hard-swish
``x * relu6(x + 3) / 6`` ("HS"); the expansion conv is omitted when the expanded width equals the
input width (the first row of both tables), as in keras.applications. Convs have no biases except
the two of squeeze-and-excite; the others have He-normal kernels, as the zoo's. The kxk conv is
padded ``(k - 1) / 2`` on every side (torch's rule; keras.applications pads even-sized inputs of
strided convs one less at the top and left: the same weights). BatchNorm is the zoo's ``batch_norm``
(PyTorch's momentum 0.1, epsilon 1e-5; keras.applications: momentum 0.999, epsilon 1e-3; the same
weights). ``block=`` regroups the kxk conv in jha2020's notation and ``residual=False`` drops the
add (jha2020's NR), as in ``InvertedResidualBlock``.
"""

import keras
from keras import layers, ops

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.chain import build_chain
from keras_kd.layers.block_spec import parse_grouped_block
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.layers.residual_block import batch_norm
from keras_kd.validation import check_choice, check_int

ACTIVATIONS = ("relu", "hard_swish")


def make_divisible(value, divisor=8):
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), one step up if
    rounding lost more than 10%: the rule of the MobileNet code, for squeeze-and-excite widths."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@register
class MobileNetV3Block(skip.GatedBlock):
    """MobileNetV3 bneck block (howard2019 Tables 1-2: one row).

    Args:
        filters: output channels ("#out").
        exp_size: expanded width ("exp size"); equal to the input channels: no expansion conv.
        kernel_size: of the depthwise conv (3 or 5 in the tables).
        strides: of the depthwise conv.
        squeeze_excite: squeeze-and-excite on the expanded width, reduced to
            ``make_divisible(exp_size / 4)`` ("SE").
        activation: ``"relu"`` ("RE") or ``"hard_swish"`` ("HS").
        block: the depthwise conv's grouping: ``"G(N)"`` (depthwise, the original), jha2020's
            ``"g<int>"`` / ``"G<int>"``, ``"G(g)"``, ``"G(N/k)"``; over the expanded width.
        residual: keep the identity add where shapes allow (``False``: jha2020's NR).
        skip_mode: see ``keras_kd.layers.skip``.

    Example:

    >>> block = MobileNetV3Block(24, exp_size=72, kernel_size=5, squeeze_excite=True, activation="hard_swish")
    >>> tuple(block(keras.ops.ones((2, 8, 8, 24))).shape)
    (2, 8, 8, 24)
    """

    def __init__(self, filters, exp_size, kernel_size=3, strides=1, squeeze_excite=False, activation="relu",
                 block="G(N)", residual=True, skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.filters, self.exp_size = check_int(filters, "filters"), check_int(exp_size, "exp_size")
        self.kernel_size, self.strides = check_int(kernel_size, "kernel_size"), check_int(strides, "strides")
        self.squeeze_excite = check_choice(squeeze_excite, "squeeze_excite", (True, False))
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.spec = parse_grouped_block(block, "MobileNetV3 blocks")
        self.residual = check_choice(residual, "residual", (True, False))

    def build(self, input_shape):
        in_channels, hidden = input_shape[-1], self.exp_size
        self.can_skip = self.strides == 1 and in_channels == self.filters
        self.expand = None
        if hidden != in_channels:
            self.expand = layers.Conv2D(hidden, 1, use_bias=False, kernel_initializer="he_normal", name="expand")
            self.expand_bn = batch_norm("expand_bn")
        self.depthwise = GroupConv2D(hidden, self.kernel_size, strides=self.strides, padding="symmetric",
                                     name="conv_grouped", **self.spec.grouping())
        self.depthwise_bn = batch_norm("depthwise_bn")
        self.se = []
        if self.squeeze_excite:
            self.se = [layers.Conv2D(make_divisible(hidden / 4), 1, name="se_reduce"),
                       layers.Conv2D(hidden, 1, name="se_expand")]
        self.project = layers.Conv2D(self.filters, 1, use_bias=False, kernel_initializer="he_normal", name="project")
        self.project_bn = batch_norm("project_bn")
        expand = [self.expand, self.expand_bn] if self.expand is not None else []
        shape = build_chain(expand + [self.depthwise, self.depthwise_bn], input_shape)
        build_chain(self.se, (shape[0], 1, 1, hidden))
        build_chain([self.project, self.project_bn], shape)

    def _run(self, inputs, training, branch_scale=None):
        activation = keras.activations.get(self.activation)
        x = inputs
        if self.expand is not None:
            x = activation(self.expand_bn(self.expand(x), training=training))
        x = activation(self.depthwise_bn(self.depthwise(x), training=training))
        if self.se:
            scale = keras.activations.relu(self.se[0](ops.mean(x, axis=(1, 2), keepdims=True)))
            x = x * keras.activations.hard_sigmoid(self.se[1](scale))
        x = self.project_bn(self.project(x), training=training)
        return skip.identity_sum(x, inputs, branch_scale, self.residual and self.can_skip)

    def get_config(self):
        config = super().get_config()
        config.update({
            "filters": self.filters, "exp_size": self.exp_size, "kernel_size": self.kernel_size,
            "strides": self.strides, "squeeze_excite": self.squeeze_excite, "activation": self.activation,
            "block": str(self.spec), "residual": self.residual,
        })
        return config
