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

For MobileNetV2 the supplementary gives the ImageNet design (Table 6): C3
after the 96-channel stage with its own (6,160,3,s) and (3,320,1,1) stages
and a 1280-channel head conv; C2 after the 160-channel stage with its own
(6,480,1,1) stage and a 1920-channel head conv. The CIFAR MobileNetV2 here
keeps the backbone's stride (1) for the 160 stage, so every path has the
same down-sampling.

The heads are trained with the backbone and dropped at inference.
"""

from keras_kd.models.mobilenet_v2 import STAGES, MobileNetV2
from keras_kd.models.resnet import ResidualNetwork


# The backbone's settings its heads share, read from its config.
# (the skip mechanism is a runtime choice, not config: the heads take the backbone's).
RESIDUAL_SETTINGS = ("num_classes", "block", "preactivation", "shortcut", "dropout", "residual")
MOBILENET_SETTINGS = ("num_classes", "block", "residual")


def _settings(model, config, keys):
    return {**{key: config[key] for key in keys}, "skip_mode": model.skip_mode}


def dcm_heads(model, name=None):
    """``{tap name: classifier}`` (C2 on stage2, C3 on stage1) for ``model``.

    Each classifier is a stem-less ``ResidualNetwork`` whose stages all
    start with a stride-2 block; ``name`` prefixes the heads' names
    (default: the model's name).

    Raises:
        ValueError: for models other than 3-stage ``ResidualNetwork``s and
            the zoo's ``MobileNetV2``.
    """
    config = model.get_config() if isinstance(model, (MobileNetV2, ResidualNetwork)) else {}
    if isinstance(model, MobileNetV2) and [tuple(r) for r in config["stages"]] == [tuple(r) for r in STAGES]:
        return _mobilenet_heads(model, config, name or model.name)
    if not isinstance(model, ResidualNetwork) or len(config["stage_sizes"]) != 3:
        raise ValueError(
            "DCM auxiliary classifiers are defined for 3-stage CIFAR WRNs and "
            "ResNets and the zoo's MobileNetV2 (yao2020 supp. Tables 1, 3, 6). "
            f"Received: model={model.name!r}"
        )
    n = config["stage_sizes"][0]
    half = max(n // 2, 1)
    _, w2, w3 = config["stage_widths"]
    shared = dict(_settings(model, config, RESIDUAL_SETTINGS), stem_filters=None, first_stride=2)
    c3_sizes = (n, half) if config["preactivation"] else (half, half)
    return {
        "stage2": ResidualNetwork(
            (2 * w3,), (n,), input_shape=model.tap_shapes["stage2"][1:],
            name=f"{name or model.name}_C2", **shared,
        ),
        "stage1": ResidualNetwork(
            (w2, w3), c3_sizes, input_shape=model.tap_shapes["stage1"][1:],
            name=f"{name or model.name}_C3", **shared,
        ),
    }


def _mobilenet_heads(model, config, name):
    shared = dict(_settings(model, config, MOBILENET_SETTINGS), stem=False)
    stride_160 = STAGES[5][3]
    return {
        "stage6": MobileNetV2(
            stages=[(6, 480, 1, 1)], head_filters=1920,
            input_shape=model.tap_shapes["stage6"][1:], name=f"{name}_C2", **shared,
        ),
        "stage5": MobileNetV2(
            stages=[(6, 160, 3, stride_160), (3, 320, 1, 1)], head_filters=1280,
            input_shape=model.tap_shapes["stage5"][1:], name=f"{name}_C3", **shared,
        ),
    }
