"""Models by the names the papers write: ``"wrn-40-2"``, ``"resnet-110"``...

``get_model(name, num_classes, **kwargs)`` builds any ``wrn-<6n+4>-<k>``,
``resnet-<6n+2>`` (CIFAR ResNet, option-A shortcuts), ``resnet-18`` and
``mobilenet-v2``; keyword arguments go to the builder (``block=``,
``residual=``, ``input_shape=``, ...). ``list_models()`` lists the networks
the five papers use.
"""

import re

from keras_kd.models.mobilenet_v2 import mobilenet_v2
from keras_kd.models.resnet import cifar_resnet, resnet18, wide_resnet

_FAMILIES = (
    (re.compile(r"wrn-(\d+)-(\d+)"), lambda m, **kw: wide_resnet(int(m[1]), int(m[2]), **kw)),
    (re.compile(r"resnet-18"), lambda m, **kw: resnet18(**kw)),
    (re.compile(r"resnet-(\d+)"), lambda m, **kw: cifar_resnet(int(m[1]), **kw)),
    (re.compile(r"mobilenet-v2"), lambda m, **kw: mobilenet_v2(**kw)),
)

PAPER_MODELS = (
    "wrn-16-1", "wrn-16-2", "wrn-16-8", "wrn-22-2", "wrn-22-10", "wrn-28-2",
    "wrn-28-10", "wrn-40-1", "wrn-40-2",
    "resnet-8", "resnet-14", "resnet-20", "resnet-32", "resnet-44", "resnet-56",
    "resnet-110", "resnet-18", "mobilenet-v2",
)


def list_models():
    """Names of the networks used in the papers (any wrn-d-k / resnet-d also builds)."""
    return list(PAPER_MODELS)


def get_model(name, num_classes, **kwargs):
    """Builds the model called ``name``.

    Args:
        name: e.g. ``"wrn-40-2"``, ``"resnet-110"``, ``"resnet-18"``,
            ``"mobilenet-v2"`` (case-insensitive).
        num_classes: size of the classifier head.
        **kwargs: builder arguments (``block``, ``residual``, ``input_shape``...).

    Example:

    >>> student = get_model("wrn-40-2", num_classes=10, block="G(4)")
    """
    key = str(name).strip().lower()
    for pattern, build in _FAMILIES:
        match = pattern.fullmatch(key)
        if match:
            return build(match, num_classes=num_classes, **kwargs)
    raise ValueError(
        "`name` must be wrn-<depth>-<width>, resnet-<depth>, resnet-18 or "
        f"mobilenet-v2 (see list_models()). Received: name={name!r}"
    )
