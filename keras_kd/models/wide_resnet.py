"""Pre-activation Wide ResNet (Zagoruyko & Komodakis 2016) with cheap blocks.

Exactly the network of the attention-transfer / Moonshine code that
crowley2018 Table 2 and jha2020 App. A use: 3x3 stem conv 3->16; three
groups of n = (depth - 4) / 6 blocks of widths 16k, 32k, 64k, stride 2 at
the start of groups 2 and 3; head BN-ReLU, global average pool, dense.
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.block_spec import parse_block
from keras_kd.layers.residual_block import SwitchableResidualBlock, batch_norm
from keras_kd.models.staged import StagedNet


def _positive_int(value, name):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")


@register
class WideResNet(StagedNet):
    """WRN-depth-width; see ``wide_resnet``."""

    def __init__(
        self,
        depth=16,
        width=1,
        num_classes=10,
        block="S",
        residual=True,
        dropout=0.0,
        input_shape=(32, 32, 3),
        skip_mode="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(
                f"`depth` must be 6n+4 with n >= 1 (10, 16, 22, 28, 40, ...). "
                f"Received: depth={depth!r}"
            )
        _positive_int(width, "width")
        _positive_int(num_classes, "num_classes")
        spec = parse_block(block)
        self.depth, self.width, self.num_classes = depth, width, num_classes
        self.block, self.residual, self.dropout = str(spec), residual, dropout
        self.skip_mode = skip_mode
        per_stage = (depth - 4) // 6
        self.stem = [
            layers.Conv2D(
                16, 3, padding="same", use_bias=False,
                kernel_initializer="he_normal", name="stem_conv",
            )
        ]
        self.blocks = [
            SwitchableResidualBlock(
                16 * (2**stage) * width,
                strides=2 if stage and not index else 1,
                block=spec,
                residual=residual,
                dropout=dropout,
                skip_mode=skip_mode,
                name=f"stage{stage + 1}_block{index + 1}",
            )
            for stage in range(3)
            for index in range(per_stage)
        ]
        self.stage_sizes = [per_stage] * 3
        self.head = [
            batch_norm("head_bn"),
            layers.Activation("relu", name="head_relu"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(num_classes, name="logits"),
        ]
        self.build_for(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "depth": self.depth,
                "width": self.width,
                "num_classes": self.num_classes,
                "block": self.block,
                "residual": self.residual,
                "dropout": self.dropout,
                "input_shape": self.input_shape_arg,
                "skip_mode": self.skip_mode,
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
    skip_mode="auto",
    name=None,
):
    """Builds WRN-``depth``-``width`` (crowley2018 Table 2, jha2020 §5).

    Args:
        depth: 6n+4 (16, 22, 28, 40, ...).
        width: widening factor k.
        num_classes: size of the dense head.
        block: cheap-conv notation (``"S"``, ``"G(4)"``, ``"G(N/8)"``,
            ``"B(2)"``, ``"BG(2,M/8)"``, ``"S-2x2"``, jha2020's ``"g4"`` /
            ``"G16"``) or a ``BlockSpec``; replaces every block's convs.
        residual: ``False`` removes every shortcut (jha2020's NR).
        dropout: WRN dropout between the two spatial convs of a block.
        input_shape: image shape without batch; ``None`` sizes allowed.
        skip_mode: mechanism for runtime block gates (``keras_kd.layers.skip``).
        name: model name; defaults to ``wrn-<depth>-<width>``.

    Returns:
        A built ``WideResNet``; ``model.call_with_features(x)`` returns the
        logits and the ``stage1..stage3`` outputs of the same pass.

    Example:

    >>> student = wide_resnet(40, 2, num_classes=10, block="G(4)")
    >>> profile(student)["params"]
    825210
    """
    return WideResNet(
        depth=depth,
        width=width,
        num_classes=num_classes,
        block=block,
        residual=residual,
        dropout=dropout,
        input_shape=input_shape,
        skip_mode=skip_mode,
        name=name or f"wrn-{depth}-{width}",
    )
