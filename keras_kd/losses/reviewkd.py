"""Knowledge review (Chen, Liu, Zhao, Jia 2021, "Distilling Knowledge via Knowledge Review", CVPR 2021,
arXiv:2104.09044; chen2021), as megvii-research/mdistiller's ``mdistiller/distillers/ReviewKD.py`` (the
authors' dvlab-research/ReviewKD ``CIFAR-100/model/reviewkd.py`` with the warm-up of mdistiller).

The student's features, shallow to deep, end with the pooled features as a 1x1 map. From the deepest
level up, an attention-based fusion (ABF) maps the student's level to the teacher's channels:
``x = BN(conv1x1(student level))`` (mid channels), fused with the ABF output ``r`` of the level below
(nearest-upsampled to the level's size) by two sigmoid attention maps,
``[a, b] = sigmoid(conv1x1([x, r]) + bias)``, ``x = a * x + b * r``; ``x`` is resized (nearest) to the
teacher level's size and passed on as the next ``r``; the level's output is ``BN(conv3x3(x))``. The loss is
the hierarchical context loss (``hcl_loss``): per level, the MSE of output and teacher map plus the MSEs of
both average-pooled to 4x4, 2x2 and 1x1 (only sizes below the map's), weighted 1, 1/2, 1/4, 1/8 and divided
by the weights' sum; summed over the levels. The term is
``weight * min(epoch / warmup_epochs, 1) * hcl_loss`` beside the cross-entropy.

The code's CIFAR-100 settings (``mdistiller/engine/cfg.py`` with ``configs/cifar100/reviewkd.yaml``):
``CE_WEIGHT 1.0``, ``REVIEWKD_WEIGHT 5.0`` (the yaml; cfg.py's own default is 1.0, the ImageNet ResNet-34 to
ResNet-18 yaml's value), ``WARMUP_EPOCHS 20``, ``STU_PREACT False``, and for ResNet32x4 to ResNet8x4
``IN_CHANNELS [64, 128, 256, 256]``, ``OUT_CHANNELS [64, 128, 256, 256]``, ``SHAPES = OUT_SHAPES =
[1, 8, 16, 32]``, mid channels ``min(512, IN_CHANNELS[-1])`` (the authors' script uses weight 5.0 for the
ResNet32x4, WRN-40-2 and ShuffleNetV1 students, 0.6 / 1.0 / 8.0 for resnet20 / resnet32 / ShuffleNetV2).
Here those lists are derived in ``connect`` from the networks' tap shapes (``in_channels``,
``out_channels``, ``shapes``, ``out_shapes`` and ``mid_channels`` after ``connect``, in the code's order:
channels shallow to deep, shapes deep to shallow).

Taps, against mdistiller's feature dicts (its CIFAR ``resnet.py`` / ``wrn.py``):

* student: ``feats[1:]`` (each stage's output; ``feats[0]``, the stem's, is dropped by the code's ``zip``
  with one ABF fewer than features) -> ``stage1..stageN``; with ``student_preact=True`` (the code's
  ``STU_PREACT``, its ImageNet setting) ``preact_feats[1:]`` -> ``stage<i>_preact``;
* teacher: ``preact_feats[1:]`` (the stage outputs before the last block's final ReLU) -> ``stage<i>_preact``;
* both: ``pooled_feat`` (the classifier's input, ``unsqueeze``-d to N x C x 1 x 1) -> ``embedding``
  reshaped to ``(batch, 1, 1, C)``.

For mdistiller's post-activation ResNets these are the same tensors. For its pre-activation WRNs the code's
``preact_feats`` are the stage outputs passed through the next BN (``block2.layer[0].bn1`` ... ``bn1``,
without ReLU), while the zoo's ``stage<i>_preact`` of a pre-activation network is the stage output itself (its
blocks end without an activation): same shapes, another tensor. ``taps={student tap: teacher tap}``, shallow
to deep, chooses any other levels (a 2-D tap is a 1x1 level).

Channels last (NHWC) throughout. Nearest resizing is torch's ``F.interpolate(mode="nearest")`` at integer
ratios (``nearest_resize``: repeat to upsample, every k-th pixel to downsample); other ratios are refused, as
are maps that are not square and, in the loss, pooled sizes that do not divide a map's (torch's
``adaptive_avg_pool2d`` there averages overlapping windows).

The ABF layers train with the student. Their batch norms run in the step's mode (``Step.training``,
``per_example``'s ``training``): in training mode (batch statistics, moving statistics updated) in every
step a ``Distiller`` trains, which are the only steps it runs its terms in (``evaluate`` and ``predict`` run
the student alone), as mdistiller's, whose ``Distiller.train()`` puts them in train mode and which computes
the loss in training only. The convs start as the code's: 1x1 and 3x3 kernels Kaiming-uniform with
``a=1`` (bound ``sqrt(3 / fan_in)``), the attention conv as torch's default (kernel and bias within
``1 / sqrt(fan_in)``), batch norms at scale 1 and offset 0, torch's momentum 0.1 and epsilon 1e-5.
"""

