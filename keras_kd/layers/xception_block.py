"""Xception's units (chollet2017 Fig. 5), as the CIFAR Xception of li2021 Table VII
(weiaicunzai/pytorch-cifar100 ``models/xception.py``).

A separable conv is a 3x3 depthwise conv followed by a 1x1 conv, no norm or activation between and no
biases (``block=`` regroups the 3x3 with jha2020's notation). ``XceptionBlock``: ``[ReLU] sep BN
(ReLU sep BN)*`` then a 3x3 max-pool (stride 1 or 2, padded 1 with -inf on every side, as torch's),
plus a shortcut: a 1x1 conv (with bias, the code's) -BN where the shape changes, else the identity.
``XceptionSeparable``: ``sep BN ReLU``, the exit flow's last two units.
"""

import keras
from keras import layers, ops

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.block_spec import parse_grouped_block
from keras_kd.layers.chain import build_chain, run_chain
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.layers.residual_block import batch_norm
from keras_kd.validation import check_choice, check_int


def separable(in_channels, filters, spec, name):
    """``[3x3 grouped conv over the in_channels, 1x1 conv to filters]``, no biases."""
    return [
        GroupConv2D(in_channels, 3, padding="symmetric", name=f"{name}_depthwise", **spec.grouping()),
        layers.Conv2D(filters, 1, use_bias=False, kernel_initializer="he_normal", name=f"{name}_pointwise"),
    ]


def max_pool_padded(x, pool):
    """torch's ``MaxPool2d(3, stride, padding=1)``: -inf padding on every side."""
    return pool(ops.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=float("-inf")))


@register
class XceptionBlock(skip.GatedBlock):
    """An entry, middle or exit flow block of Xception.

    Args:
        filters: output channels of each separable conv (2 in the entry / exit flows, 3 in the middle).
        strides: stride of the closing max-pool; ``None``: no pool (the middle flow).
        relu_first: start with a ReLU (every block but the first).
        shortcut_after_relu: the shortcut reads the ReLU'd input (weiaicunzai's in-place ReLU does this in
            the entry flow's second and third blocks and the middle flow), else the block input
            (chollet2017, and the code's exit block).
        block: grouping of the separable convs' 3x3 (default ``"G(N)"``, depthwise).
        residual: keep the shortcut (``False``: jha2020's NR block).
        skip_mode: see ``keras_kd.layers.skip``.
    """

    def __init__(self, filters, strides=None, relu_first=True, shortcut_after_relu=False, block="G(N)",
                 residual=True, skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.filters_list = [check_int(f, "filters") for f in filters]
        self.filters = self.filters_list[-1]
        self.pool_strides = None if strides is None else check_choice(strides, "strides", (1, 2))
        self.strides = self.pool_strides or 1
        self.relu_first, self.shortcut_after_relu = bool(relu_first), bool(shortcut_after_relu)
        self.spec = parse_grouped_block(block, "Xception blocks")
        self.residual = check_choice(residual, "residual", (True, False))

    def build(self, input_shape):
        self.can_skip = self.strides == 1 and input_shape[-1] == self.filters
        widths = [input_shape[-1]] + self.filters_list
        self.units = [(separable(widths[i], f, self.spec, f"sep{i + 1}"), batch_norm(f"bn{i + 1}"))
                      for i, f in enumerate(self.filters_list)]
        shape = input_shape
        for convs, norm in self.units:
            shape = build_chain(convs, shape)
            norm.build(shape)
        self.pool = None if self.pool_strides is None else layers.MaxPooling2D(3, self.pool_strides, name="pool")
        self.shortcut = [] if self.can_skip or not self.residual else [
            layers.Conv2D(self.filters, 1, strides=self.strides, kernel_initializer="he_normal",
                          name="shortcut_conv"),
            batch_norm("shortcut_bn"),
        ]
        build_chain(self.shortcut, input_shape)

    def _run(self, inputs, training, branch_scale=None):
        x = keras.activations.relu(inputs) if self.relu_first else inputs
        shortcut = x if self.shortcut_after_relu else inputs
        for index, (convs, norm) in enumerate(self.units):
            if index:
                x = keras.activations.relu(x)
            x = norm(run_chain(convs, x), training=training)
        if self.pool is not None:
            x = max_pool_padded(x, self.pool)
        x = skip.scale_branch(x, branch_scale)
        if not self.residual:
            return x
        return x + run_chain(self.shortcut, shortcut, training)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters_list, "strides": self.pool_strides,
                "relu_first": self.relu_first, "shortcut_after_relu": self.shortcut_after_relu,
                "block": str(self.spec), "residual": self.residual}


@register
class XceptionSeparable(skip.UnskippableBlock):
    """``separable conv -BN-ReLU``: the last two units of Xception's exit flow.

    Args:
        filters: output channels.
        block: grouping of the 3x3 (default ``"G(N)"``, depthwise).
        skip_mode: see ``keras_kd.layers.skip`` (never skipped).
    """

    strides = 1

    def __init__(self, filters, block="G(N)", skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.filters, self.spec = check_int(filters, "filters"), parse_grouped_block(block, "Xception blocks")

    def build(self, input_shape):
        self.convs, self.norm = separable(input_shape[-1], self.filters, self.spec, "sep"), batch_norm("bn")
        self.norm.build(build_chain(self.convs, input_shape))

    def body(self, inputs, training):
        return keras.activations.relu(self.norm(run_chain(self.convs, inputs), training=training))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "block": str(self.spec)}
