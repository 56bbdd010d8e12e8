"""The depthwise-separable unit of MobileNet v1 (howard2017, Fig. 3).

``3x3 depthwise conv -BN-ReLU -> 1x1 conv -BN-ReLU``, convs without bias. It has no shortcut,
so it can never be skipped (``skip.UnskippableBlock``).
"""

import keras
from keras import layers

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.block_spec import parse_grouped_block
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.layers.residual_block import batch_norm


@register
class SeparableConvBlock(skip.UnskippableBlock):
    """MobileNet v1's depthwise-separable conv block.

    Args:
        filters: output channels of the 1x1 conv.
        strides: stride of the 3x3 conv (padded 1 on every side, as torch).
        block: the 3x3 conv's grouping over the input channels: ``"G(N)"`` depthwise (the
            original) or jha2020's ``"g<int>"`` / ``"G<int>"``, ``"G(g)"``, ``"G(N/k)"``.
        skip_mode: see ``keras_kd.layers.skip`` (the block is never skipped).

    Example:

    >>> block = SeparableConvBlock(64, strides=2)
    >>> tuple(block(keras.ops.ones((2, 8, 8, 32))).shape)
    (2, 4, 4, 64)
    """

    def __init__(self, filters, strides=1, block="G(N)", skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.filters, self.strides = filters, strides
        self.spec = parse_grouped_block(block, "MobileNet v1 blocks")

    def build(self, input_shape):
        self.convs = [
            GroupConv2D(input_shape[-1], 3, strides=self.strides, padding="symmetric", name="conv_grouped",
                        **self.spec.grouping()),
            layers.Conv2D(self.filters, 1, use_bias=False, kernel_initializer="he_normal", name="pointwise"),
        ]
        self.norms = [batch_norm("bn1"), batch_norm("bn2")]
        shape = input_shape
        for conv, norm in zip(self.convs, self.norms):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)

    def body(self, inputs, training):
        x = inputs
        for conv, norm in zip(self.convs, self.norms):
            x = keras.activations.relu(norm(conv(x), training=training))
        return x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides, "block": str(self.spec)}