import keras
from keras import ops

from keras_kd.layers.batch_norm import BatchNormalization
from keras_kd.layers.residual_block import BN_EPSILON, BN_MOMENTUM
from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.losses.pooling import pool_to
from keras_kd.losses.warmup import EpochWarmup
from keras_kd.models.staged import EMBEDDING, preact_tap
from keras_kd.validation import check_choice, check_int, check_non_negative

PYRAMID = (4, 2, 1)  # the code's pooled sizes, in order, each weighted half the previous


def pyramid_sizes(size):
    """The pooled sizes ``hcl_loss`` adds for a ``size`` x ``size`` map: those of ``PYRAMID`` below ``size``."""
    return [pooled for pooled in PYRAMID if pooled < size]


def check_pyramid(size, what):
    """Raises naming ``what`` unless every pooled size of a ``size`` x ``size`` map divides it."""
    bad = [pooled for pooled in pyramid_sizes(size) if size % pooled]
    if bad:
        raise ValueError(
            f"ReviewKD's loss average-pools each map to {pyramid_sizes(size)} (the sizes of {list(PYRAMID)} "
            f"below its own); {size} x {size} does not divide into {bad[0]} x {bad[0]} (torch's "
            f"adaptive_avg_pool2d would average overlapping windows, not reproduced). Received: {what}")


def _mean_square(a, b):
    """Per-example mean over (H, W, C) of ``(a - b)^2``."""
    return ops.mean(ops.square(a - b), axis=(1, 2, 3))


def hcl_per_example(student_features, teacher_features):
    """The hierarchical context loss per example, shape (batch,): summed over the levels (pairs of equal
    NHWC maps, square), ``(mse + sum_k 2^-k mse(pool_k)) / (1 + sum_k 2^-k)`` with ``mse`` the example's
    mean square error over the map and ``pool_k`` the average pooling to the k-th size of ``(4, 2, 1)``
    below the map's. Its batch mean is ``hcl_loss``. Float32; no gradient into the teacher's maps.

    Args:
        student_features: the student's maps, one per level (B, H, H, C).
        teacher_features: the teacher's, one per level, of the same shapes.
    """
    student_features, teacher_features = list(student_features), list(teacher_features)
    if len(student_features) != len(teacher_features) or not student_features:
        raise ValueError(f"hcl_loss needs as many student as teacher maps (at least one). Received: "
                         f"{len(student_features)} student and {len(teacher_features)} teacher maps")
    total = 0.0
    for level, (fs, ft) in enumerate(zip(student_features, teacher_features)):
        if len(fs.shape) != 4 or tuple(fs.shape[1:]) != tuple(ft.shape[1:]) or fs.shape[1] != fs.shape[2]:
            raise ValueError(f"hcl_loss needs pairs of equal square NHWC maps. Received: level {level} student "
                             f"shape {tuple(fs.shape)}, teacher shape {tuple(ft.shape)}")
        size = fs.shape[1]
        check_pyramid(size, f"level {level} of shape {tuple(fs.shape)}")
        fs = ops.cast(fs, "float32")
        ft = ops.stop_gradient(ops.cast(ft, "float32"))
        loss, weight, weights = _mean_square(fs, ft), 1.0, 1.0
        for pooled in pyramid_sizes(size):
            weight /= 2.0
            loss = loss + weight * _mean_square(pool_to(fs, pooled), pool_to(ft, pooled))
            weights += weight
        total = total + loss / weights
    return total


