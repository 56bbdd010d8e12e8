"""The units of a DenseNet without bottlenecks (huang2017a, DenseNet-40-12 of yao2020 Table 2).

``DenseLayer`` appends ``growth_rate`` new channels to its input; ``Transition`` sits between
dense blocks and halves the resolution. Neither has a shortcut to fall back on, so neither
can be skipped (``skip.UnskippableBlock``).
"""

import keras
from keras import layers, ops

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.residual_block import batch_norm
from keras_kd.validation import check_int


class CompositeBlock(skip.UnskippableBlock):
    """huang2017a's composite function ``dropout(conv(ReLU(BN(x))))`` (convs without bias), the
    branch of ``DenseLayer`` and ``Transition``; subclasses call ``build_branch`` in ``build``."""

    def __init__(self, dropout=0.0, skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.dropout = float(dropout)

    def build_branch(self, filters, kernel, input_shape):
        self.norm = batch_norm("bn")
        self.conv = layers.Conv2D(filters, kernel, padding="same", use_bias=False, kernel_initializer="he_normal",
                                  name="conv")
        self.drop = layers.Dropout(self.dropout, name="dropout") if self.dropout else None
        self.norm.build(input_shape)
        self.conv.build(input_shape)

    def branch(self, inputs, training):
        y = self.conv(keras.activations.relu(self.norm(inputs, training=training)))
        return y if self.drop is None else self.drop(y, training=training)

    def get_config(self):
        return {**super().get_config(), "dropout": self.dropout}


@register
class DenseLayer(CompositeBlock):
    """``concat(x, dropout(conv3x3(ReLU(BN(x)))))``: one layer of a dense block (huang2017a §3).

    Args:
        growth_rate: channels the layer adds (k).
        dropout: dropout rate after the conv (huang2017a: 0.2 without data augmentation, 0 with).
        skip_mode: see ``keras_kd.layers.skip`` (the layer is never skipped).

    Example:

    >>> layer = DenseLayer(12)
    >>> tuple(layer(keras.ops.ones((2, 8, 8, 16))).shape)
    (2, 8, 8, 28)
    """

    def __init__(self, growth_rate, dropout=0.0, skip_mode=None, **kwargs):
        super().__init__(dropout, skip_mode, **kwargs)
        self.growth_rate, self.strides = check_int(growth_rate, "growth_rate"), 1

    def build(self, input_shape):
        self.filters = input_shape[-1] + self.growth_rate
        self.build_branch(self.growth_rate, 3, input_shape)

    def body(self, inputs, training):
        return ops.concatenate([inputs, self.branch(inputs, training)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + self.growth_rate)

    def get_config(self):
        return {**super().get_config(), "growth_rate": self.growth_rate}


@register
class Transition(CompositeBlock):
    """``avg-pool2x2(dropout(conv1x1(ReLU(BN(x)))))`` between dense blocks (huang2017a §3).

    Args:
        filters: output channels (DenseNet-40-12 keeps the input's; DenseNet-BC halves them).
        dropout: dropout rate after the conv.
        skip_mode: see ``keras_kd.layers.skip`` (the transition is never skipped).

    Example:

    >>> transition = Transition(16)
    >>> tuple(transition(keras.ops.ones((2, 8, 8, 16))).shape)
    (2, 4, 4, 16)
    """

    def __init__(self, filters, dropout=0.0, skip_mode=None, **kwargs):
        super().__init__(dropout, skip_mode, **kwargs)
        self.filters, self.strides = check_int(filters, "filters"), 2

    def build(self, input_shape):
        self.build_branch(self.filters, 1, input_shape)
        self.pool = layers.AveragePooling2D(2, name="pool")
        self.pool.build(self.conv.compute_output_shape(input_shape))

    def body(self, inputs, training):
        return self.pool(self.branch(inputs, training))

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, *(None if n is None else n // 2 for n in (height, width)), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}
