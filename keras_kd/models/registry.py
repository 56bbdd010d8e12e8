"""Models by the names their sources write: ``"wrn-40-2"``, ``"resnet-110"``, ``"resnet-50"``, ``"resnet8x4"``.

Every name means one network, the one its source means (``list_models(sources=True)``):

* ``wrn-<6n+4>-<k>``: pre-activation Wide ResNet (zagoruyko2016, the AT / Moonshine code);
* ``resnet-<6n+2>``: He et al.'s CIFAR ResNet with option-A shortcuts (he2016 §4.2; li2021,
  tang2024, yao2020);
* ``resnet<6n+2>``, ``resnet8x4``, ``resnet32x4``: the CIFAR ResNets of the CRD / mdistiller
  benchmark, with 1x1 conv + BN shortcuts (RepDistiller ``models/resnet.py``); the ImageNet depths
  without a dash (``resnet50``: torchvision's ImageNet net, but RepDistiller's CIFAR-stem one) are
  refused, naming ``resnet-50`` and ``cifar-resnet-50``;
* ``resnet-18/34/50/101/152``: ImageNet ResNets (he2016 Table 1, torchvision's ``resnet.py``),
  224 px by default; ``cifar-resnet-18/34/50/101/152``: the same stages with a 3x3 stride-1 stem
  and no max-pool (jha2020's ResNet-18, li2021's and tang2024's CIFAR ResNet-34 / 50), 32 px;
* ``preact-resnet-<9n+2>``: He et al.'s pre-activation bottleneck CIFAR ResNets (he2016b;
  yao2020's ResNet-164);
* ``densenet-<3n+4>-<k>``: the CIFAR DenseNet without bottlenecks (huang2017a; yao2020's
  DenseNet-40-12);
* ``mobilenet-v1``: MobileNet v1 for CIFAR (howard2017, the common CIFAR port; yao2020's MobileNet);
* ``vgg8/11/13/16/19``: the CIFAR VGGs with batch norm of the CRD / mdistiller benchmark
  (RepDistiller ``models/vgg.py``);
* ``mobilenet-v2``: the CIFAR MobileNetV2 that reproduces jha2020 and li2021; ``mobilenet-v2-half``:
  the width-0.5 CIFAR MobileNetV2 of the CRD / mdistiller benchmark (RepDistiller ``mobile_half``);
* ``mobilenet-v3-small`` / ``mobilenet-v3-large``: howard2019's tables with a stride-1 stem for CIFAR
  (tang2024's MobileNetV3; ``stem="imagenet"`` at 224 px);
* ``shufflenet-v1`` / ``shufflenet-v2``: the benchmark's ShuffleNets (RepDistiller);
  ``shufflenet-v2-li2021``, ``xception``, ``inception-v3``, ``vgg11-li2021`` and ``vgg19-li2021``:
  li2021 Table VII's (weiaicunzai/pytorch-cifar100).

A name that could mean two networks is refused rather than guessed (``resnet-164``, ``resnet-1001``
mean He et al.'s pre-activation bottleneck ResNets to the papers, not basic-block nets of that depth:
the message names ``preact-resnet-164``); an unknown name
raises listing the close matches. Keyword arguments go to the builder (``block=``, ``residual=``,
``input_shape=``, ...).
"""

import dataclasses
import difflib
import re
from typing import Callable

from keras_kd.models.densenet import densenet
from keras_kd.models.inception_v3 import inception_v3
from keras_kd.models.mobilenet_v1 import mobilenet_v1
from keras_kd.models.mobilenet_v2 import mobilenet_v2, mobilenet_v2_half
from keras_kd.models.mobilenet_v3 import mobilenet_v3_large, mobilenet_v3_small
from keras_kd.models.resnet import IMAGENET_LAYOUTS, cifar_resnet, imagenet_resnet, preact_resnet, wide_resnet
from keras_kd.models.shufflenet import shufflenet_v1, shufflenet_v2, shufflenet_v2_li2021
from keras_kd.models.vgg import LAYOUTS as VGG_LAYOUTS
from keras_kd.models.vgg import vgg, vgg_li2021
from keras_kd.models.xception import xception

