"""DCM auxiliary classifiers (yao2020, supplementary §2, Figs. 1-2, Tables 1-6).

An auxiliary classifier starts from a stage output of the backbone and has its own
down-sampling stages built from the backbone's block type, so every path from the input to a
classifier has the same number of down-sampling layers; then pooling and a dense layer. C3
starts from an earlier stage than C2. Per backbone:

* 3-stage CIFAR residual networks with n blocks per stage and widths (w1, w2, w3): C3 from
  ``stage1`` with stages (w2, w3), C2 from ``stage2`` with one stage of 2*w3 and n blocks.
  C3 has (n, n/2) blocks for WRNs (Table 3, WRN-28-10: 320x4, 640x2) and (n/2, n/2) for He et
  al.'s ResNets (Table 1, ResNet-110: 32x9, 64x9). Table 1 writes ResNet-164's heads as
  ``[1x1, 128; 3x3, 128; 1x1, 128] x 9`` and "every cell shows the number of building blocks
  and the corresponding number of output channels": read as bottlenecks with 128 outputs
  (32-wide 3x3, as the backbone's): read as 128-wide convs throughout, C2's 512-wide ones would
  give it 52 M weights, 30x the backbone's. The WRN rule applies to pre-activation networks without bottlenecks
  (the WRNs), the ResNet rule to the rest (a bottleneck-substituted WRN, which no table
  covers, gets it too).
* ImageNet ResNet-18 / ResNet-50 (Table 5, either stem): C3 from ``stage2`` with its own
  conv4_x (256 / 1024 outputs) x 1 / x 3 and conv5_x (512 / 2048) x 2; C2 from ``stage3`` with
  conv5_x at 2x the width (1024 / 4096 outputs) x 2 / x 3. Other depths have no table and raise.
* DenseNet-40-12 (Table 2): C3 from ``stage1``: a transition, 12 layers of growth 12, a
  transition, 6 layers of growth 12; C2 from ``stage2``: a transition, 12 layers of growth 36.
  For other DenseNets the same ratios: (n, n/2) layers of growth k, and n layers of growth 3k.
* MobileNet v1 (Table 4): C3 after conv5 (``stage3``) repeats the backbone's conv6 .. conv13
  (512 x 6 from a stride-2 block, 1024 x 2 from a stride-2 block); C2 after conv11 (``stage4``)
  has its own conv12-13 at 2048 channels (stride 2, then 1).
* MobileNetV2 (ImageNet design, Table 6): C3 after the 96-channel stage with its own
  (6,160,3,s) and (3,320,1,1) stages and a 1280-channel head conv; C2 after the 160-channel
  stage with its own (6,480,1,1) stage and a 1920-channel head conv. The CIFAR MobileNetV2 here
  keeps the backbone's stride (1) for the 160 stage, so every path has the same down-sampling.

The heads are trained with the backbone and dropped at inference.
"""

from keras_kd.layers.block_spec import parse_block
from keras_kd.models.densenet import DenseNet
from keras_kd.models.mobilenet_v1 import STAGES as MOBILENET_V1_STAGES
from keras_kd.models.mobilenet_v1 import MobileNetV1
from keras_kd.models.mobilenet_v2 import STAGES, MobileNetV2
from keras_kd.models.resnet import ResidualNetwork

# The backbone's settings its heads share, read from its config.
# (the skip mechanism is a runtime choice, not config: the heads take the backbone's).
RESIDUAL_SETTINGS = ("num_classes", "block", "preactivation", "shortcut", "dropout", "residual")
MOBILENET_SETTINGS = ("num_classes", "block", "residual")
DENSENET_SETTINGS = ("num_classes", "dropout")

# yao2020 supp. Table 5: (stage sizes, last width) of the backbone -> C3's blocks in its own
# conv4_x and conv5_x, C2's blocks in its own conv5_x.
IMAGENET_RESNET_HEADS = {
    ((2, 2, 2, 2), 512): ((1, 2), 2),  # ResNet-18
    ((3, 4, 6, 3), 2048): ((3, 2), 3),  # ResNet-50
}

SUPPORTED = ("3-stage CIFAR WRNs and ResNets (supp. Tables 1, 3), ImageNet ResNet-18 / 50 (Table 5), "
             "DenseNets (Table 2), MobileNet v1 (Table 4) and the zoo's MobileNetV2 (Table 6)")


