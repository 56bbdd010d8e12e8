"""OFD, the overhaul of feature distillation (Heo, Kim, Yun, Park, Kwak, Choi, "A Comprehensive Overhaul of
Feature Distillation", ICCV 2019, arXiv:1904.01866; heo2019), as mdistiller's ``distillers/OFD.py``.

Per stage, the student's feature *before* the ReLU goes through a connector (a 1x1 conv without bias and a
batch norm, to the teacher's channels) and is matched to the teacher's pre-ReLU feature, itself clipped from
below at a per-channel margin (the "margin ReLU" ``max(t, margin)``), by the partial L2 distance: the squared
difference counts where the student exceeds the clipped teacher or the clipped teacher is positive
(``partial_l2``). The margin of a teacher channel is ``E[x | x < 0]`` for ``x ~ N(beta, gamma^2)``, ``gamma``
and ``beta`` the affine weights of the batch norm right before that ReLU (``ofd_margin``).

The code's settings (mdistiller ``engine/cfg.py``, ``configs/cifar100/ofd.yaml``), the defaults here: loss
weight ``1e-3`` (``OFD.LOSS.FEAT_WEIGHT``), cross-entropy weight 1 (``CE_WEIGHT``), connector kernel 1
(``CONNECTOR.KERNEL_SIZE``); the connector's conv starts normal with std ``sqrt(2 / (k * k * out))`` (He,
fan out), its batch norm at ``gamma = 1, beta = 0``, and both train with the student. The loss is
``sum over the n stage pairs (i = 0 shallowest) of sum_{c,h,w} partial_l2 / 2^(n-i-1)``, averaged over the
batch (``.mean(dim=0).sum()``): the per-example losses here are that sum per example, so their batch mean
is the code's scalar. The teacher map is average-pooled to the student's size (``adaptive_avg_pool2d``).

Positions (the code's ``preact_feats[1:]`` and ``get_bn_before_relu``), for keras_kd's zoo networks:

* post-activation ``ResidualNetwork`` (CIFAR ResNets, resnet8x4/32x4, ResNet-18/50): every stage; the
  feature is the tap ``stage<i>_preact`` (the last block's sum before its ReLU), the margins come from that
  block's last batch norm (the code's ``layer[-1].bn2`` / ``bn3``; the shortcut is not in the margin);
* pre-activation ``ResidualNetwork`` (WRN, pre-activation ResNets): every stage; the feature is the stage
  output through the batch norm that starts the next stage (its first block's first norm) or, for the last
  stage, the head's ``head_bn``, the margins from that same norm (the code's ``block2.layer[0].bn1``,
  ``block3.layer[0].bn1``, ``bn1`` and its ``f<i>_pre``). That norm is the network's own layer, called by
  this term: the student's in training mode (trained by this loss too, its moving statistics updated a
  second time per step, as the code calls it twice), the teacher's in inference mode;
* ``VGG``: stages 2 to 5 (the code's ``block1..block4``; its first block's output is the stem feature
  ``f0``, left out), tap ``stage<i>_preact``, margins from the stage's last batch norm;
* an ImageNet-stem ``ResidualNetwork`` (``imagenet_resnet``) leaves out its first stage by default, as the
  code's ImageNet ResNet (``get_stage_channels()[1:]``, norms of ``layer2..layer4``; its ImageNet loss weight
  is ``1e-4``, ``configs/imagenet/r50_mv1/ofd.yaml``); the CIFAR-stem ResNet-18/50 keep all four, as the
  code's CIFAR ``resnetv2.py``.

Stage pairs are the last ``min(n_student, n_teacher)`` of each list (the code's ``_align_list``).

Differences from the code (all but the first are edge cases the code does not reach or fails on):

* the teacher runs in inference mode (moving statistics), as every keras_kd teacher; the code's ``OFD.train``
  leaves the teacher in training mode (features from batch statistics, its running statistics updated);
* each teacher stage's margins go with that stage; the code indexes its margins from the teacher's first
  stage even when ``_align_list`` drops the first teacher stages (a teacher with more stages than the student);
* a batch norm with ``gamma = 0`` (a point mass at ``beta``) gets the limit ``min(beta, 0)``; the code
  divides by zero;
* the teacher map is pooled by an integer ratio only (it must be at least the student's size); other sizes
  are refused, as ``VID`` does (adaptive pooling's overlapping windows and upsampling are not reproduced).

The connectors' batch norms always normalize with the batch's statistics: a term only runs in training
steps (``evaluate`` runs the student alone), and the code uses the connectors in training only.
The margins are non-trainable weights of the term, computed from the teacher when the distiller is built
(load the teacher's trained weights before building it) and saved with the distiller: a reloaded distiller
keeps the saved margins. Networks the term cannot read (other zoo families, functional models) take explicit
``taps`` and, for the teacher, explicit ``margins``.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_kd.layers.chain import build_chain
from keras_kd.layers.residual_block import batch_norm
from keras_kd.losses.pooling import pool_to
from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.models.pre_relu import Site, pre_relu_sites, pre_relu_stages, read_site
from keras_kd.models.resnet import ResidualNetwork
from keras_kd.models.vgg import VGG
from keras_kd.validation import check_int, check_non_negative

PDF_NORMALIZER = math.sqrt(2.0 * math.pi)
TAIL_MASS = 0.001  # the code's threshold on P(x < 0) below which the margin is -3 std


def ofd_margin(std, mean):
    """Per channel, ``E[x | x < 0]`` for ``x ~ N(mean, std^2)`` as the code computes it (float64 numpy).

    With ``s = |std|`` and ``P = Phi(-mean / s)`` the normal mass below zero: ``mean - s * phi(mean / s) / P``
    when ``P > 0.001``, else ``-3 s`` (the code's rule when the mass below zero is tiny); ``s = 0`` gives
    the limit ``min(mean, 0)``.

    Args:
        std: per-channel standard deviations (their absolute values are used).
        mean: per-channel means, as many.

    Example:

    >>> round(float(ofd_margin([1.0], [0.0])[0]), 6)  # -sqrt(2 / pi)
    -0.797885
    """
    std = np.abs(np.asarray(std, "float64")).reshape(-1)
    mean = np.asarray(mean, "float64").reshape(-1)
    if std.shape != mean.shape or not (np.isfinite(std).all() and np.isfinite(mean).all()):
        raise ValueError(f"`std` and `mean` must be finite and of one length. Received: std={std}, mean={mean}")
    margins = np.empty_like(std)
    for index, (s, m) in enumerate(zip(std, mean)):
        if s == 0.0:
            margins[index] = min(m, 0.0)
            continue
        below = 0.5 * math.erfc(m / s / math.sqrt(2.0))  # Phi(-m / s)
        if below > TAIL_MASS:
            margins[index] = m - s * math.exp(-0.5 * (m / s) ** 2) / PDF_NORMALIZER / below
        else:
            margins[index] = -3.0 * s
    return margins


def partial_l2(student, teacher, margin):
    """Per example, ``sum over (H, W, C)`` of ``(s - t)^2`` where ``s > t`` or ``t > 0``, else 0, with
    ``t = max(teacher, margin)`` (``margin`` per channel, <= 0); float32, no gradient into the teacher.

    Equal to the code's three-case ``feat_loss`` mask for margins <= 0.

    Args:
        student: the student's (connected) feature map (B, H, W, C).
        teacher: the teacher's pre-ReLU feature map, same shape.
        margin: per-channel margins (C,), <= 0 (``ofd_margin``).
    """
    student = ops.cast(student, "float32")
    target = ops.maximum(ops.stop_gradient(ops.cast(teacher, "float32")), ops.cast(margin, "float32"))
    counted = ops.cast(ops.logical_or(ops.greater(student, target), ops.greater(target, 0.0)), "float32")
    loss = ops.square(student - target) * counted
    return ops.sum(ops.reshape(loss, (ops.shape(loss)[0], -1)), axis=-1)


def norm_margins(norm):
    """``ofd_margin`` of a batch norm's ``gamma`` (std) and ``beta`` (mean); 1 and 0 where it has none."""
    channels = norm.moving_mean.shape[-1]
    gamma = np.ones(channels) if norm.gamma is None else ops.convert_to_numpy(norm.gamma)
    beta = np.zeros(channels) if norm.beta is None else ops.convert_to_numpy(norm.beta)
    return ofd_margin(gamma, beta)


def ofd_margins(model):
    """``{stage name: margins}`` (float64 numpy, one per channel) of every stage of a zoo ``ResidualNetwork``
    or ``VGG``, from the batch norm before the stage's ReLU.

    Args:
        model: a zoo ``ResidualNetwork`` or ``VGG``.
    """
    return {name: norm_margins(site.norm) for name, site in pre_relu_sites(model).items()}


def check_taps(taps):
    """``taps`` as a list of ``(student tap, teacher tap)``, or None; raises naming ``taps``."""
    if taps is None:
        return None
    pairs = list(taps.items()) if isinstance(taps, dict) else (
        [(name, name) for name in taps] if isinstance(taps, (list, tuple)) else None)
    if not pairs or not all(isinstance(name, str) for pair in pairs for name in pair):
        raise ValueError("`taps` must be None, a non-empty dict {student tap: teacher tap} or a non-empty list of "
                         f"tap names, shallow to deep. Received: taps={taps!r}")
    return pairs


def check_margins(margins):
    """``margins`` as a list of floats or lists of floats, each finite and <= 0, or None."""
    if margins is None:
        return None

    def number(value):
        return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
            and math.isfinite(value) and value <= 0

    entries = list(margins) if isinstance(margins, (list, tuple, np.ndarray)) else None
    checked = []
    for entry in entries or ():
        if number(entry):
            checked.append(float(entry))
        elif isinstance(entry, (list, tuple, np.ndarray)) and len(entry) and all(number(v) for v in entry):
            checked.append([float(v) for v in entry])
        else:
            checked = None
            break
    if not checked:
        raise ValueError("`margins` must be None or a non-empty list with one entry per tap pair: a number or a "
                         "list of per-channel numbers, each finite and <= 0 (E[x | x < 0]). "
                         f"Received: margins={margins!r}")
    return checked


@term
class OFD(DistillationTerm):
    """The overhaul of feature distillation (heo2019) as mdistiller's code: ``weight * sum over the stage
    pairs of partial_l2(connector(student), max(teacher, margin)) / 2^(n-i-1)`` (see the module docstring).

    Args:
        weight: the loss weight (>= 0); the code's CIFAR-100 ``1e-3``.
        ce_weight: the cross-entropy weight the term implies (>= 0); the code's 1.
        kernel_size: the connectors' conv kernel (odd); the code's 1.
        taps: ``None``: the OFD stages of two zoo networks (ResidualNetwork, VGG), paired from the deepest.
            Or a dict ``{student tap: teacher tap}`` (a list: names both have), shallow to deep: on a zoo
            ResidualNetwork or VGG a stage name (``"stage2"``), meaning that stage's pre-ReLU feature; on
            any other network a tap (a functional model's layer name), read as it is.
        margins: ``None``: computed from the teacher's batch norms (a zoo ResidualNetwork or VGG teacher).
            Or one entry per tap pair: a number or a list of per-channel numbers, each <= 0.
    """

    default_name = "ofd"

    def __init__(self, weight=1e-3, ce_weight=1.0, kernel_size=1, taps=None, margins=None, **kwargs):
        super().__init__(**kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.ce_weight = check_non_negative(ce_weight, "ce_weight")
        self.kernel_size = check_int(kernel_size, "kernel_size")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"`kernel_size` must be odd (torch's padding (k - 1) // 2 keeps the size). "
                             f"Received: kernel_size={kernel_size!r}")
        self.taps_arg = taps
        self.tap_pairs = check_taps(taps)
        self.margins_arg = check_margins(margins)
        self.pairs, self.sites = [], []  # (student tap, teacher tap) and (student Site, teacher Site) per pair
        self.connectors, self.margins = [], []
        self.shapes = None

    def student_loss_weight(self):
        return self.ce_weight

    def connect(self, student_shapes, teacher_shapes):
        self.shapes = (student_shapes[1], teacher_shapes[1])
        for student_tap, teacher_tap in self.tap_pairs or ():
            for side, tap, available in (("student", student_tap, student_shapes[1]),
                                         ("teacher", teacher_tap, teacher_shapes[1])):
                if tap not in available:
                    raise ValueError(f"Unknown {side} tap {tap!r}; the {side} has {list(available)}. "
                                     f"Received: taps={self.taps_arg!r}")

    def connect_networks(self, student, teachers):
        if len(teachers) != 1:
            raise ValueError(
                "OFD reads one teacher (its margins come from that teacher's batch norms): name it with "
                f"term_teachers={{{self.name!r}: position}}. Received: {len(teachers)} teachers")
        if self.connectors:
            raise ValueError(f"This OFD term ({self.name!r}) is connected already: give each distiller its own. "
                             "Received: a second connection")
        teacher = teachers[0]
        student_sites, teacher_sites = self._sites(student, "student", 0), self._sites(teacher, "teacher", 1)
        count = min(len(student_sites), len(teacher_sites))
        student_sites = student_sites[len(student_sites) - count:]
        teacher_sites = teacher_sites[len(teacher_sites) - count:]
        if self.margins_arg is not None and len(self.margins_arg) != count:
            raise ValueError(f"`margins` needs one entry per tap pair ({count}). "
                             f"Received: margins={self.margins_arg!r}")
        student_shapes, teacher_shapes = self.shapes
        margins = []  # every check passes before any weight is made
        for index, (s_site, t_site) in enumerate(zip(student_sites, teacher_sites)):
            self._check_shapes(s_site.tap, student_shapes[s_site.tap], t_site.tap, teacher_shapes[t_site.tap])
            margins.append(self._margins(index, t_site, teacher_shapes[t_site.tap][-1], teacher))
        for index, (s_site, values) in enumerate(zip(student_sites, margins)):
            conv = keras.layers.Conv2D(
                len(values), self.kernel_size, padding="same", use_bias=False, name=f"connector{index + 1}_conv",
                kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"))
            norm = batch_norm(f"connector{index + 1}_bn")
            build_chain([conv, norm], student_shapes[s_site.tap])
            self.connectors.append([conv, norm])
            weight = self.add_weight(shape=(len(values),), initializer="zeros", trainable=False, dtype="float32",
                                     name=f"margin{index + 1}")
            weight.assign(values.astype("float32"))
            self.margins.append(weight)
        self.sites = list(zip(student_sites, teacher_sites))
        self.pairs = [(s.tap, t.tap) for s, t in self.sites]
        self.taps = tuple(self.pairs)

    def _sites(self, model, side, position):
        """The model's OFD sites for this term's taps (``side``'s ``position`` in the tap pairs)."""
        readable = isinstance(model, (ResidualNetwork, VGG))
        if self.tap_pairs is None:
            if not readable:
                raise ValueError(
                    f"OFD finds its positions in keras_kd's ResidualNetwork and VGG models; the {side} is a "
                    f"{type(model).__name__} ({model.name!r}): name the taps, taps={{student tap: teacher tap}}"
                    + (" and the teacher's margins, margins=[...]" if side == "teacher" else "")
                    + ". Received: taps=None")
            sites = pre_relu_sites(model)
            return [sites[name] for name in pre_relu_stages(model)]
        names = [pair[position] for pair in self.tap_pairs]
        if not readable:
            return [Site(name, None, None) for name in names]
        sites = pre_relu_sites(model)
        unknown = [name for name in names if name not in sites]
        if unknown:
            raise ValueError(f"On the {side} ({type(model).__name__} {model.name!r}) OFD taps are stage names "
                             f"{list(sites)} (each meaning its pre-ReLU feature); {unknown} are not. "
                             f"Received: taps={self.taps_arg!r}")
        return [sites[name] for name in names]

    def _margins(self, index, site, channels, teacher):
        """The margins of pair ``index`` (float64, one per teacher channel)."""
        if self.margins_arg is not None:
            entry = self.margins_arg[index]
            values = np.full(channels, entry) if isinstance(entry, float) else np.asarray(entry)
            if values.shape != (channels,):
                raise ValueError(f"`margins[{index}]` needs one number per channel of teacher tap {site.tap!r} "
                                 f"({channels}), or one number. Received: margins={self.margins_arg!r}")
            return values
        if site.norm is None:
            raise ValueError(
                f"OFD computes the margins from the batch norm before each ReLU of a keras_kd ResidualNetwork or "
                f"VGG teacher; the teacher is a {type(teacher).__name__} ({teacher.name!r}): give them, "
                "margins=[one number or per-channel list per tap pair, each <= 0]. Received: margins=None")
        return norm_margins(site.norm)

    def _check_shapes(self, student_tap, s_shape, teacher_tap, t_shape):
        described = (f"student tap {student_tap!r} is {tuple(s_shape)}, teacher tap {teacher_tap!r} "
                     f"{tuple(t_shape)}. Received: taps={self.taps_arg!r}")
        if len(s_shape) != 4 or len(t_shape) != 4:
            raise ValueError(f"OFD needs 4-D feature maps (batch, height, width, channels): {described}")
        for s, t in zip(s_shape[1:3], t_shape[1:3]):
            if (s is None) != (t is None) or (s is not None and (t < s or t % s)):
                raise ValueError("OFD average-pools the teacher's map to the student's size by an integer ratio: "
                                 + described)

    def per_example(self, student, teacher, y):
        count, total = len(self.pairs), 0.0
        for index, ((s_site, t_site), (conv, norm)) in enumerate(zip(self.sites, self.connectors)):
            # the student's own batch norm in training mode as its pass, the frozen teacher's in inference mode
            s = norm(conv(read_site(s_site, student[1], training=True)), training=True)
            t = pool_to(ops.cast(read_site(t_site, teacher[1], training=False), "float32"), s.shape[1], s.shape[2])
            total = total + partial_l2(s, t, self.margins[index]) / 2.0 ** (count - index - 1)
        return self.weight * total

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "ce_weight": self.ce_weight,
                "kernel_size": self.kernel_size, "taps": self.taps_arg, "margins": self.margins_arg}