REPDISTILLER_X4_WIDTHS = (32, 64, 128, 256)  # RepDistiller resnet8x4 / resnet32x4: num_filters


@dataclasses.dataclass(frozen=True)
class Family:
    """Names matching ``regex`` (written ``pattern`` in messages), how they build, their recipe
    family (``keras_kd.recipes``) and the source whose network they are."""

    pattern: str
    regex: str
    build: Callable
    recipe_family: str
    source: str


_IMAGENET_DEPTHS = "|".join(str(depth) for depth in IMAGENET_LAYOUTS)
_VGG_DEPTHS = "|".join(str(depth) for depth in VGG_LAYOUTS)
FAMILIES = (
    Family("wrn-<6n+4>-<k>", r"wrn-(\d+)-(\d+)",
           lambda m, **kw: wide_resnet(int(m[1]), int(m[2]), **kw), "wrn",
           "pre-activation Wide ResNet (zagoruyko2016; crowley2018 Table 2, the AT / Moonshine code)"),
    Family(f"resnet-<{_IMAGENET_DEPTHS}>", rf"resnet-({_IMAGENET_DEPTHS})",
           lambda m, **kw: imagenet_resnet(int(m[1]), **kw), "imagenet-resnet",
           "ImageNet ResNet (he2016 Table 1) as torchvision's models/resnet.py: 7x7 stem, max-pool, 224 px"),
    Family(f"cifar-resnet-<{_IMAGENET_DEPTHS}>", rf"cifar-resnet-({_IMAGENET_DEPTHS})",
           lambda m, **kw: imagenet_resnet(int(m[1]), stem="cifar", **kw), "resnet18",
           "ImageNet ResNet stages with a 3x3 stride-1 stem and no max-pool (jha2020's ResNet-18, "
           "li2021's and tang2024's CIFAR ResNet-34 / 50), 32 px"),
    Family("resnet-<6n+2>", r"resnet-(\d+)",
           lambda m, **kw: cifar_resnet(int(m[1]), **kw), "resnet",
           "He et al.'s CIFAR ResNet with option-A (zero-pad) shortcuts (he2016 §4.2; li2021, tang2024, yao2020)"),
    Family("resnet<6n+2>", r"resnet(\d+)",
           lambda m, **kw: cifar_resnet(int(m[1]), shortcut="conv", **{"name": m[0], **kw}), "resnet",
           "CIFAR ResNet with 1x1 conv + BN shortcuts of the CRD / mdistiller benchmark "
           "(RepDistiller models/resnet.py resnet8..resnet110)"),
    Family("resnet<8|32>x4", r"resnet(8|32)x4",
           lambda m, **kw: cifar_resnet(int(m[1]), shortcut="conv",
                                        **{"widths": REPDISTILLER_X4_WIDTHS, "name": m[0], **kw}), "resnet",
           "4x wider CIFAR ResNet of the CRD / mdistiller benchmark, stem 32, stages 64 / 128 / 256 "
           "(RepDistiller models/resnet.py resnet8x4, resnet32x4)"),
    Family("preact-resnet-<9n+2>", r"preact-resnet-(\d+)",
           lambda m, **kw: preact_resnet(int(m[1]), **kw), "resnet",
           "He et al.'s pre-activation bottleneck CIFAR ResNet (he2016b; yao2020 Tables 1, 3), as the "
           "bearpaw/pytorch-classification port of He et al.'s code (models/cifar/preresnet.py)"),
    Family("densenet-<3n+4>-<k>", r"densenet-(\d+)-(\d+)",
           lambda m, **kw: densenet(int(m[1]), int(m[2]), **kw), "densenet",
           "CIFAR DenseNet without bottlenecks, 16-channel stem as huang2017a's text (yao2020 Table 2; "
           "stem_filters=24 is the authors' code, liuzhuang13/DenseNet)"),
    Family("mobilenet-v1", r"mobilenet-v1",
           lambda m, **kw: mobilenet_v1(**kw), "mobilenet",
           "MobileNet v1 (howard2017) with a stride-1 CIFAR stem, as kuangliu/pytorch-cifar models/mobilenet.py "
           "(yao2020 Table 4); stem='imagenet' for 224 px"),
    Family(f"vgg<{_VGG_DEPTHS}>", rf"vgg({_VGG_DEPTHS})",
           lambda m, **kw: vgg(int(m[1]), **kw), "vgg",
           "CIFAR VGG with batch norm of the CRD / mdistiller benchmark, pooled features to one dense layer "
           "(RepDistiller models/vgg.py vgg8_bn .. vgg19_bn)"),
    Family("vgg<11|19>-li2021", r"vgg(11|19)-li2021",
           lambda m, **kw: vgg_li2021(int(m[1]), **kw), "vgg",
           "li2021 Table VII's CIFAR VGG with batch norm: a max-pool after every stage and the 4096-4096 "
           "classifier (weiaicunzai/pytorch-cifar100 models/vgg.py)"),
    Family("mobilenet-v2", r"mobilenet-v2",
           lambda m, **kw: mobilenet_v2(**kw), "mobilenetv2",
           "the CIFAR MobileNetV2 that reproduces jha2020 Tables 8-9 and li2021 Table VII (weiaicunzai/"
           "pytorch-cifar100 models/mobilenetv2.py; see keras_kd.models.mobilenet_v2)"),
    Family("mobilenet-v2-half", r"mobilenet-v2-half",
           lambda m, **kw: mobilenet_v2_half(**kw), "mobilenetv2",
           "width-0.5 CIFAR MobileNetV2 of the CRD / mdistiller benchmark: ReLU, no conv biases, 3x3 stride-2 "
           "stem (RepDistiller models/mobilenetv2.py mobile_half)"),
    Family("mobilenet-v3-<small|large>", r"mobilenet-v3-(small|large)",
           lambda m, **kw: (mobilenet_v3_small if m[1] == "small" else mobilenet_v3_large)(**kw), "mobilenetv3",
           "MobileNetV3-Small / -Large (howard2019 Tables 2 / 1; tang2024 Table 1) as keras.applications, stem "
           "stride 1 for 32-px CIFAR images (no public code of tang2024's CIFAR baseline); stem='imagenet' for 224 px"),
    Family("shufflenet-v1", r"shufflenet-v1",
           lambda m, **kw: shufflenet_v1(**kw), "shufflenet",
           "ShuffleNet (zhang2018b, g = 3) of the CRD / mdistiller benchmark (RepDistiller models/ShuffleNetv1.py "
           "ShuffleV1)"),
    Family("shufflenet-v2", r"shufflenet-v2",
           lambda m, **kw: shufflenet_v2(**kw), "shufflenet",
           "ShuffleNet V2 (ma2018, 1x) of the CRD / mdistiller benchmark (RepDistiller models/ShuffleNetv2.py "
           "ShuffleV2)"),
    Family("shufflenet-v2-li2021", r"shufflenet-v2-li2021",
           lambda m, **kw: shufflenet_v2_li2021(**kw), "shufflenet",
           "li2021 Table VII's ShuffleNet V2: 3x3 stem, conv biases, ma2018's down-sampling unit "
           "(weiaicunzai/pytorch-cifar100 models/shufflenetv2.py)"),
    Family("inception-v3", r"inception-v3",
           lambda m, **kw: inception_v3(**kw), "inception",
           "li2021 Table VII's CIFAR Inception-v3 teacher (szegedy2016; weiaicunzai/pytorch-cifar100 "
           "models/inceptionv3.py: stride-free stem, no auxiliary classifier)"),
    Family("xception", r"xception",
           lambda m, **kw: xception(**kw), "xception",
           "li2021 Table VII's CIFAR Xception (chollet2017; weiaicunzai/pytorch-cifar100 models/xception.py)"),
)

