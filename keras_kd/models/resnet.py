"""Residual networks of the papers: Wide ResNets, CIFAR ResNets, ResNet-18, ImageNet ResNets.

One class, five builders:

* ``wide_resnet``: pre-activation WRN-d-k as in the attention-transfer /
  Moonshine code (zagoruyko2016; crowley2018 Table 2, jha2020 §5): 3x3 stem conv 3->16;
  three stages of n = (d - 4) / 6 blocks at widths 16k, 32k, 64k, stride 2
  at the start of stages 2 and 3; 1x1 shortcut conv where channels change;
  head BN-ReLU, global average pool, dense.
* ``cifar_resnet``: He et al.'s CIFAR ResNet-(6n+2) (he2016; li2021's teachers,
  students and res-students): 3x3 stem conv-BN-ReLU to 16 channels; three
  stages of n post-activation basic blocks at 16, 32, 64; parameter-free
  "option A" shortcuts (subsample, zero-pad channels); pool, dense. With
  ``shortcut="conv"`` and ``widths``, the CIFAR ResNets of RepDistiller's
  benchmark zoo (resnet8..110, resnet8x4, resnet32x4).
* ``preact_resnet``: He et al.'s pre-activation bottleneck CIFAR ResNet-(9n+2)
  (he2016b; yao2020's ResNet-164).
* ``resnet18``: the CIFAR ResNet-18 of jha2020: 3x3 stem conv-BN-ReLU to 64
  (no max-pool); stages of 2 post-activation blocks at 64, 128, 256, 512;
  1x1 conv + BN projection shortcuts; pool, dense.
* ``imagenet_resnet``: He et al.'s ImageNet ResNet-18/34/50/101/152 as in
  torchvision's ``resnet.py``: 7x7 stride-2 stem conv-BN-ReLU, 3x3 stride-2
  max-pool, four stages of basic or bottleneck blocks, projection shortcuts.

Every builder takes ``block=`` (cheap convs, ``keras_kd.layers.block_spec``)
and ``residual=`` (``False``: jha2020's non-residual networks).
"""

import numbers

from keras import layers

from keras_kd.api import register
from keras_kd.layers.block_spec import parse_block
from keras_kd.layers.residual_block import SwitchableResidualBlock, batch_norm
from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_choice, check_int

STEMS = ("cifar", "imagenet")


def blocks_per_stage(depth, offset, stages=3, convs_per_block=2):
    """n for a depth of ``stages * convs_per_block * n + offset``; raises naming the depth."""
    step = convs_per_block * stages
    integral = isinstance(depth, numbers.Integral) and not isinstance(depth, bool)
    if not integral or depth < step + offset or (depth - offset) % step:
        examples = ", ".join(str(step * n + offset) for n in (1, 2, 3, 4, 6))
        raise ValueError(
            f"`depth` must be {step}n+{offset} with n >= 1 ({examples}, ...). "
            f"Received: depth={depth!r}"
        )
    return int(depth - offset) // step


