"""Where a zoo network's pre-ReLU stage features are, as the distillation codes read them (mdistiller's and
RepDistiller's ``preact_feats`` / ``feat`` with ``preact=True``, and ``get_bn_before_relu``): OFD, AB.

* post-activation ``ResidualNetwork`` (CIFAR ResNets, resnet8x4/32x4, ResNet-18/50): the tap
  ``stage<i>_preact`` (the last block's sum before its ReLU); the batch norm before that ReLU is the block's
  last (the code's ``bn2`` / ``bn3``; the shortcut is not in it);
* pre-activation ``ResidualNetwork`` (WRN, pre-activation ResNets): the stage output through the batch norm
  that starts the next stage (its first block's first norm) or, for the last stage, the head's ``head_bn``
  (the code's ``block2.layer[0].bn1``, ``block3.layer[0].bn1``, ``bn1``): ``Site.apply`` is that norm, the
  network's own layer;
* ``VGG``: ``stage<i>_preact`` with the stage's last batch norm; the first stage's output is the code's
  stem feature ``f0``, left out of ``pre_relu_stages``.
"""

from keras_kd.models.resnet import ResidualNetwork
from keras_kd.models.staged import preact_tap
from keras_kd.models.vgg import VGG


class Site:
    """One pre-ReLU position of a network: the tap to read, the batch norm to apply to it (``None``: the tap
    is already before the ReLU; the network's own layer), the batch norm whose weights give OFD's margins,
    and whether ``apply`` is the head's norm (outside RepDistiller's ``get_feat_modules``).

    A plain object, so that a term holding it does not track (and save) the network's layers."""

    __slots__ = ("tap", "apply", "norm", "in_head")

    def __init__(self, tap, apply=None, norm=None, in_head=False):
        self.tap, self.apply, self.norm, self.in_head = tap, apply, norm, in_head


def pre_relu_sites(model):
    """``{stage name: Site}`` for every stage of a zoo ``ResidualNetwork`` or ``VGG`` (see the module
    docstring); raises ValueError naming the model for any other network."""
    if isinstance(model, ResidualNetwork) and model.preactivation:
        nexts = [stage[0].norms[0] for stage in model.stages[1:]] + [model.head[0]]
        return {name: Site(name, norm, norm, in_head=norm is model.head[0])
                for name, norm in zip(model.stage_names, nexts)}
    if isinstance(model, ResidualNetwork):
        return {name: Site(preact_tap(name), None, stage[-1].norms[-1])
                for name, stage in zip(model.stage_names, model.stages)}
    if isinstance(model, VGG):
        return {name: Site(preact_tap(name), None, stage[-1].norm)
                for name, stage in zip(model.stage_names, model.stages)}
    raise ValueError(
        "The batch norm before each stage's ReLU is found in keras_kd's ResidualNetwork and VGG models only. "
        f"Received: a {type(model).__name__} ({getattr(model, 'name', model)!r})")


def read_site(site, taps, training):
    """The site's features from a network's ``{tap: tensor}``: the tap, through ``site.apply`` (in ``training``
    mode) where the site has one."""
    x = taps[site.tap]
    return x if site.apply is None else site.apply(x, training=training)


def pre_relu_stages(model):
    """The stages whose pre-ReLU features the code reads (``preact_feats[1:]``, ``get_stage_channels()[1:]``):
    all, but the first of a VGG (its output is the code's stem feature) and of an ImageNet-stem ResNet."""
    names = list(pre_relu_sites(model))
    first_left_out = isinstance(model, VGG) or getattr(model, "stem_kind", None) == "imagenet"
    return names[1:] if first_left_out else names
