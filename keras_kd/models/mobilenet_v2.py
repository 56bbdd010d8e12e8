"""The CIFAR MobileNetV2 of jha2020 (Tables 2, 8, 9).

Which CIFAR variant jha2020 used is not stated; this one reproduces every
parameter count of Table 9 and eight of the nine FLOP counts of Table 8
to the printed precision (G2: 67.715 M multiply-adds against a printed
67.72, 51 short of the rounding edge; R and NR equal, as printed). It is
the MobileNetV2 of a widely used PyTorch CIFAR-100 code base, with these
departures from Sandler et al. (2018, sandler2018), all needed for the counts:

* stem: 1x1 conv (3 -> 32) with padding 1, so 32x32 inputs become 34x34;
* every block, the first (t = 1) included, has its 1x1 expansion conv;
* stages (t, c, n, s): (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2)
  (6,96,3,1) (6,160,3,1) (6,320,1,1): spatial 34 -> 17 -> 9 -> 5;
* every conv has a bias; head 1x1 conv to 1280, BN-ReLU6, pool, dense.

The standard MobileNetV2 adapted to 32x32 (3x3 stem, no t=1 expansion,
no conv biases) lands ~0.016 M below every Table 9 entry.

``mobilenet_v2_half`` is the other CIFAR MobileNetV2 of the distillation
literature, the student of the CRD / mdistiller benchmark (RepDistiller
``models/mobilenetv2.py`` ``mobile_half``, from the code of Jin et al.'s
route-constrained optimization): width 0.5, 3x3 stride-2 stem conv to 16,
stages (1,8,1,1) (6,12,2,1) (6,16,3,2) (6,32,4,2) (6,48,3,1) (6,80,3,2)
(6,160,1,1) (every block with its expansion conv), head 1x1 conv to 1280,
ReLU (not ReLU6) and no conv biases.
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.inverted_residual import ACTIVATIONS, InvertedResidualBlock
from keras_kd.layers.residual_block import batch_norm
from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_choice, check_int

# (expansion t, channels c, blocks n, first stride s)
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 1),
    (6, 320, 1, 1),
)
# RepDistiller's mobile_half: sandler2018's rows at width 0.5, CIFAR strides.
HALF_STAGES = (
    (1, 8, 1, 1),
    (6, 12, 2, 1),
    (6, 16, 3, 2),
    (6, 32, 4, 2),
    (6, 48, 3, 1),
    (6, 80, 3, 2),
    (6, 160, 1, 1),
)
STEMS = ("pad-1x1", "3x3-s2")


@register
class MobileNetV2(StagedNet):
    """CIFAR MobileNetV2; see ``mobilenet_v2``.

    ``stages`` ((t, c, n, s) rows), ``head_filters`` and ``stem=False`` (the
    input is a feature map) let ``dcm_heads`` build auxiliary classifiers
    from the same blocks. ``stem_kind`` is jha2020's ``"pad-1x1"`` (a 1x1 conv
    with padding 1) or ``"3x3-s2"`` (a 3x3 stride-2 conv, RepDistiller's), to
    ``stem_filters`` channels; ``activation`` (``"relu6"`` or ``"relu"``) and
    ``use_bias`` apply to every conv and activation of the network.

    Args:
        num_classes: as in ``mobilenet_v2``.
        block: as in ``mobilenet_v2``.
        residual: as in ``mobilenet_v2``.
        input_shape: as in ``mobilenet_v2``.
        skip_mode: as in ``mobilenet_v2``.
        stages: the ``(t, c, n, s)`` rows: expansion, channels, blocks and first stride of each stage.
        head_filters: channels of the 1x1 conv before the pool.
        stem: ``False`` for no stem (the input is a feature map).
        stem_kind: ``"pad-1x1"`` or ``"3x3-s2"`` (see above).
        stem_filters: channels of the stem conv.
        activation: ``"relu6"`` or ``"relu"``.
        use_bias: whether the convs have biases.
    """

    def __init__(
        self,
        num_classes=100,
        block="G(N)",
        residual=True,
        input_shape=(32, 32, 3),
        skip_mode=None,
        stages=STAGES,
        head_filters=1280,
        stem=True,
        stem_kind="pad-1x1",
        stem_filters=32,
        activation="relu6",
        use_bias=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_classes = check_int(num_classes, "num_classes")
        self.num_classes, self.residual, self.skip_mode = num_classes, residual, skip_mode
        self.stages_arg = [tuple(int(v) for v in row) for row in stages]
        self.head_filters, self.has_stem = head_filters, stem
        self.stem_kind, self.stem_filters = check_choice(stem_kind, "stem_kind", STEMS), stem_filters
        self.activation, self.use_bias = check_choice(activation, "activation", ACTIVATIONS), use_bias
        kernel, strides = (1, 1) if stem_kind == "pad-1x1" else (3, 2)  # both padded 1 on every side, as torch
        self.stem = [
            layers.ZeroPadding2D(1, name="stem_pad"),
            layers.Conv2D(stem_filters, kernel, strides=strides, use_bias=use_bias, name="stem_conv"),
            batch_norm("stem_bn"),
            layers.Activation(activation, name=f"stem_{activation}"),
        ] if stem else []
        self.blocks = [
            InvertedResidualBlock(
                channels,
                strides=stride if index == 0 else 1,
                expansion=expansion,
                block=block,
                residual=residual,
                use_bias=use_bias,
                activation=activation,
                skip_mode=skip_mode,
                name=f"stage{stage + 1}_block{index + 1}",
            )
            for stage, (expansion, channels, size, stride) in enumerate(self.stages_arg)
            for index in range(size)
        ]
        self.block = str(self.blocks[0].spec)
        self.stage_sizes = [size for _, _, size, _ in self.stages_arg]
        self.head = [
            layers.Conv2D(head_filters, 1, use_bias=use_bias, name="head_conv"),
            batch_norm("head_bn"),
            layers.Activation(activation, name=f"head_{activation}"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(num_classes, name="logits"),
        ]
        self.build_for(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"stages": self.stages_arg, "head_filters": self.head_filters, "stem": self.has_stem,
             "stem_kind": self.stem_kind, "stem_filters": self.stem_filters, "activation": self.activation,
             "use_bias": self.use_bias}
        )
        return config


def mobilenet_v2(
    num_classes,
    block="G(N)",
    residual=True,
    input_shape=(32, 32, 3),
    skip_mode=None,
    name="mobilenet-v2",
):
    """Builds jha2020's CIFAR MobileNetV2 (see the module docstring).

    Args:
        num_classes: size of the dense head.
        block: the 3x3 conv of every block: ``"G(N)"`` depthwise (default),
            jha2020's ``"g2"``..``"g16"`` (constant groups) or
            ``"G1"``..``"G16"`` (constant group size), or ``"G(g)"`` /
            ``"G(N/k)"``; groups are taken over the expanded width.
        residual: ``False`` drops the identity adds (jha2020's NR).
        input_shape: as in ``wide_resnet``.
        skip_mode: as in ``wide_resnet``.
        name: as in ``wide_resnet``.

    Example:

    >>> round(kd.models.profile(mobilenet_v2(100, block="g2"))["trainable_params"] / 1e6, 1)
    22.6
    """
    return MobileNetV2(
        num_classes=num_classes,
        block=block,
        residual=residual,
        input_shape=input_shape,
        skip_mode=skip_mode,
        name=name,
    )


def mobilenet_v2_half(
    num_classes,
    block="G(N)",
    residual=True,
    input_shape=(32, 32, 3),
    skip_mode=None,
    name="mobilenet-v2-half",
):
    """Builds RepDistiller's CIFAR MobileNetV2 at width 0.5 (``mobile_half``; see the module docstring).

    Args:
        num_classes: as in ``mobilenet_v2``.
        block: as in ``mobilenet_v2``.
        residual: as in ``mobilenet_v2``.
        input_shape: as in ``mobilenet_v2``.
        skip_mode: as in ``mobilenet_v2``.
        name: model name.

    Example:

    >>> kd.models.profile(mobilenet_v2_half(100))["trainable_params"]
    812836
    """
    return MobileNetV2(
        num_classes=num_classes,
        block=block,
        residual=residual,
        input_shape=input_shape,
        skip_mode=skip_mode,
        stages=HALF_STAGES,
        stem_kind="3x3-s2",
        stem_filters=16,
        activation="relu",
        use_bias=False,
        name=name,
    )