# Names that read as one family's but mean another network in the literature.
REFUSED = {
    **{f"resnet{depth}": f"'resnet{depth}' is torchvision's ImageNet ResNet-{depth} to some and a CIFAR network to "
                         f"others (RepDistiller's 'ResNet50' has the CIFAR stem): name 'resnet-{depth}' (ImageNet, "
                         f"224 px) or 'cifar-resnet-{depth}' (3x3 stem, no max-pool, 32 px)"
       for depth in IMAGENET_LAYOUTS},
    **{f"resnet-{depth}": f"ResNet-{depth} in the papers (yao2020 Tables 1, 3) is He et al.'s pre-activation "
                          f"bottleneck ResNet: name 'preact-resnet-{depth}'; for the basic-block CIFAR ResNet of that "
                          f"depth call keras_kd.models.cifar_resnet({depth}, ...)"
       for depth in (164, 1001)},
}

LISTED = (
    "wrn-16-1", "wrn-16-2", "wrn-16-8", "wrn-22-2", "wrn-22-10", "wrn-28-2", "wrn-28-4", "wrn-28-10",
    "wrn-40-1", "wrn-40-2",
    "resnet-8", "resnet-14", "resnet-20", "resnet-32", "resnet-44", "resnet-56", "resnet-110",
    "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4", "resnet32x4",
    "resnet-18", "resnet-34", "resnet-50", "resnet-101", "resnet-152",
    "cifar-resnet-18", "cifar-resnet-34", "cifar-resnet-50",
    "preact-resnet-164", "densenet-40-12", "mobilenet-v1",
    "vgg8", "vgg11", "vgg13", "vgg16", "vgg19",
    "mobilenet-v2", "mobilenet-v2-half", "mobilenet-v3-small", "mobilenet-v3-large",
    "shufflenet-v1", "shufflenet-v2", "shufflenet-v2-li2021", "xception", "inception-v3", "vgg11-li2021",
    "vgg19-li2021",
)


