"""A plain conv-BN-ReLU unit, optionally after a 2x2 max-pool: the block of VGG networks.

It has no shortcut, so it can never be skipped (``skip.UnskippableBlock``).
"""

import keras
from keras import layers

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.residual_block import batch_norm


@register
class PlainConvBlock(skip.UnskippableBlock):
    """``[2x2 max-pool] -> 3x3 conv (bias) -> BN -> ReLU``, as in RepDistiller's CIFAR VGGs.

    Args:
        filters: output channels.
        pool: max-pool 2x2, stride 2 (torch's ``MaxPool2d(2, 2)``: odd sizes round down) before the conv.
        use_bias: conv bias (RepDistiller's VGGs keep it before BN).
        skip_mode: see ``keras_kd.layers.skip`` (the block is never skipped).

    Example:

    >>> block = PlainConvBlock(16, pool=True)
    >>> tuple(block(keras.ops.ones((2, 8, 8, 3))).shape)
    (2, 4, 4, 16)
    """

    def __init__(self, filters, pool=False, use_bias=True, skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.filters, self.pool, self.use_bias = filters, bool(pool), use_bias
        self.strides = 2 if self.pool else 1

    def build(self, input_shape):
        self.pooling = layers.MaxPooling2D(2, 2, name="pool") if self.pool else None
        self.conv = layers.Conv2D(self.filters, 3, padding="same", use_bias=self.use_bias,
                                  kernel_initializer="he_normal", name="conv")
        self.norm = batch_norm("bn")
        shape = self.pooling.compute_output_shape(input_shape) if self.pool else input_shape
        self.conv.build(shape)
        self.norm.build(self.conv.compute_output_shape(shape))

    offers_preactivation = True

    def before_activation(self, inputs, training, branch_scale=None):
        """BN of the conv, before the ReLU."""
        self.check_no_branch_scale(branch_scale)
        x = self.pooling(inputs) if self.pool else inputs
        return self.norm(self.conv(x), training=training)

    def final_activation(self, x):
        return keras.activations.relu(x)

    def body(self, inputs, training):
        return self.final_activation(self.before_activation(inputs, training))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.pool:
            height, width = (None if n is None else n // 2 for n in (height, width))
        return (batch, height, width, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "pool": self.pool, "use_bias": self.use_bias}
