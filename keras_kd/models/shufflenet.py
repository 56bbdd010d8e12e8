"""ShuffleNet (zhang2018b) and ShuffleNet V2 (ma2018) for CIFAR.

* ``shufflenet_v1``: the CRD / mdistiller benchmark's ``ShuffleV1`` (RepDistiller
  ``models/ShuffleNetv1.py``, g = 3): a 1x1 stem conv (3 -> 24) -BN-ReLU at full resolution, three
  stages of ``ShuffleV1Unit``s to 240 / 480 / 960 channels (4 / 8 / 4 units, the first of each
  stride 2; the network's first 1x1 conv is not grouped), global average pool, dense.
  862,768 / 949,258 weights at 10 / 100 classes.
* ``shufflenet_v2``: the benchmark's ``ShuffleV2`` (RepDistiller ``models/ShuffleNetv2.py``, width
  1x): a 1x1 stem conv (3 -> 24) -BN-ReLU, three stages of one stride-2 and 3 / 7 / 3 stride-1
  ``ShuffleV2Unit``s to 116 / 232 / 464 channels, a 1x1 conv to 1024 -BN-ReLU, pool, dense.
  1,263,278 / 1,355,528 weights.
* ``shufflenet_v2_li2021``: li2021 Table VII's ShuffleNetv2 (its MFLOPs, 45 / 46, are those of
  weiaicunzai/pytorch-cifar100 ``models/shufflenetv2.py``): a 3x3 stem conv (3 -> 24) -BN without
  ReLU, conv biases everywhere, the stride-2 units' second branch at the input width (ma2018
  Fig. 3d), otherwise as ``shufflenet_v2``. 1,268,646 / 1,360,896 weights.

The stage outputs are the taps ``stage1..stage3`` (RepDistiller's f1..f3), the pooled features the
``"embedding"``. ``block=`` regroups the depthwise 3x3 convs (jha2020's notation). ShuffleNet's
stride-1 units add an identity (``residual=False`` drops it; they can be skipped); ShuffleNet V2's
units concatenate a split instead of adding (``residual=False`` only; never skipped).
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.residual_block import batch_norm
from keras_kd.layers.shuffle_units import ShuffleV1Unit, ShuffleV2Unit
from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_choice, check_int

V1_STAGES = ((240, 4), (480, 8), (960, 4))  # (channels, units); g = 3
V2_STAGES = ((116, 4), (232, 8), (464, 4))  # (channels, units), the first unit of each down-sampling
STEMS = {"1x1": (1, True), "3x3": (3, False)}  # kernel, ReLU after the BN


def stem_layers(kind, use_bias=False, filters=24):
    kernel, relu = STEMS[kind]
    return [
        *([layers.ZeroPadding2D(1, name="stem_pad")] if kernel == 3 else []),
        layers.Conv2D(filters, kernel, use_bias=use_bias, kernel_initializer="he_normal", name="stem_conv"),
        batch_norm("stem_bn"),
        *([layers.Activation("relu", name="stem_relu")] if relu else []),
    ]


@register
class ShuffleNetV1(StagedNet):
    """ShuffleNet for CIFAR; see ``shufflenet_v1``.

    Args:
        num_classes: size of the dense head.
        block: grouping of the 3x3 convs (``ShuffleV1Unit``).
        residual: keep the stride-1 units' identity adds.
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        stages: (channels, units) rows.
        groups: zhang2018b's g, the groups of the 1x1 convs.
    """

    def __init__(self, num_classes=100, block="G(N)", residual=True, input_shape=(32, 32, 3), skip_mode=None,
                 stages=V1_STAGES, groups=3, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        self.residual = check_choice(residual, "residual", (True, False))
        self.skip_mode, self.groups = skip_mode, check_int(groups, "groups")
        self.stages_arg = [tuple(check_int(v, "stages") for v in row) for row in stages]
        self.stem = stem_layers("1x1")
        self.blocks = [
            ShuffleV1Unit(channels, strides=2 if index == 0 else 1, groups=groups,
                          input_groups=1 if stage == index == 0 else groups, block=block, residual=residual,
                          skip_mode=skip_mode, name=f"stage{stage + 1}_block{index + 1}")
            for stage, (channels, size) in enumerate(self.stages_arg)
            for index in range(size)
        ]
        self.block = str(self.blocks[0].spec)
        self.stage_sizes = [size for _, size in self.stages_arg]
        self.head = [layers.GlobalAveragePooling2D(name="pool"), layers.Dense(self.num_classes, name="logits")]
        self.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "stages": self.stages_arg, "groups": self.groups}


@register
class ShuffleNetV2(StagedNet):
    """ShuffleNet V2 for CIFAR; see ``shufflenet_v2``.

    Args:
        num_classes: size of the dense head.
        block: grouping of the 3x3 convs (``ShuffleV2Unit``).
        residual: only ``False`` (the units have no residual add).
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        stages: (channels, units) rows; the first unit of a stage has stride 2.
        head_filters: channels of the 1x1 conv before the pool.
        stem: ``"1x1"`` (1x1 conv -BN-ReLU, RepDistiller's) or ``"3x3"`` (3x3 conv -BN, weiaicunzai's).
        use_bias: conv biases.
        down_branch_width: see ``ShuffleV2Unit``.
    """

    def __init__(self, num_classes=100, block="G(N)", residual=False, input_shape=(32, 32, 3), skip_mode=None,
                 stages=V2_STAGES, head_filters=1024, stem="1x1", use_bias=False, down_branch_width="half",
                 **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        if residual is not False:
            raise ValueError("ShuffleNet V2's units concatenate a split, they add no shortcut to remove: "
                             f"residual=False only. Received: residual={residual!r}")
        self.residual, self.skip_mode = residual, skip_mode
        self.stages_arg = [tuple(check_int(v, "stages") for v in row) for row in stages]
        self.head_filters = check_int(head_filters, "head_filters")
        self.use_bias = check_choice(use_bias, "use_bias", (True, False))
        self.stem_kind, self.down_branch_width = check_choice(stem, "stem", STEMS), down_branch_width
        self.stem = stem_layers(stem, use_bias)
        self.blocks = [
            ShuffleV2Unit(channels, strides=2 if index == 0 else 1, block=block, use_bias=use_bias,
                          down_branch_width=down_branch_width, skip_mode=skip_mode,
                          name=f"stage{stage + 1}_block{index + 1}")
            for stage, (channels, size) in enumerate(self.stages_arg)
            for index in range(size)
        ]
        self.block = str(self.blocks[0].spec)
        self.stage_sizes = [size for _, size in self.stages_arg]
        self.head = [
            layers.Conv2D(self.head_filters, 1, use_bias=use_bias, kernel_initializer="he_normal", name="head_conv"),
            batch_norm("head_bn"),
            layers.Activation("relu", name="head_relu"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(self.num_classes, name="logits"),
        ]
        self.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "stages": self.stages_arg, "head_filters": self.head_filters,
                "stem": self.stem_kind, "use_bias": self.use_bias, "down_branch_width": self.down_branch_width}


def shufflenet_v1(num_classes, block="G(N)", residual=True, input_shape=(32, 32, 3), skip_mode=None,
                  name="shufflenet-v1"):
    """Builds the benchmark's ShuffleNet (registry ``shufflenet-v1``; see the module docstring).

    Args:
        num_classes: size of the dense head.
        block: see ``ShuffleV1Unit``.
        residual: ``False`` drops the stride-1 units' identity adds (jha2020's NR).
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        name: model name.

    Example:

    >>> kd.models.profile(shufflenet_v1(100))["trainable_params"]
    949258
    """
    return ShuffleNetV1(num_classes, block, residual, input_shape, skip_mode, name=name)


def shufflenet_v2(num_classes, block="G(N)", residual=False, input_shape=(32, 32, 3), skip_mode=None,
                  name="shufflenet-v2"):
    """Builds the benchmark's ShuffleNet V2 (registry ``shufflenet-v2``; see the module docstring).

    Args:
        num_classes: size of the dense head.
        block: see ``ShuffleV2Unit``.
        residual: ``False`` only.
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        name: model name.

    Example:

    >>> kd.models.profile(shufflenet_v2(100))["trainable_params"]
    1355528
    """
    return ShuffleNetV2(num_classes, block, residual, input_shape, skip_mode, name=name)


def shufflenet_v2_li2021(num_classes, block="G(N)", residual=False, input_shape=(32, 32, 3), skip_mode=None,
                         name="shufflenet-v2-li2021"):
    """Builds li2021 Table VII's ShuffleNet V2 (registry ``shufflenet-v2-li2021``; see the module docstring).

    Args:
        num_classes: as in ``shufflenet_v2``.
        block: as in ``shufflenet_v2``.
        residual: as in ``shufflenet_v2``.
        input_shape: as in ``shufflenet_v2``.
        skip_mode: as in ``shufflenet_v2``.
        name: model name.

    Example:

    >>> kd.models.profile(shufflenet_v2_li2021(100))["trainable_params"]
    1360896
    """
    return ShuffleNetV2(num_classes, block, residual, input_shape, skip_mode, stem="3x3", use_bias=True,
                        down_branch_width="input", name=name)