@register
class ResidualNetwork(StagedNet):
    """Stem, stages of ``SwitchableResidualBlock``, head.

    Built by ``wide_resnet``, ``cifar_resnet``, ``resnet18``, ``imagenet_resnet`` and
    ``dcm_heads``; the arguments are theirs plus the layout:
    ``stem_filters`` (``None``: no stem, the input is a feature map),
    ``stage_widths``, ``stage_sizes``, ``first_stride`` (stride of the first
    stage; the others halve the resolution), ``preactivation``
    (pre-activation blocks, plain stem conv and BN-ReLU head), ``shortcut``
    and ``stem``: ``"cifar"`` (a 3x3 stride-1 conv) or ``"imagenet"`` (he2016's
    7x7 stride-2 conv, BN-ReLU and 3x3 stride-2 max-pool, padded 3 and 1 on every
    side as torchvision does; post-activation networks only).

    Args:
        stage_widths: the channels of each stage.
        stage_sizes: the blocks of each stage.
        num_classes: size of the dense head.
        stem_filters: channels of the stem conv; ``None``: no stem.
        first_stride: stride of the first stage.
        preactivation: pre-activation blocks (see above).
        shortcut: as in ``SwitchableResidualBlock``.
        block: as in ``wide_resnet``.
        residual: as in ``wide_resnet``.
        dropout: as in ``wide_resnet``.
        input_shape: image shape without batch.
        skip_mode: as in ``wide_resnet``.
        stem: ``"cifar"`` or ``"imagenet"`` (see above).
    """

    def __init__(
        self,
        stage_widths=(16, 32, 64),
        stage_sizes=(1, 1, 1),
        num_classes=10,
        stem_filters=16,
        first_stride=1,
        preactivation=True,
        shortcut="conv",
        block="S",
        residual=True,
        dropout=0.0,
        input_shape=(32, 32, 3),
        skip_mode=None,
        stem="cifar",
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_classes = check_int(num_classes, "num_classes")
        spec = parse_block(block)
        self.stem_kind = check_choice(stem, "stem", STEMS)
        if stem == "imagenet" and (preactivation or stem_filters is None):
            raise ValueError(
                "The 'imagenet' stem (conv-BN-ReLU-max-pool) is built for post-activation networks with a "
                f"stem: pass preactivation=False and stem_filters. Received: stem={stem!r}, "
                f"preactivation={preactivation!r}, stem_filters={stem_filters!r}"
            )
        self.stage_widths = [int(w) for w in stage_widths]
        self.stage_sizes = [int(n) for n in stage_sizes]
        self.num_classes, self.stem_filters, self.first_stride = num_classes, stem_filters, first_stride
        self.preactivation, self.shortcut = preactivation, shortcut
        self.block, self.residual, self.dropout = str(spec), residual, dropout
        self.skip_mode = skip_mode
        self.stem = [] if stem_filters is None else self._stem_convs(stem_filters, stem)
        if self.stem and not preactivation:
            self.stem += [batch_norm("stem_bn"), layers.Activation("relu", name="stem_relu")]
        if stem == "imagenet":  # zero padding equals torch's -inf padding after the ReLU
            self.stem += [layers.ZeroPadding2D(1, name="stem_pool_pad"), layers.MaxPooling2D(3, 2, name="stem_pool")]
        self.blocks = [
            SwitchableResidualBlock(
                width,
                strides=(2 if stage else first_stride) if index == 0 else 1,
                block=spec,
                residual=residual,
                dropout=dropout,
                preactivation=preactivation,
                shortcut=shortcut,
                skip_mode=skip_mode,
                name=f"stage{stage + 1}_block{index + 1}",
            )
            for stage, (width, size) in enumerate(zip(self.stage_widths, self.stage_sizes))
            for index in range(size)
        ]
        self.head = []
        if preactivation:
            self.head += [batch_norm("head_bn"), layers.Activation("relu", name="head_relu")]
        self.head += [
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(num_classes, name="logits"),
        ]
        self.build_for(input_shape)

    @staticmethod
    def _stem_convs(filters, stem):
        if stem == "cifar":
            return [layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                                  name="stem_conv")]
        return [layers.ZeroPadding2D(3, name="stem_pad"),
                layers.Conv2D(filters, 7, strides=2, use_bias=False, kernel_initializer="he_normal",
                              name="stem_conv")]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "stem": self.stem_kind,
                "stage_widths": self.stage_widths,
                "stage_sizes": self.stage_sizes,
                "stem_filters": self.stem_filters,
                "first_stride": self.first_stride,
                "preactivation": self.preactivation,
                "shortcut": self.shortcut,
                "dropout": self.dropout,
            }
        )
        return config


def wide_resnet(
    depth,
    width,
    num_classes,
    block="S",
    residual=True,
    dropout=0.0,
    input_shape=(32, 32, 3),
    skip_mode=None,
    name=None,
):
    """Builds WRN-``depth``-``width`` (crowley2018 Table 2, jha2020 §5).

    Args:
        depth: 6n+4 (10, 16, 22, 28, 40, ...).
        width: widening factor k.
        num_classes: size of the dense head.
        block: cheap-conv notation (``"S"``, ``"G(4)"``, ``"G(N/8)"``,
            ``"B(2)"``, ``"BG(2,M/8)"``, ``"S-2x2"``, jha2020's ``"g4"`` /
            ``"G16"``) or a ``BlockSpec``; replaces every block's convs.
        residual: ``False`` removes every shortcut (jha2020's NR).
        dropout: WRN dropout between the two spatial convs of a block.
        input_shape: image shape without batch; ``None`` sizes allowed.
        skip_mode: mechanism for runtime block gates (``keras_kd.layers.skip``):
            ``None`` follows ``keras_kd.config.skip_mode()``; a runtime choice
            for this process, not saved in the model's config.
        name: model name; defaults to ``wrn-<depth>-<width>``.

    Returns:
        A built ``ResidualNetwork``; ``model.call_with_features(x)`` returns
        the logits and the ``stage1..stage3`` outputs of the same pass.

    Example:

    >>> student = wide_resnet(40, 2, num_classes=10, block="G(4)")
    >>> kd.models.profile(student)["params"]
    825210
    """
    per_stage = blocks_per_stage(depth, 4)
    width = check_int(width, "width")
    return ResidualNetwork(
        stage_widths=(16 * width, 32 * width, 64 * width),
        stage_sizes=(per_stage,) * 3,
        num_classes=num_classes,
        block=block,
        residual=residual,
        dropout=dropout,
        input_shape=input_shape,
        skip_mode=skip_mode,
        name=name or f"wrn-{depth}-{width}",
    )


