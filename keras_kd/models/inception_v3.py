"""Inception-v3 (szegedy2016) for CIFAR, as li2021 Table VII's teacher (weiaicunzai/pytorch-cifar100
``models/inceptionv3.py``, whose 3399 / 3400 MFLOPs li2021 prints).

Stem without strides or pooling: 3x3 convs to 32, 32, 64 (padded), a 1x1 conv to 80 and an unpadded
3x3 conv to 192 (32 -> 30 px); every conv without bias -BN-ReLU. Then the ``InceptionModule``s of
torchvision's Inception-v3: Mixed_5b-d (``inception_a``, pool-branch widths 32 / 64 / 64; its pool
branch's conv is 3x3 in the reference, 1x1 in torchvision), Mixed_6a (``reduction_b``, 30 -> 14 px),
Mixed_6b-e (``inception_c``, 7x7 factorized to 7x1 and 1x7, widths 128 / 160 / 160 / 192), Mixed_7a
(``reduction_d``, 14 -> 6 px), Mixed_7b-c (``inception_e``); global average pool, dropout 0.5, dense.
No auxiliary classifier. The stage outputs (after Mixed_5d, 6e, 7c) are the taps ``stage1..3``, the
pooled features the ``"embedding"``. 22,133,738 / 22,318,148 weights at 10 / 100 classes, as the
reference. An Inception has no residual blocks: ``block="S"`` and ``residual=False`` only.
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.inception import InceptionModule, conv
from keras_kd.models.staged import StagedNet, check_no_residual_blocks, plain_stem
from keras_kd.validation import check_int, check_number

STEM = ((32, 3, 1), (32, 3, 1), (64, 3, 1), (80, 1, 0), (192, 3, 0))  # (filters, kernel, padding)
AVERAGE_SAME = ["avg", 3, 1, 1]


def inception_a(pool_filters):
    return [[conv(64)], [conv(48), conv(64, 5)], [conv(64), conv(96, 3), conv(96, 3)],
            [AVERAGE_SAME, conv(pool_filters, 3)]]


def reduction_b():
    return [[conv(384, 3, 2, 0)], [conv(64), conv(96, 3), conv(96, 3, 2, 0)], [["max", 3, 2]]]


def inception_c(width):
    return [
        [conv(192)],
        [conv(width), conv(width, (7, 1)), conv(192, (1, 7))],
        [conv(width), conv(width, (7, 1)), conv(width, (1, 7)), conv(width, (7, 1)), conv(192, (1, 7))],
        [AVERAGE_SAME, conv(192)],
    ]


def reduction_d():
    return [[conv(192), conv(320, 3, 2, 0)],
            [conv(192), conv(192, (1, 7)), conv(192, (7, 1)), conv(192, 3, 2, 0)],
            [["avg", 3, 2, 0]]]


def inception_e():
    pair = ["fork", [conv(384, (1, 3))], [conv(384, (3, 1))]]
    return [[conv(320)], [conv(384), pair], [conv(448), conv(384, 3), pair], [AVERAGE_SAME, conv(192)]]


STAGES = (
    (inception_a(32), inception_a(64), inception_a(64)),
    (reduction_b(), inception_c(128), inception_c(160), inception_c(160), inception_c(192)),
    (reduction_d(), inception_e(), inception_e()),
)


@register
class InceptionV3(StagedNet):
    """CIFAR Inception-v3; see ``inception_v3``.

    Args:
        num_classes: size of the dense head.
        block: only ``"S"`` (no residual blocks).
        residual: only ``False``.
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        stages: the modules' branches per stage (``keras_kd.layers.inception``).
        dropout: rate before the dense head.
    """

    def __init__(self, num_classes=100, block="S", residual=False, input_shape=(32, 32, 3), skip_mode=None,
                 stages=STAGES, dropout=0.5, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        check_no_residual_blocks("An Inception", block, residual)
        self.block, self.residual, self.skip_mode = block, residual, skip_mode
        self.dropout = check_number(dropout, "dropout", 0, 1, high_open=True)
        self.stages_arg = [[[[list(step) for step in branch] for branch in module] for module in stage]
                           for stage in stages]
        self.stem = plain_stem(STEM)
        self.blocks = [
            InceptionModule(module, skip_mode=skip_mode, name=f"stage{stage + 1}_block{index + 1}")
            for stage, modules in enumerate(self.stages_arg)
            for index, module in enumerate(modules)
        ]
        self.stage_sizes = [len(modules) for modules in self.stages_arg]
        self.head = [layers.GlobalAveragePooling2D(name="pool"), layers.Dropout(dropout, name="dropout"),
                     layers.Dense(self.num_classes, name="logits")]
        self.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "stages": self.stages_arg, "dropout": self.dropout}


def inception_v3(num_classes, input_shape=(32, 32, 3), skip_mode=None, block="S", residual=False,
                 name="inception-v3"):
    """Builds li2021's CIFAR Inception-v3 (registry ``inception-v3``; see the module docstring).

    Args:
        num_classes: size of the dense head.
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        block: ``"S"`` only.
        residual: ``False`` only.
        name: model name.

    Example:

    >>> kd.models.profile(inception_v3(10))["trainable_params"]
    22133738
    """
    return InceptionV3(num_classes, block, residual, input_shape, skip_mode, name=name)
