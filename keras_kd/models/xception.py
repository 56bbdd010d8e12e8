"""Xception (chollet2017) for CIFAR, as li2021 Table VII's (weiaicunzai/pytorch-cifar100
``models/xception.py``, whose 1134 MFLOPs li2021 prints).

Stem: 3x3 convs 3 -> 32 -> 64 (stride 1, no bias) -BN-ReLU. Entry flow: ``XceptionBlock``s to 128
and 256 (max-pool stride 2) and 728 (stride 1), the first without its leading ReLU; middle flow: 8
blocks of three separable convs at 728 with identity shortcuts; exit flow: a block to 728, 1024
(stride 2), then separable convs to 1536 and 2048 -BN-ReLU; global average pool, dense. 32 px in,
4 x 4 at the exit. The taps: ``stage1`` (entry, 8 x 8 x 728), ``stage2`` (middle), ``stage3`` (exit,
4 x 4 x 2048); the pooled features the ``"embedding"``. 20,829,578 / 21,013,988 weights at 10 / 100
classes, as the reference code.

The reference's in-place ReLU makes the shortcuts of the second and third entry blocks and the middle
flow's identities read the ReLU'd block input (chollet2017 Fig. 5 adds the input itself);
``inplace_relu=False`` gives chollet2017's form. The middle flow's blocks can be skipped;
``residual=False`` removes every shortcut (jha2020's NR).
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.xception_block import XceptionBlock, XceptionSeparable
from keras_kd.models.staged import StagedNet, plain_stem
from keras_kd.validation import check_choice, check_int

ENTRY = ((128, 2), (256, 2), (728, 1))  # (channels, max-pool stride)
MIDDLE_WIDTH, MIDDLE_BLOCKS = 728, 8
EXIT = ((728, 1024), 1536, 2048)
STEM = ((32, 3, 1), (64, 3, 1))  # (filters, kernel, padding)


@register
class Xception(StagedNet):
    """CIFAR Xception; see ``xception``.

    Args:
        num_classes: size of the dense head.
        block: grouping of the separable convs' 3x3 (``XceptionBlock``).
        residual: keep the shortcuts.
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        middle_blocks: blocks of the middle flow (8).
        inplace_relu: shortcuts read the ReLU'd input where the reference code's in-place ReLU does.
    """

    def __init__(self, num_classes=100, block="G(N)", residual=True, input_shape=(32, 32, 3), skip_mode=None,
                 middle_blocks=MIDDLE_BLOCKS, inplace_relu=True, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        self.residual = check_choice(residual, "residual", (True, False))
        self.skip_mode, self.inplace_relu = skip_mode, check_choice(inplace_relu, "inplace_relu", (True, False))
        self.middle_blocks = check_int(middle_blocks, "middle_blocks")
        self.stem = plain_stem(STEM)
        common = {"block": block, "residual": residual, "skip_mode": skip_mode}
        entry = [
            XceptionBlock((filters, filters), strides, relu_first=index > 0,
                          shortcut_after_relu=index > 0 and self.inplace_relu, name=f"stage1_block{index + 1}",
                          **common)
            for index, (filters, strides) in enumerate(ENTRY)
        ]
        middle = [
            XceptionBlock((MIDDLE_WIDTH,) * 3, shortcut_after_relu=self.inplace_relu, name=f"stage2_block{i + 1}",
                          **common)
            for i in range(self.middle_blocks)
        ]
        exit_flow = [
            XceptionBlock(EXIT[0], 2, name="stage3_block1", **common),
            *(XceptionSeparable(filters, block=block, skip_mode=skip_mode, name=f"stage3_block{i + 2}")
              for i, filters in enumerate(EXIT[1:])),
        ]
        self.blocks = entry + middle + exit_flow
        self.block = str(self.blocks[0].spec)
        self.stage_sizes = [len(entry), len(middle), len(exit_flow)]
        self.head = [layers.GlobalAveragePooling2D(name="pool"), layers.Dense(self.num_classes, name="logits")]
        self.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "middle_blocks": self.middle_blocks, "inplace_relu": self.inplace_relu}


def xception(num_classes, block="G(N)", residual=True, input_shape=(32, 32, 3), skip_mode=None, name="xception"):
    """Builds li2021's CIFAR Xception (registry ``xception``; see the module docstring).

    Args:
        num_classes: size of the dense head.
        block: see ``XceptionBlock``.
        residual: ``False`` removes the shortcuts (jha2020's NR).
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        name: model name.

    Example:

    >>> kd.models.profile(xception(10))["trainable_params"]
    20829578
    """
    return Xception(num_classes, block, residual, input_shape, skip_mode, name=name)