def cifar_resnet(
    depth,
    num_classes,
    block="S",
    residual=True,
    shortcut="pad",
    input_shape=(32, 32, 3),
    skip_mode=None,
    name=None,
    widths=(16, 16, 32, 64),
):
    """Builds He et al.'s CIFAR ResNet-``depth`` (he2016; li2021 Tables II, III, IX).

    Args:
        depth: 6n+2 (8, 14, 20, 32, 44, 56, 110, ...).
        num_classes: size of the dense head.
        block: cheap-conv notation or ``BlockSpec``.
        residual: ``False`` removes every shortcut.
        shortcut: ``"pad"`` (option A, parameter-free, as in the papers'
            counts: ResNet-110 has 1.728 M weights) or ``"conv"`` (1x1 conv +
            BN projection, option B).
        input_shape: as in ``wide_resnet``.
        skip_mode: as in ``wide_resnet``.
        name: as in ``wide_resnet``.
        widths: the stem's and the three stages' channels (RepDistiller's
            ``num_filters``): ``(16, 16, 32, 64)``, or ``(32, 64, 128, 256)``
            for its resnet8x4 / resnet32x4.

    Example:

    >>> kd.models.profile(cifar_resnet(20, 10))["trainable_params"]
    269722
    """
    per_stage = blocks_per_stage(depth, 2)
    widths = [check_int(w, "widths") for w in widths]
    if len(widths) != 4:
        raise ValueError(f"`widths` needs 4 entries: the stem's and three stages' channels. Received: widths={widths}")
    return ResidualNetwork(
        stage_widths=widths[1:],
        stage_sizes=(per_stage,) * 3,
        num_classes=num_classes,
        stem_filters=widths[0],
        preactivation=False,
        shortcut=shortcut,
        block=block,
        residual=residual,
        input_shape=input_shape,
        skip_mode=skip_mode,
        name=name or f"resnet-{depth}",
    )


def preact_resnet(
    depth,
    num_classes,
    block="B(4)",
    residual=True,
    input_shape=(32, 32, 3),
    skip_mode=None,
    name=None,
):
    """Builds He et al.'s pre-activation bottleneck CIFAR ResNet-``depth`` (he2016b, "Identity
    Mappings in Deep Residual Networks"; yao2020 Tables 1, 3: ResNet-164).

    3x3 stem conv 3->16; three stages of n = (depth - 2) / 9 pre-activation bottlenecks
    (BN-ReLU-1x1-BN-ReLU-3x3-BN-ReLU-1x1, the stride on the 3x3) with outputs 64, 128, 256
    (4x the 3x3 width); a 1x1 conv shortcut where the shape changes, reading the
    pre-activated input as the WRN code does (the count is the same either way); head
    BN-ReLU, pool, dense. ResNet-164 has 1,703,258 weights at 10 classes, as the
    bearpaw/pytorch-classification port of He et al.'s code (he2016b: "1.7M").

    Args:
        depth: 9n+2 (164, 1001, ...).
        num_classes: size of the dense head.
        block: ``"B(4)"`` (the bottleneck) or a cheap-conv notation substituted into every
            block (its bottleneck factor must divide 64).
        residual: as in ``wide_resnet``.
        input_shape: as in ``wide_resnet``.
        skip_mode: as in ``wide_resnet``.
        name: model name; defaults to ``preact-resnet-<depth>``.

    Example:

    >>> kd.models.profile(preact_resnet(164, 10))["trainable_params"]
    1703258
    """
    per_stage = blocks_per_stage(depth, 2, convs_per_block=3)
    return ResidualNetwork(
        stage_widths=(64, 128, 256),
        stage_sizes=(per_stage,) * 3,
        num_classes=num_classes,
        stem_filters=16,
        preactivation=True,
        shortcut="conv",
        block=block,
        residual=residual,
        input_shape=input_shape,
        skip_mode=skip_mode,
        name=name or f"preact-resnet-{depth}",
    )