def _family(name):
    """``(family, match)`` of a registry name; raises ValueError with the close matches."""
    key = str(name).strip().lower()
    if key in REFUSED:
        raise ValueError(f"{REFUSED[key]}. Received: name={name!r}")
    for family in FAMILIES:
        match = re.fullmatch(family.regex, key)
        if match:
            return family, match
    close = difflib.get_close_matches(key, LISTED, n=4, cutoff=0.6)
    hint = f"Did you mean {', '.join(repr(c) for c in close)}? " if close else ""
    patterns = ", ".join(family.pattern for family in FAMILIES)
    raise ValueError(
        f"Unknown model name. {hint}Names: {patterns} (list_models(sources=True) lists the "
        f"papers' and the benchmark's networks with their sources). Received: name={name!r}"
    )


def list_models(sources=False):
    """The zoo's networks of the papers and of the CRD / mdistiller benchmark (any name of a
    listed family builds, e.g. ``wrn-22-4``).

    Args:
        sources: ``True`` returns ``{name: source}``, the source saying which network the name is.

    Example:

    >>> "RepDistiller" in list_models(sources=True)["resnet8x4"]
    True
    """
    if sources:
        return {name: _family(name)[0].source for name in LISTED}
    return list(LISTED)


def recipe_family(name):
    """The training-recipe family (``keras_kd.recipes``) of a registry name."""
    return _family(name)[0].recipe_family


def get_model(name, num_classes, **kwargs):
    """Builds the model called ``name``.

    Args:
        name: a registry name (case-insensitive): ``"wrn-40-2"``, ``"resnet-110"``,
            ``"resnet8x4"``, ``"resnet-50"``, ``"cifar-resnet-18"``, ``"mobilenet-v2"``, ...
        num_classes: size of the classifier head.
        **kwargs: builder arguments (``block``, ``residual``, ``input_shape``...).

    Example:

    >>> student = get_model("wrn-40-2", num_classes=10, block="G(4)")
    """
    family, match = _family(name)
    return family.build(match, num_classes=num_classes, **kwargs)
