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

from keras_kd.models.resnet import ResidualNetwork


def dcm_heads(model, name=None):
    """``{tap name: classifier}`` (C2 on stage2, C3 on stage1) for ``model``.

    Each classifier is a stem-less ``ResidualNetwork`` whose stages all
    start with a stride-2 block; ``name`` prefixes the heads' names
    (default: the model's name).

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
    _, w2, w3 = model.stage_widths
    shared = dict(
        num_classes=model.num_classes, block=model.block, preactivation=model.preactivation,
        shortcut=model.shortcut, dropout=model.dropout, residual=model.residual,
        skip_mode=model.skip_mode, stem_filters=None, first_stride=2,
    )
    c3_sizes = (n, half) if model.preactivation else (half, half)
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
