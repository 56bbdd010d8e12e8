"""DenseNet for CIFAR without bottlenecks (huang2017a; yao2020's DenseNet-40-12, Table 2).

A 3x3 stem conv; three dense blocks of n = (depth - 4) / 3 ``DenseLayer``s (BN-ReLU-3x3 conv
adding k channels each), a ``Transition`` (BN-ReLU-1x1 conv keeping the channels, 2x2
average pool) before blocks 2 and 3; BN-ReLU, global average pool, dense. The dense-block
outputs are the taps ``stage1..stage3`` (DenseNet-40-12: 160, 304, 448 channels), the pooled
features the ``"embedding"``. Convs have no bias and start He normal over the fan in.

The stem width: huang2017a §3 writes "Before entering the first dense block, a convolution
with 16 (or twice the growth rate for DenseNet-BC) output channels is performed"; the
authors' code (liuzhuang13/DenseNet ``models/densenet.lua``) starts every DenseNet with
``nChannels = 2 * growthRate``. The default follows the paper (16: 1,019,722 weights at 10
classes, "1.0M" in its Table 2); ``stem_filters=24`` builds the code's (1,059,298, as the
bearpaw/pytorch-classification port).

A DenseNet has no residual blocks: it takes no ``block=`` substitution or ``residual=``
switch, and none of its layers can be skipped (GKT, stochastic depth and stimulative
training need residual networks).
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.dense_block import DenseLayer, Transition
from keras_kd.layers.residual_block import batch_norm
from keras_kd.models.resnet import blocks_per_stage
from keras_kd.models.staged import StagedNet, check_no_residual_blocks
from keras_kd.validation import check_int


@register
class DenseNet(StagedNet):
    """Stem, dense blocks with transitions between them, BN-ReLU head; see ``densenet``.

    Args:
        stage_layers: ``DenseLayer``s per dense block.
        growth_rates: the growth rate k of each dense block.
        num_classes: size of the dense head.
        stem_filters: channels of the 3x3 stem conv; ``None``: no stem, the input is a feature
            map (DCM's auxiliary classifiers).
        first_transition: a transition before the first dense block too (the auxiliary
            classifiers, whose every stage starts by halving the resolution).
        dropout: dropout rate after every conv but the stem's (huang2017a: 0.2 without data
            augmentation).
        input_shape: image (or feature map) shape without batch.
        block: only ``"S"`` (a DenseNet has no residual blocks; in the signature because every
            zoo model's config has it).
        residual: only ``False`` (no shortcuts to remove).
        skip_mode: see ``keras_kd.layers.skip``.
    """

    def __init__(self, stage_layers=(12, 12, 12), growth_rates=(12, 12, 12), num_classes=100, stem_filters=16,
                 first_transition=False, dropout=0.0, input_shape=(32, 32, 3), block="S", residual=False,
                 skip_mode=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        check_no_residual_blocks("A DenseNet", block, residual)
        self.stage_layers = [check_int(n, "stage_layers") for n in stage_layers]
        self.growth_rates = [check_int(k, "growth_rates") for k in growth_rates]
        if len(self.stage_layers) != len(self.growth_rates):
            raise ValueError(
                "`stage_layers` and `growth_rates` need one entry per dense block. "
                f"Received: stage_layers={stage_layers}, growth_rates={growth_rates}"
            )
        self.block, self.residual, self.skip_mode = block, residual, skip_mode
        self.stem_filters, self.first_transition, self.dropout = stem_filters, bool(first_transition), float(dropout)
        self.stem = [] if stem_filters is None else [
            layers.Conv2D(check_int(stem_filters, "stem_filters"), 3, padding="same", use_bias=False,
                          kernel_initializer="he_normal", name="stem_conv")
        ]
        channels = input_shape[-1] if stem_filters is None else stem_filters
        self.blocks, self.stage_sizes = [], []
        for stage, (size, growth) in enumerate(zip(self.stage_layers, self.growth_rates)):
            transition = stage > 0 or self.first_transition
            if transition:
                self.blocks.append(Transition(channels, self.dropout, skip_mode, name=f"stage{stage + 1}_transition"))
            self.blocks += [DenseLayer(growth, self.dropout, skip_mode, name=f"stage{stage + 1}_layer{index + 1}")
                            for index in range(size)]
            self.stage_sizes.append(size + transition)
            channels += size * growth
        self.head = [batch_norm("head_bn"), layers.Activation("relu", name="head_relu"),
                     layers.GlobalAveragePooling2D(name="pool"), layers.Dense(self.num_classes, name="logits")]
        self.build_for(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "stage_layers": self.stage_layers,
            "growth_rates": self.growth_rates,
            "stem_filters": self.stem_filters,
            "first_transition": self.first_transition,
            "dropout": self.dropout,
        }


def densenet(depth, growth_rate, num_classes, stem_filters=16, dropout=0.0, input_shape=(32, 32, 3),
             skip_mode=None, name=None, block="S", residual=False):
    """Builds the CIFAR DenseNet-``depth``-``growth_rate`` (huang2017a; registry ``densenet-40-12``).

    Args:
        depth: 3n+4 (40, 100, ...): n layers per dense block.
        growth_rate: k.
        num_classes: size of the dense head.
        stem_filters: 16 (the paper) or 24 (the authors' code); see the module docstring.
        dropout: see ``DenseNet``.
        input_shape: image shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        name: model name; defaults to ``densenet-<depth>-<growth_rate>``.
        block: see ``DenseNet`` (``"S"`` only).
        residual: see ``DenseNet`` (``False`` only).

    Example:

    >>> kd.models.profile(densenet(40, 12, 10))["trainable_params"]
    1019722
    """
    per_stage = blocks_per_stage(depth, 4, convs_per_block=1)
    growth_rate = check_int(growth_rate, "growth_rate")
    return DenseNet((per_stage,) * 3, (growth_rate,) * 3, num_classes, stem_filters, False, dropout, input_shape,
                    block, residual, skip_mode, name=name or f"densenet-{depth}-{growth_rate}")