def hcl_loss(student_features, teacher_features):
    """The code's ``hcl_loss``: the batch loss (each level's MSEs over the whole batch), a scalar.

    Args:
        student_features: the student's maps, one per level (B, H, H, C).
        teacher_features: the teacher's, one per level, of the same shapes.
    """
    return ops.mean(hcl_per_example(student_features, teacher_features))


def nearest_resize(x, size):
    """An NHWC square map ``x`` resized to ``size`` x ``size`` as torch's ``F.interpolate(mode="nearest")``
    (source pixel ``floor(i * in / out)``) at an integer ratio: each pixel repeated, or every k-th kept."""
    current = x.shape[1]
    if current == size:
        return x
    if size % current == 0:
        factor = size // current
        return ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2)
    if current % size == 0:
        factor = current // size
        return x[:, ::factor, ::factor, :]
    raise ValueError(f"ReviewKD resizes maps by integer ratios only (nearest neighbour). Received: a "
                     f"{current} x {current} map to resize to {size} x {size}")


def as_map(x):
    """A 2-D ``(batch, C)`` tensor as a 1x1 map ``(batch, 1, 1, C)``; a 4-D one unchanged."""
    return ops.expand_dims(ops.expand_dims(x, 1), 1) if len(x.shape) == 2 else x


def kaiming_uniform_a1():
    """torch's ``kaiming_uniform_(w, a=1)``: uniform within ``sqrt(3 / fan_in)``."""
    return keras.initializers.VarianceScaling(1.0, mode="fan_in", distribution="uniform")


class AttentionBasedFusion(keras.layers.Layer):
    """One ABF of the code: ``call(x, residual)`` -> ``(output, x)`` (see the module docstring).

    Built by ``build_for(in_shape, out_size)``: ``x`` is NHWC with ``in_shape``; the output is
    ``out_size`` x ``out_size`` with ``out_channels``; ``fuse`` (all levels but the deepest) adds the
    attention fusion with the residual of the level below.
    """

    def __init__(self, mid_channels, out_channels, fuse, **kwargs):
        super().__init__(**kwargs)
        self.mid_channels, self.out_channels, self.fuse = mid_channels, out_channels, fuse
        self.out_size = None
        conv = dict(use_bias=False, kernel_initializer=kaiming_uniform_a1(), dtype=self.dtype_policy)
        bn = dict(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, dtype=self.dtype_policy)
        self.conv1 = keras.layers.Conv2D(mid_channels, 1, name=f"{self.name}_conv1", **conv)
        self.bn1 = BatchNormalization(name=f"{self.name}_bn1", **bn)
        self.conv2 = keras.layers.Conv2D(out_channels, 3, padding="same", name=f"{self.name}_conv2", **conv)
        self.bn2 = BatchNormalization(name=f"{self.name}_bn2", **bn)
        self.att_conv = None
        if fuse:  # torch's default init of a Conv2d: kernel and bias within 1 / sqrt(fan_in)
            bound = (2 * mid_channels) ** -0.5
            self.att_conv = keras.layers.Conv2D(
                2, 1, activation="sigmoid", name=f"{self.name}_att_conv", dtype=self.dtype_policy,
                kernel_initializer=keras.initializers.VarianceScaling(1 / 3, mode="fan_in", distribution="uniform"),
                bias_initializer=keras.initializers.RandomUniform(-bound, bound))

    def build_for(self, in_shape, out_size):
        self.out_size = out_size
        batch, size = in_shape[0], in_shape[1]
        self.conv1.build(in_shape)
        self.bn1.build((batch, size, size, self.mid_channels))
        if self.att_conv is not None:
            self.att_conv.build((batch, size, size, 2 * self.mid_channels))
        self.conv2.build((batch, out_size, out_size, self.mid_channels))
        self.bn2.build((batch, out_size, out_size, self.out_channels))
        self.built = True

    def call(self, x, residual=None, training=None):
        x = self.bn1(self.conv1(x), training=training)
        if self.att_conv is not None:
            residual = nearest_resize(residual, x.shape[1])
            attention = self.att_conv(ops.concatenate([x, residual], axis=-1))
            x = x * attention[..., :1] + residual * attention[..., 1:]
        x = nearest_resize(x, self.out_size)
        return self.bn2(self.conv2(x), training=training), x


