"""MobileNetV2 inverted-residual block with a grouped middle conv (sandler2018, jha2020).

``1x1 expand (-> t * in) BN-ReLU6, 3x3 grouped conv BN-ReLU6, 1x1 project
BN`` plus an identity add where stride is 1 and channels are kept. jha2020
(App. A, Figure 3 d-f) replaces the 3x3 depthwise conv by a 3x3 grouped
conv with constant g or constant G and adds no 1x1 (the block already has
one); the non-residual (NR) block drops the add. MobileNetV2 has no
shortcut conv, so R and NR have the same counts.
"""

import keras
from keras import layers

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.block_spec import parse_grouped_block
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.layers.residual_block import batch_norm
from keras_kd.validation import check_choice

ACTIVATIONS = ("relu6", "relu")


@register
class InvertedResidualBlock(skip.GatedBlock):
    """MobileNetV2 block whose 3x3 has g groups or G channels per group.

    Args:
        filters: output channels.
        strides: stride of the 3x3 conv.
        expansion: expansion factor t of the hidden width.
        block: a G notation for the 3x3 over the hidden width: ``"G(N)"``
            (depthwise, the original), ``"g2"`` / ``"G(2)"`` (2 groups),
            ``"G16"`` / ``"G(N/16)"`` (16 channels per group).
        residual: keep the identity add where shapes allow (``False``: NR).
        use_bias: conv biases (the CIFAR MobileNetV2 jha2020 counts has them).
        activation: ``"relu6"`` (sandler2018) or ``"relu"`` (RepDistiller's MobileNetV2).
        skip_mode: see ``keras_kd.layers.skip``.

    Example:

    >>> block = InvertedResidualBlock(24, strides=2, expansion=6, block="g2")
    """

    def __init__(
        self,
        filters,
        strides=1,
        expansion=6,
        block="G(N)",
        residual=True,
        use_bias=True,
        activation="relu6",
        skip_mode=None,
        **kwargs,
    ):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.activation = check_choice(activation, "activation", ACTIVATIONS)
        self.spec = parse_grouped_block(block, "MobileNetV2 blocks")
        self.filters, self.strides, self.expansion = filters, strides, expansion
        self.residual, self.use_bias = residual, use_bias

    def build(self, input_shape):
        in_channels = input_shape[-1]
        hidden = in_channels * self.expansion
        self.can_skip = self.strides == 1 and in_channels == self.filters
        self.convs = [
            layers.Conv2D(hidden, 1, use_bias=self.use_bias, name="expand"),
            GroupConv2D(
                hidden, 3, strides=self.strides, padding="symmetric",
                use_bias=self.use_bias, name="conv_grouped", **self.spec.grouping(),
            ),
            layers.Conv2D(self.filters, 1, use_bias=self.use_bias, name="project"),
        ]
        self.norms = [batch_norm(f"bn{i + 1}") for i in range(3)]
        shape = input_shape
        for conv, norm in zip(self.convs, self.norms):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)

    def _run(self, inputs, training, branch_scale=None):
        x = inputs
        for index, (conv, norm) in enumerate(zip(self.convs, self.norms)):
            x = norm(conv(x), training=training)
            if index < 2:
                x = keras.activations.get(self.activation)(x)
        return skip.identity_sum(x, inputs, branch_scale, self.residual and self.can_skip)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "expansion": self.expansion,
                "block": str(self.spec),
                "residual": self.residual,
                "use_bias": self.use_bias,
                "activation": self.activation,
            }
        )
        return config
