"""The units of ShuffleNet (zhang2018b: Fig. 2 c-d) and ShuffleNet V2 (ma2018: Fig. 3 c-d).

Both shuffle channels between grouped convolutions: ``channel_shuffle(x, g)`` reorders channel
``i * C/g + j`` to position ``j * g + i`` (torch's ``view(N, g, C/g, H, W).transpose(1, 2)``). Their
3x3 convs are depthwise; ``block=`` regroups them with jha2020's notation, as in MobileNet. Convs are
padded 1 on every side, as torch.
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

DOWN_BRANCH_WIDTHS = ("half", "input")


def channel_shuffle(x, groups):
    """``x`` (channels last) with its channels shuffled across ``groups`` groups.

    Args:
        x: a feature map (batch, height, width, channels); channels divisible by ``groups``.
        groups: the number of groups (1 returns ``x``).
    """
    if groups == 1:
        return x
    channels = x.shape[-1]
    _, height, width, _ = ops.shape(x)
    x = ops.reshape(x, (-1, height, width, groups, channels // groups))
    return ops.reshape(ops.transpose(x, (0, 1, 2, 4, 3)), (-1, height, width, channels))


def conv_bn(conv, name, relu):
    """``(conv, BatchNorm, relu?)``: one step of a branch (``run_branch``)."""
    return conv, batch_norm(f"{name}_bn"), relu


def build_branch(branch, shape):
    """Builds a branch of ``conv_bn`` steps on ``shape``; returns the output shape."""
    for conv, norm, _ in branch:
        conv.build(shape)
        shape = conv.compute_output_shape(shape)
        norm.build(shape)
    return shape


def run_branch(branch, x, training):
    for conv, norm, relu in branch:
        x = norm(conv(x), training=training)
        if relu:
            x = keras.activations.relu(x)
    return x


def pointwise(filters, name, use_bias=False, groups=1):
    return GroupConv2D(filters, 1, groups=groups, use_bias=use_bias, name=name)


def grouped_3x3(filters, strides, spec, name, use_bias=False):
    return GroupConv2D(filters, 3, strides=strides, padding="symmetric", use_bias=use_bias, name=name,
                       **spec.grouping())


@register
class ShuffleV1Unit(skip.GatedBlock):
    """ShuffleNet's unit (zhang2018b Fig. 2 c-d), as RepDistiller's ``models/ShuffleNetv1.py``.

    ``1x1 group conv (-> m) BN-ReLU, shuffle, 3x3 depthwise (stride) BN-ReLU, 1x1 group conv BN``, then
    ``ReLU(x + branch)`` (stride 1) or ``ReLU(concat(branch, avgpool3x3/2(x)))`` (stride 2: the branch
    gives ``filters - in`` channels). m is a quarter of the branch output. zhang2018b Fig. 2 has no ReLU
    after the depthwise conv; RepDistiller's code applies one, and is followed (the benchmark's numbers
    come from it).

    Args:
        filters: output channels.
        strides: 1 or 2.
        groups: groups of the 1x1 convs (zhang2018b's g).
        input_groups: groups of the first 1x1 conv (1 in the network's first unit: "the number of input
            channels is relatively small").
        block: the 3x3 conv's grouping (default ``"G(N)"``, depthwise).
        residual: keep the identity add of stride-1 units (``False``: jha2020's NR; the stride-2 units'
            pooled concat is kept, it carries channels).
        skip_mode: see ``keras_kd.layers.skip``.
    """

    def __init__(self, filters, strides=1, groups=3, input_groups=None, block="G(N)", residual=True,
                 skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.filters, self.strides = check_int(filters, "filters"), check_choice(strides, "strides", (1, 2))
        self.groups = check_int(groups, "groups")
        self.input_groups = self.groups if input_groups is None else check_int(input_groups, "input_groups")
        self.spec = parse_grouped_block(block, "ShuffleNet units")
        self.residual = check_choice(residual, "residual", (True, False))

    def build(self, input_shape):
        in_channels = input_shape[-1]
        out = self.filters - in_channels if self.strides == 2 else self.filters
        self.can_skip = self.strides == 1 and in_channels == self.filters
        self.branch = [
            conv_bn(pointwise(out // 4, "conv1", groups=self.input_groups), "conv1", True),
            conv_bn(grouped_3x3(out // 4, self.strides, self.spec, "conv2"), "conv2", True),
            conv_bn(pointwise(out, "conv3", groups=self.groups), "conv3", False),
        ]
        self.pool = [layers.ZeroPadding2D(1, name="shortcut_pad"),
                     layers.AveragePooling2D(3, 2, name="shortcut_pool")] if self.strides == 2 else []
        build_chain(self.pool, input_shape)
        build_branch(self.branch[:1], input_shape)
        build_branch(self.branch[1:], self.branch[0][0].compute_output_shape(input_shape))

    def _run(self, inputs, training, branch_scale=None):
        x = run_branch(self.branch[:1], inputs, training)
        x = skip.scale_branch(run_branch(self.branch[1:], channel_shuffle(x, self.input_groups), training),
                              branch_scale)
        if self.pool:  # torch's AvgPool2d(3, 2, padding=1) counts the zero padding
            x = ops.concatenate([x, run_chain(self.pool, inputs)], axis=-1)
        elif self.residual:
            x = x + inputs
        return keras.activations.relu(x)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides, "groups": self.groups,
                "input_groups": self.input_groups, "block": str(self.spec), "residual": self.residual}


@register
class ShuffleV2Unit(skip.UnskippableBlock):
    """ShuffleNet V2's unit (ma2018 Fig. 3 c-d).

    Stride 1: the channels split in halves; the second goes through ``1x1 BN-ReLU, 3x3 depthwise BN,
    1x1 BN-ReLU`` and is concatenated after the first, then the channels are shuffled in 2 groups.
    Stride 2 (the spatial down-sampling unit): both branches read the whole input, ``3x3 depthwise
    (stride 2) BN, 1x1 (-> filters/2) BN-ReLU`` and ``1x1 (-> w) BN-ReLU, 3x3 depthwise (stride 2) BN,
    1x1 (-> filters/2) BN-ReLU``, concatenated and shuffled. The first unit's identity half is a split,
    not an add: no residual add to remove, and the unit is never skipped.

    Args:
        filters: output channels.
        strides: 1 or 2.
        block: the 3x3 conv's grouping (default ``"G(N)"``, depthwise).
        use_bias: conv biases (li2021's network, weiaicunzai/pytorch-cifar100, has them).
        down_branch_width: w of the stride-2 unit's second branch, ``"half"`` (``filters / 2``,
            RepDistiller's ``models/ShuffleNetv2.py``) or ``"input"`` (the input channels, as
            ma2018 Fig. 3d and weiaicunzai/pytorch-cifar100).
        skip_mode: see ``keras_kd.layers.skip`` (the unit is never skipped).
    """

    def __init__(self, filters, strides=1, block="G(N)", use_bias=False, down_branch_width="half", skip_mode=None,
                 **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        self.filters, self.strides = check_int(filters, "filters"), check_choice(strides, "strides", (1, 2))
        if self.filters % 2:
            raise ValueError(f"A ShuffleNet V2 unit concatenates two halves: filters must be even. "
                             f"Received: filters={self.filters}")
        self.spec = parse_grouped_block(block, "ShuffleNet V2 units")
        self.use_bias = check_choice(use_bias, "use_bias", (True, False))
        self.down_branch_width = check_choice(down_branch_width, "down_branch_width", DOWN_BRANCH_WIDTHS)

    def build(self, input_shape):
        in_channels, half, bias = input_shape[-1], self.filters // 2, self.use_bias
        if self.strides == 1 and in_channels != self.filters:
            raise ValueError(f"A stride-1 ShuffleNet V2 unit keeps its channels: filters must equal the input's "
                             f"{in_channels}. Received: filters={self.filters}")
        width = half if self.strides == 1 or self.down_branch_width == "half" else in_channels
        self.main = [
            conv_bn(pointwise(width, "conv1", bias), "conv1", True),
            conv_bn(grouped_3x3(width, self.strides, self.spec, "conv2", bias), "conv2", False),
            conv_bn(pointwise(half, "conv3", bias), "conv3", True),
        ]
        self.side = [
            conv_bn(grouped_3x3(in_channels, 2, self.spec, "side_conv1", bias), "side_conv1", False),
            conv_bn(pointwise(half, "side_conv2", bias), "side_conv2", True),
        ] if self.strides == 2 else []
        build_branch(self.main, input_shape[:-1] + (in_channels - half if self.strides == 1 else in_channels,))
        build_branch(self.side, input_shape)

    def body(self, inputs, training):
        if self.strides == 1:
            half = self.filters // 2
            kept, x = inputs[..., :half], inputs[..., half:]
        else:
            kept, x = run_branch(self.side, inputs, training), inputs
        return channel_shuffle(ops.concatenate([kept, run_branch(self.main, x, training)], axis=-1), 2)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides, "block": str(self.spec),
                "use_bias": self.use_bias, "down_branch_width": self.down_branch_width}