@term
class ReviewKD(EpochWarmup, DistillationTerm):
    """Knowledge review (chen2021) as mdistiller's code: ``weight * min(epoch / warmup_epochs, 1) *
    hcl_loss(ABF outputs, teacher levels)`` per example (see the module docstring for the levels and taps).

    Args:
        weight: weight of the term (>= 0); the code's CIFAR-100 ``REVIEWKD_WEIGHT`` 5.0.
        warmup_epochs: epochs of the linear warm-up (0: none); the code's 20.
        steps_per_epoch: training steps per epoch; needed for a warm-up.
        max_mid_channels: the ABFs' mid channels are ``min(max_mid_channels, channels of the deepest
            student level)``; the code's literal 512 (it reads ``MAX_MID_CHANNEL`` but uses 512).
        student_preact: the student's levels before their final ReLU (``stage<i>_preact``) instead of the
            stage outputs (the code's ``STU_PREACT``: False on CIFAR-100, True on ImageNet).
        taps: ``None`` (every stage, then ``embedding``; see the module docstring) or
            ``{student tap: teacher tap}`` from the shallowest level to the deepest.
    """

    default_name = "reviewkd"

    def __init__(self, weight=5.0, warmup_epochs=20, steps_per_epoch=None, max_mid_channels=512,
                 student_preact=False, taps=None, **kwargs):
        super().__init__(**kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.max_mid_channels = check_int(max_mid_channels, "max_mid_channels")
        self.student_preact = check_choice(student_preact, "student_preact", (False, True))
        if taps is not None and (not isinstance(taps, dict) or not taps or not all(
                isinstance(name, str) for pair in taps.items() for name in pair)):
            raise ValueError("`taps` must be None or a non-empty dict {student tap: teacher tap} (names), "
                             f"shallowest level first. Received: taps={taps!r}")
        self.taps_arg = None if taps is None else dict(taps)
        self.init_warmup(warmup_epochs, steps_per_epoch)
        self.pairs, self.abfs, self.layout = [], [], None

    def default_pairs(self, student_taps, teacher_taps):
        """The code's levels: each stage (its pre-activation twin for the teacher, and for the student with
        ``student_preact``), then ``embedding``."""
        def stages(taps):
            return sorted((name for name in taps if name.startswith("stage") and name[5:].isdigit()),
                          key=lambda name: int(name[5:]))

        student_stages, teacher_stages = stages(student_taps), stages(teacher_taps)
        student = [preact_tap(s) for s in student_stages] if self.student_preact else student_stages
        teacher = [preact_tap(t) for t in teacher_stages]
        missing = [s for s in student if s not in student_taps] + [t for t in teacher if t not in teacher_taps]
        if (not student_stages or len(student_stages) != len(teacher_stages) or missing
                or EMBEDDING not in student_taps or EMBEDDING not in teacher_taps):
            raise ValueError(
                "ReviewKD's default levels are each stage (student: stage<i>"
                f"{'_preact' if self.student_preact else ''}, teacher: stage<i>_preact) and 'embedding', in "
                "networks with as many stages; "
                + (f"missing taps: {missing}; " if missing else "")
                + f"the student has {list(student_taps)}, the teacher {list(teacher_taps)}. Name the levels: "
                "taps={student tap: teacher tap}, shallowest first. Received: taps=None")
        return list(zip(student, teacher)) + [(EMBEDDING, EMBEDDING)]

    def connect(self, student_shapes, teacher_shapes):
        student_taps, teacher_taps = student_shapes[1], teacher_shapes[1]
        pairs = (self.default_pairs(student_taps, teacher_taps) if self.taps_arg is None
                 else list(self.taps_arg.items()))
        levels = []  # (student size, student channels, teacher size, teacher channels)
        for student_tap, teacher_tap in pairs:
            level = []
            for side, tap, available in (("student", student_tap, student_taps),
                                         ("teacher", teacher_tap, teacher_taps)):
                if tap not in available:
                    raise ValueError(f"Unknown {side} tap {tap!r}; the {side} has {list(available)}. "
                                     f"Received: taps={self.taps_arg!r}")
                shape = tuple(available[tap])
                if len(shape) == 2:
                    shape = (shape[0], 1, 1, shape[1])
                if len(shape) != 4 or shape[1] != shape[2] or None in shape[1:]:
                    raise ValueError(
                        f"ReviewKD needs square feature maps of known size (batch, size, size, channels) or "
                        f"pooled features (batch, channels): {side} tap {tap!r} has shape {tuple(available[tap])}. "
                        f"Received: taps={self.taps_arg!r}")
                level += [shape[1], shape[3]]
            levels.append(tuple(level))
        for index, (student_size, _, teacher_size, _) in enumerate(levels):
            sizes = [(student_size, teacher_size, "its student map to its teacher map's size")]
            if index + 1 < len(levels):
                deeper = levels[index + 1][2]
                sizes.append((deeper, student_size, "the deeper level's output to its student map's size"))
            for source, target, what in sizes:
                if max(source, target) % min(source, target):
                    raise ValueError(
                        f"ReviewKD resizes maps by integer ratios only (nearest neighbour): the level "
                        f"{pairs[index]} resizes {what}, {source} to {target}. Received: taps={self.taps_arg!r}")
            check_pyramid(teacher_size, f"teacher tap {pairs[index][1]!r} of size {teacher_size}, "
                                        f"taps={self.taps_arg!r}")
        in_channels = [level[1] for level in levels]
        layout = {
            "in_channels": in_channels,
            "out_channels": [level[3] for level in levels],
            "shapes": [level[0] for level in levels][::-1],
            "out_shapes": [level[2] for level in levels][::-1],
            "mid_channels": min(self.max_mid_channels, in_channels[-1]),
        }
        if self.layout is not None:
            if (layout, pairs) != (self.layout, self.pairs):
                raise ValueError(f"This ReviewKD term is connected to other networks (levels {self.pairs}, "
                                 f"{self.layout}); use a new term. Received: levels {pairs}, {layout}")
            return
        self.pairs, self.layout = pairs, layout
        self.taps = tuple(pairs)
        for name, value in layout.items():
            setattr(self, name, value)
        for index, (student_size, channels, teacher_size, teacher_channels) in enumerate(levels):
            abf = AttentionBasedFusion(self.mid_channels, teacher_channels, fuse=index < len(levels) - 1,
                                       name=f"abf{index + 1}", dtype=self.dtype_policy)
            abf.build_for((None, student_size, student_size, channels), teacher_size)
            self.abfs.append(abf)

    def outputs(self, student_features, training=True):
        """The ABF outputs, shallowest level first, from the student's levels (list, shallowest first)."""
        results, residual = [None] * len(self.abfs), None
        for index in reversed(range(len(self.abfs))):
            results[index], residual = self.abfs[index](as_map(student_features[index]), residual=residual,
                                                         training=training)
        return results

    def parts(self, step):
        return {"loss": self.per_example(step.student, step.teacher, step.labels,
                                         training=getattr(step, "training", True))}

    def per_example(self, student, teacher, y, training=True):
        """The loss per example; ``training`` (a Python bool) is the ABF batch norms' mode and whether the
        call counts a training step of the warm-up."""
        results = self.outputs([student[1][s] for s, _ in self.pairs], training)
        loss = hcl_per_example(results, [as_map(teacher[1][t]) for _, t in self.pairs])
        weight = self.warmup_weight()
        if training:
            self.count_step()
        return self.weight * weight * loss

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "max_mid_channels": self.max_mid_channels,
                "student_preact": self.student_preact, "taps": self.taps_arg, **self.warmup_config()}
