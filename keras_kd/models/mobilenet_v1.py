"""MobileNet v1 (howard2017) for CIFAR, as the common PyTorch CIFAR port (kuangliu/pytorch-cifar
``models/mobilenet.py``; yao2020's MobileNet, supp. Table 4).

A 3x3 stem conv (3 -> 32) -BN-ReLU, stride 1 for 32-px CIFAR images (``stem="imagenet"``:
stride 2, howard2017 Table 1 at 224 px); 13 ``SeparableConvBlock``s (howard2017's conv1 ..
conv13) in five stages split where the resolution halves, (channels, blocks, first stride):
(64, 1, 1) (128, 2, 2) (256, 2, 2) (512, 6, 2) (1024, 2, 2); global average pool, dense.
The stage outputs are the taps ``stage1..stage5`` (after conv1, conv3, conv5, conv11, conv13),
the pooled features the ``"embedding"``. 3,217,226 weights at 10 classes, as the port;
4,231,976 at 1000 classes, as ``keras.applications.MobileNet(alpha=1.0)``'s trainable weights.

MobileNet v1 has no shortcuts: ``residual=False`` only, and no block can be skipped; ``block=``
regroups every 3x3 conv (jha2020's notation).
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.residual_block import batch_norm
from keras_kd.layers.separable_conv import SeparableConvBlock
from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_choice, check_int

# (channels, blocks, first stride) per stage: howard2017 Table 1, conv1 .. conv13.
STAGES = ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2))
STEM_STRIDES = {"cifar": 1, "imagenet": 2}


@register
class MobileNetV1(StagedNet):
    """MobileNet v1; see ``mobilenet_v1``.

    Args:
        num_classes: size of the dense head.
        block: grouping of the 3x3 convs (``SeparableConvBlock``).
        residual: only ``False`` (MobileNet v1 has no shortcuts).
        input_shape: image (or feature map) shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        stages: (channels, blocks, first stride) rows.
        stem: ``"cifar"`` (3x3 stride-1 conv to 32), ``"imagenet"`` (stride 2) or ``None`` (no
            stem, the input is a feature map: DCM's auxiliary classifiers).
    """

    def __init__(self, num_classes=100, block="G(N)", residual=False, input_shape=(32, 32, 3), skip_mode=None,
                 stages=STAGES, stem="cifar", **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        if residual is not False:
            raise ValueError(
                f"MobileNet v1 has no shortcuts to keep: residual=False only. Received: residual={residual!r}"
            )
        self.residual, self.skip_mode = residual, skip_mode
        self.stages_arg = [tuple(check_int(v, "stages") for v in row) for row in stages]
        self.stem_kind = check_choice(stem, "stem", STEM_STRIDES, allow_none=True)
        self.stem = [] if stem is None else [
            layers.ZeroPadding2D(1, name="stem_pad"),
            layers.Conv2D(32, 3, strides=STEM_STRIDES[stem], use_bias=False, kernel_initializer="he_normal",
                          name="stem_conv"),
            batch_norm("stem_bn"),
            layers.Activation("relu", name="stem_relu"),
        ]
        self.blocks = [
            SeparableConvBlock(channels, strides=stride if index == 0 else 1, block=block, skip_mode=skip_mode,
                               name=f"stage{stage + 1}_block{index + 1}")
            for stage, (channels, size, stride) in enumerate(self.stages_arg)
            for index in range(size)
        ]
        self.block = str(self.blocks[0].spec)
        self.stage_sizes = [size for _, size, _ in self.stages_arg]
        self.head = [layers.GlobalAveragePooling2D(name="pool"), layers.Dense(self.num_classes, name="logits")]
        self.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "stages": self.stages_arg, "stem": self.stem_kind}


def mobilenet_v1(num_classes, block="G(N)", residual=False, input_shape=None, skip_mode=None, stem="cifar",
                 name="mobilenet-v1"):
    """Builds MobileNet v1 (registry ``mobilenet-v1``; see the module docstring).

    Args:
        num_classes: size of the dense head.
        block: see ``SeparableConvBlock``.
        residual: ``False`` only.
        input_shape: image shape without batch; ``None``: 32 px for the CIFAR stem, 224 px
            for the ImageNet one.
        skip_mode: see ``keras_kd.layers.skip``.
        stem: ``"cifar"`` or ``"imagenet"``.
        name: model name.

    Example:

    >>> kd.models.profile(mobilenet_v1(10))["trainable_params"]
    3217226
    """
    check_choice(stem, "stem", STEM_STRIDES)
    input_shape = input_shape or ((224, 224, 3) if stem == "imagenet" else (32, 32, 3))
    return MobileNetV1(num_classes, block, residual, input_shape, skip_mode, stem=stem, name=name)