def resnet18(
    num_classes,
    block="S",
    residual=True,
    input_shape=(32, 32, 3),
    skip_mode=None,
    name="cifar-resnet-18",
):
    """Builds the CIFAR ResNet-18 of jha2020 (Tables 1, 8, 9); registry name ``cifar-resnet-18``
    (``resnet-18`` is ImageNet's): ``imagenet_resnet(18, stem="cifar")``.

    3x3 stem conv-BN-ReLU to 64 channels without max-pool; 2 post-activation
    blocks per stage at 64, 128, 256, 512; 1x1 conv + BN projection
    shortcuts where the shape changes. With ``block="g4"`` (or any G block)
    each 3x3 becomes a 3x3 grouped conv + BN-ReLU + 1x1, as in jha2020.

    Args:
        num_classes: size of the dense head.
        block: cheap-conv notation substituted into every block (as in ``imagenet_resnet``).
        residual: ``False`` removes every shortcut (jha2020's NR).
        input_shape: image shape without batch.
        skip_mode: as in ``wide_resnet``.
        name: model name.

    Example:

    >>> round(kd.models.profile(resnet18(100, block="G1"))["trainable_params"] / 1e6, 2)
    1.49
    """
    return imagenet_resnet(18, num_classes, block, residual, input_shape, skip_mode, name, stem="cifar")


# he2016 Table 1, as torchvision's resnet.py builds it: the block of each depth (S: two 3x3
# convs; B(4): 1x1 -> 3x3 -> 1x1 at a quarter of the output width, the stride on the 3x3) and
# the blocks per stage; a bottleneck stage's output is 4x its width.
IMAGENET_LAYOUTS = {
    18: ("S", (2, 2, 2, 2)),
    34: ("S", (3, 4, 6, 3)),
    50: ("B(4)", (3, 4, 6, 3)),
    101: ("B(4)", (3, 4, 23, 3)),
    152: ("B(4)", (3, 8, 36, 3)),
}


def imagenet_resnet(
    depth,
    num_classes,
    block=None,
    residual=True,
    input_shape=None,
    skip_mode=None,
    name=None,
    stem="imagenet",
):
    """Builds He et al.'s ImageNet ResNet-``depth`` (he2016 Table 1) as torchvision's ``resnet.py``,
    or its CIFAR variant (``stem="cifar"``).

    7x7 stride-2 stem conv (64) -BN-ReLU, 3x3 stride-2 max-pool (``stem="cifar"``:
    a 3x3 stride-1 conv-BN-ReLU and no pool, as jha2020's ResNet-18 and li2021's
    CIFAR ResNet-50 of 1,305 MFLOPs, registry names ``cifar-resnet-<depth>``); four stages
    at 64, 128, 256, 512 (x4 outputs for bottlenecks), the first stride 1,
    the others 2; basic blocks (18, 34) or bottlenecks (50, 101, 152) with the
    stride on the 3x3 conv (torchvision's "v1.5"); 1x1 conv + BN projection
    shortcuts where the shape changes; pool, dense. Parameter counts equal
    torchvision's (ResNet-50: 25,557,032 at 1000 classes). The weights are
    initialized as the rest of the zoo (He normal, fan in), not as torchvision
    (fan out).

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_classes: size of the dense head.
        block: ``None`` (the depth's block: ``"S"`` or ``"B(4)"``) or a
            cheap-conv notation substituted into every block (``"BG(4,32)"``
            groups a bottleneck's 3x3 conv; a bottleneck factor must divide
            the output widths).
        residual: ``False`` removes every shortcut.
        input_shape: image shape without batch; ``None``: 224 px for the
            ImageNet stem, 32 px for the CIFAR one.
        skip_mode: as in ``wide_resnet``.
        name: model name; defaults to ``resnet-<depth>`` (``cifar-resnet-<depth>``).
        stem: ``"imagenet"`` or ``"cifar"``.

    Example:

    >>> kd.models.profile(imagenet_resnet(18, 1000, input_shape=(64, 64, 3)))["trainable_params"]
    11689512
    """
    if depth not in IMAGENET_LAYOUTS or isinstance(depth, bool):
        raise ValueError(f"`depth` must be one of {sorted(IMAGENET_LAYOUTS)}. Received: depth={depth!r}")
    check_choice(stem, "stem", STEMS)
    default_block, sizes = IMAGENET_LAYOUTS[depth]
    expansion = 4 if default_block == "B(4)" else 1
    return ResidualNetwork(
        stage_widths=tuple(expansion * width for width in (64, 128, 256, 512)),
        stage_sizes=sizes,
        num_classes=num_classes,
        stem_filters=64,
        stem=stem,
        preactivation=False,
        shortcut="conv",
        block=default_block if block is None else block,
        residual=residual,
        input_shape=input_shape or ((224, 224, 3) if stem == "imagenet" else (32, 32, 3)),
        skip_mode=skip_mode,
        name=name or f"{'' if stem == 'imagenet' else 'cifar-'}resnet-{depth}",
    )