def _settings(model, config, keys):
    return {**{key: config[key] for key in keys}, "skip_mode": model.skip_mode}


def _unsupported(model):
    return ValueError(f"DCM auxiliary classifiers are defined for {SUPPORTED}. Received: model={model.name!r}")


def dcm_heads(model, name=None):
    """``{tap name: classifier}`` (C2 and C3, see the module docstring) for ``model``; ``name``
    prefixes the heads' names (default: the model's name).

    Args:
        model: a zoo network (ResNet, WRN, pre-activation ResNet, DenseNet, MobileNetV2, VGG...).
        name: prefix of the heads' names; default the model's name.

    Raises:
        ValueError: for a backbone yao2020's supplementary gives no heads for.

    Example:

    >>> heads = dcm_heads(kd.models.get_model("preact-resnet-164", 100))
    >>> sorted(heads)
    ['stage1', 'stage2']
    """
    prefix = name or model.name
    for kind, build in HEAD_BUILDERS:
        if isinstance(model, kind):
            heads = build(model, model.get_config())
            if heads is not None:
                return {tap: head(model.tap_shapes[tap][1:], f"{prefix}_{label}")
                        for tap, (label, head) in heads.items()}
    raise _unsupported(model)


def _residual_heads(model, config):
    sizes, widths = tuple(config["stage_sizes"]), config["stage_widths"]
    shared = dict(_settings(model, config, RESIDUAL_SETTINGS), stem_filters=None, first_stride=2)

    def head(stage_widths, stage_sizes):
        return lambda input_shape, name: ResidualNetwork(stage_widths, stage_sizes, input_shape=input_shape,
                                                         name=name, **shared)

    if len(sizes) == 3:
        n, (_, w2, w3) = sizes[0], widths
        half = max(n // 2, 1)
        wrn = config["preactivation"] and parse_block(config["block"]).kind not in ("B", "BG")
        c3_sizes = (n, half) if wrn else (half, half)
        return {"stage2": ("C2", head((2 * w3,), (n,))), "stage1": ("C3", head((w2, w3), c3_sizes))}
    if (sizes, widths[-1]) in IMAGENET_RESNET_HEADS:
        c3_sizes, c2_size = IMAGENET_RESNET_HEADS[sizes, widths[-1]]
        return {"stage3": ("C2", head((2 * widths[3],), (c2_size,))), "stage2": ("C3", head(widths[2:], c3_sizes))}
    return None


def _densenet_heads(model, config):
    n, k = config["stage_layers"][0], config["growth_rates"][0]
    shared = dict(_settings(model, config, DENSENET_SETTINGS), stem_filters=None, first_transition=True)

    def head(layers, growth):
        return lambda input_shape, name: DenseNet(layers, growth, input_shape=input_shape, name=name, **shared)

    return {"stage2": ("C2", head((n,), (3 * k,))), "stage1": ("C3", head((n, max(n // 2, 1)), (k, k)))}


def _mobilenet_v1_heads(model, config):
    if [tuple(row) for row in config["stages"]] != list(MOBILENET_V1_STAGES):
        return None
    shared = dict(_settings(model, config, MOBILENET_SETTINGS), stem=None)

    def head(stages):
        return lambda input_shape, name: MobileNetV1(stages=stages, input_shape=input_shape, name=name, **shared)

    return {"stage4": ("C2", head(((2048, 2, 2),))), "stage3": ("C3", head(MOBILENET_V1_STAGES[3:]))}


def _mobilenet_v2_heads(model, config):
    if [tuple(row) for row in config["stages"]] != [tuple(row) for row in STAGES]:
        return None
    shared = dict(_settings(model, config, MOBILENET_SETTINGS), stem=False)

    def head(stages, head_filters):
        return lambda input_shape, name: MobileNetV2(stages=stages, head_filters=head_filters,
                                                     input_shape=input_shape, name=name, **shared)

    return {"stage6": ("C2", head([(6, 480, 1, 1)], 1920)),
            "stage5": ("C3", head([(6, 160, 3, STAGES[5][3]), (3, 320, 1, 1)], 1280))}


# (backbone class, ``(model, config) -> {tap: (label, head builder)}`` or ``None`` if no table fits).
HEAD_BUILDERS = (
    (ResidualNetwork, _residual_heads),
    (DenseNet, _densenet_heads),
    (MobileNetV1, _mobilenet_v1_heads),
    (MobileNetV2, _mobilenet_v2_heads),
)
