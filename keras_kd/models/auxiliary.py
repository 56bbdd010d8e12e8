"""DCM auxiliary classifiers (yao2020, supplementary §2, Fig. 1, Tables 1, 3).

An auxiliary classifier starts from a stage output of the backbone and has
its own down-sampling stages built from the backbone's block type, so every
path from the input to a classifier has the same number of down-sampling
layers; then pooling and a dense layer. For the 3-stage CIFAR networks
(WRN, CIFAR ResNet) with n blocks per stage and widths (w1, w2, w3):

* C3 from ``stage1``: stages of widths (w2, w3) with (n, n/2) blocks for
  WRNs (WRN-28-10: 320x4, 640x2) and (n/2, n/2) for ResNets (ResNet-110:
  32x9, 64x9);
* C2 from ``stage2``: one stage of width 2*w3 with n blocks (WRN-28-10:
  1280x4; ResNet-110: 128x18).

The heads are trained with the backbone and dropped at inference.
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.residual_block import SwitchableResidualBlock, batch_norm
from keras_kd.models.resnet import ResidualNetwork
from keras_kd.models.staged import StagedNet


@register
class AuxiliaryClassifier(StagedNet):
    """Down-sampling stages of residual blocks, then pool and dense.

    Args:
        stage_widths, stage_sizes: the auxiliary stages; each starts with a
            stride-2 block.
        num_classes: classes of the dense layer.
        block, preactivation, shortcut, dropout: as the backbone's
            (``ResidualNetwork``).
        input_shape: shape of the stage output it reads, without batch.
    """

    def __init__(
        self,
        stage_widths,
        stage_sizes,
        num_classes,
        input_shape,
        block="S",
        preactivation=True,
        shortcut="conv",
        dropout=0.0,
        residual=True,
        skip_mode="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.stage_widths = [int(w) for w in stage_widths]
        self.stage_sizes = [int(n) for n in stage_sizes]
        self.num_classes, self.block, self.residual = num_classes, str(block), residual
        self.preactivation, self.shortcut, self.dropout = preactivation, shortcut, dropout
        self.skip_mode = skip_mode
        self.stem = []
        self.blocks = [
            SwitchableResidualBlock(
                width, strides=1 if index else 2, block=block, residual=residual,
                dropout=dropout, preactivation=preactivation, shortcut=shortcut,
                skip_mode=skip_mode, name=f"aux_stage{stage + 1}_block{index + 1}",
            )
            for stage, (width, size) in enumerate(zip(self.stage_widths, self.stage_sizes))
            for index in range(size)
        ]
        self.head = [batch_norm("head_bn"), layers.Activation("relu")] if preactivation else []
        self.head += [layers.GlobalAveragePooling2D(), layers.Dense(num_classes, name="logits")]
        self.build_for(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "stage_widths": self.stage_widths,
                "stage_sizes": self.stage_sizes,
                "preactivation": self.preactivation,
                "shortcut": self.shortcut,
                "dropout": self.dropout,
            }
        )
        return config


def dcm_heads(model, name=None):
    """``{tap name: AuxiliaryClassifier}`` (C2 on stage2, C3 on stage1) for ``model``.

    ``name`` prefixes the heads' names (default: the model's name).

    Raises:
        ValueError: for models other than 3-stage ``ResidualNetwork``s.
    """
    if not isinstance(model, ResidualNetwork) or len(model.stage_sizes) != 3:
        raise ValueError(
            "DCM auxiliary classifiers are defined for 3-stage CIFAR WRNs and "
            f"ResNets (yao2020 supp. Tables 1, 3). Received: model={model.name!r}"
        )
    n = model.stage_sizes[0]
    half = max(n // 2, 1)
    w1, w2, w3 = model.stage_widths
    shared = dict(
        num_classes=model.num_classes, block=model.block, preactivation=model.preactivation,
        shortcut=model.shortcut, dropout=model.dropout, residual=model.residual,
    )
    c3_sizes = (n, half) if model.preactivation else (half, half)
    return {
        "stage2": AuxiliaryClassifier(
            (2 * w3,), (n,), input_shape=model.tap_shapes["stage2"][1:],
            name=f"{name or model.name}_C2", **shared,
        ),
        "stage1": AuxiliaryClassifier(
            (w2, w3), c3_sizes, input_shape=model.tap_shapes["stage1"][1:],
            name=f"{name or model.name}_C3", **shared,
        ),
    }
