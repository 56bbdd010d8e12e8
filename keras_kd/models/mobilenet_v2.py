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
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.inverted_residual import InvertedResidualBlock
from keras_kd.layers.residual_block import batch_norm
from keras_kd.validation import check_int
from keras_kd.models.staged import StagedNet

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


@register
class MobileNetV2(StagedNet):
    """CIFAR MobileNetV2; see ``mobilenet_v2``.

    ``stages`` ((t, c, n, s) rows), ``head_filters`` and ``stem=False`` (the
    input is a feature map) let ``dcm_heads`` build auxiliary classifiers
    from the same blocks.
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_classes = check_int(num_classes, "num_classes")
        self.num_classes, self.residual, self.skip_mode = num_classes, residual, skip_mode
        self.stages_arg = [tuple(int(v) for v in row) for row in stages]
        self.head_filters, self.has_stem = head_filters, stem
        self.stem = [
            layers.ZeroPadding2D(1, name="stem_pad"),
            layers.Conv2D(32, 1, name="stem_conv"),
            batch_norm("stem_bn"),
            layers.Activation("relu6", name="stem_relu6"),
        ] if stem else []
        self.blocks = [
            InvertedResidualBlock(
                channels,
                strides=stride if index == 0 else 1,
                expansion=expansion,
                block=block,
                residual=residual,
                skip_mode=skip_mode,
                name=f"stage{stage + 1}_block{index + 1}",
            )
            for stage, (expansion, channels, size, stride) in enumerate(self.stages_arg)
            for index in range(size)
        ]
        self.block = str(self.blocks[0].spec)
        self.stage_sizes = [size for _, _, size, _ in self.stages_arg]
        self.head = [
            layers.Conv2D(head_filters, 1, name="head_conv"),
            batch_norm("head_bn"),
            layers.Activation("relu6", name="head_relu6"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(num_classes, name="logits"),
        ]
        self.build_for(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"stages": self.stages_arg, "head_filters": self.head_filters, "stem": self.has_stem}
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
