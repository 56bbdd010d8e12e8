"""Loss terms a ``Distiller`` adds to the student's supervised loss.

Each term sees the student's and the teacher's logits and named feature
taps from their single forward passes, and returns a per-example loss
(weight included) so ``sample_weight`` applies to it. The distiller logs
each term as ``<term.name>_loss``.
"""

import keras
from keras import ops

from keras_kd.api import register
from keras_kd.losses.attention import attention_transfer_per_example
from keras_kd.losses.kd import (
    check_temperature,
    check_unit_interval,
    kd_divergence,
    kl_divergence,
    logit_l2,
    moonshine_kd_divergence,
    softmax_l2,
)
from keras_kd.validation import check_choice, check_non_negative

KD_MODES = ("hinton", "moonshine")


class DistillationTerm(keras.layers.Layer):
    """Base class: one named term of the distillation loss.

    Subclasses implement ``per_example(student, teacher, y)`` where
    ``student`` and ``teacher`` are ``(logits, {tap name: feature map})``
    and may override ``connect`` (validate shapes, build weights) and
    ``student_loss_weight`` (the cross-entropy weight the term implies).
    """

    taps = ()

    def connect(self, student_shapes, teacher_shapes):
        """Checks the term fits the networks; ``*_shapes`` = (logits, {tap: shape})."""

    def student_loss_weight(self):
        """Cross-entropy weight this term implies, or ``None``."""
        return None

    def per_example(self, student, teacher, y):
        raise NotImplementedError


@register
class KD(DistillationTerm):
    """Hinton KD: ``alpha * T^2 * KL(softmax(t/T) || softmax(s/T))`` (crowley2018 eq. 1, hinton2015).

    With it the distiller's cross-entropy weight defaults to ``1 - alpha``,
    so the total is Hinton's ``alpha T^2 KL + (1 - alpha) CE``.

    Args:
        temperature: T > 0 (crowley2018 and jha2020 use 4).
        alpha: weight of the KD term in [0, 1] (the papers use 0.9).
        mode: ``"hinton"`` (KL summed over classes, batch mean; default) or
            ``"moonshine"``: the Moonshine/AT code's element-wise mean times 2
            (= 2 / classes times the Hinton value), for reproducing that code.
    """

    def __init__(self, temperature=4.0, alpha=0.9, mode="hinton", **kwargs):
        kwargs.setdefault("name", "kd")
        super().__init__(**kwargs)
        check_choice(mode, "mode", KD_MODES)
        self.temperature, self.alpha = check_temperature(temperature), check_unit_interval(alpha, "alpha")
        self.mode = mode

    def student_loss_weight(self):
        return 1.0 - self.alpha

    def per_example(self, student, teacher, y):
        divergence = kd_divergence if self.mode == "hinton" else moonshine_kd_divergence
        return self.alpha * divergence(teacher[0], student[0], self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature,
                "alpha": self.alpha, "mode": self.mode}


class _FeatureTerm(DistillationTerm):
    """A term over pairs of feature taps, matched by name or explicitly.

    ``taps``: ``None`` (every tap name both networks have), a list of names
    present in both, or a dict ``{student tap: teacher tap}``.
    """

    def __init__(self, taps=None, **kwargs):
        super().__init__(**kwargs)
        self.taps_arg = taps
        self.pairs = []

    def connect(self, student_shapes, teacher_shapes):
        student_taps, teacher_taps = student_shapes[1], teacher_shapes[1]
        if self.taps_arg is None:
            pairs = [(name, name) for name in student_taps if name in teacher_taps]
        elif isinstance(self.taps_arg, dict):
            pairs = list(self.taps_arg.items())
        else:
            pairs = [(name, name) for name in self.taps_arg]
        if not pairs:
            raise ValueError(
                f"{type(self).__name__} found no feature taps to match. Student "
                f"taps: {list(student_taps)}, teacher taps: {list(teacher_taps)}. Zoo models "
                "(keras_kd.models) offer stage1..stageN; for your own functional or Sequential "
                "models name the layers whose outputs to match: taps={'student_layer': "
                "'teacher_layer'} (names from model.summary()). "
                f"Received: taps={self.taps_arg!r}"
            )
        for student_tap, teacher_tap in pairs:
            for side, tap, available in (
                ("student", student_tap, student_taps),
                ("teacher", teacher_tap, teacher_taps),
            ):
                if tap not in available:
                    raise ValueError(
                        f"Unknown {side} tap {tap!r}; the {side} has "
                        f"{list(available)}. Received: taps={self.taps_arg!r}"
                    )
            s_shape, t_shape = student_taps[student_tap], teacher_taps[teacher_tap]
            for side, tap, shape in (("student", student_tap, s_shape), ("teacher", teacher_tap, t_shape)):
                if len(shape) != 4:
                    raise ValueError(
                        f"{type(self).__name__} needs 4-D feature maps (batch, height, width, "
                        f"channels): {side} tap {tap!r} has shape {tuple(shape)}. "
                        f"Received: taps={self.taps_arg!r}"
                    )
            if tuple(s_shape[1:3]) != tuple(t_shape[1:3]):
                raise ValueError(
                    f"{type(self).__name__} needs equal spatial sizes: student tap "
                    f"{student_tap!r} has shape {tuple(s_shape)}, teacher tap "
                    f"{teacher_tap!r} has shape {tuple(t_shape)}. Received: taps={self.taps_arg!r}"
                )
        self.pairs = pairs
        self.taps = tuple(pairs)

    def get_config(self):
        return {**super().get_config(), "taps": self.taps_arg}


@register
class AttentionTransfer(_FeatureTerm):
    """Attention transfer: ``beta * sum over taps`` (crowley2018 eq. 2, zagoruyko2017; per tap: ``losses.attention``).

    For WRNs the taps are the three stage outputs (``stage1..stage3``),
    taken after the last residual add and before the final BN-ReLU, as in
    the attention-transfer code. Channels may differ, H and W may not.

    Args:
        beta: weight (1e3 in crowley2018 and the AT code).
        taps: see ``_FeatureTerm``.
    """

    def __init__(self, beta=1e3, taps=None, **kwargs):
        kwargs.setdefault("name", "at")
        super().__init__(taps=taps, **kwargs)
        self.beta = check_non_negative(beta, "beta")

    def per_example(self, student, teacher, y):
        s_maps = [student[1][s] for s, _ in self.pairs]
        t_maps = [teacher[1][t] for _, t in self.pairs]
        return self.beta * attention_transfer_per_example(s_maps, t_maps)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@register
class FeatureHint(_FeatureTerm):
    """FitNets-style hints (Romero et al. 2015, romero2015): ``weight * mean (r(s) - t)^2``.

    ``r`` is a learned 1x1 conv (no bias) from the student's to the
    teacher's channels where they differ, the identity otherwise; its
    weights train with the student and are not part of the exported student.
    Beyond the five papers; users of other KD libraries expect it.

    Args:
        weight: weight of the term.
        taps: see ``_FeatureTerm``.
    """

    def __init__(self, weight=1.0, taps=None, **kwargs):
        kwargs.setdefault("name", "hint")
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.adapters = {}

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        for student_tap, teacher_tap in self.pairs:
            s_shape = student_shapes[1][student_tap]
            t_channels = teacher_shapes[1][teacher_tap][-1]
            if s_shape[-1] != t_channels and student_tap not in self.adapters:
                adapter = keras.layers.Conv2D(
                    t_channels, 1, use_bias=False, name=f"adapter_{student_tap}"
                )
                adapter.build(s_shape)
                self.adapters[student_tap] = adapter

    def per_example(self, student, teacher, y):
        total = 0.0
        for student_tap, teacher_tap in self.pairs:
            s = student[1][student_tap]
            if student_tap in self.adapters:
                s = self.adapters[student_tap](s)
            t = ops.stop_gradient(ops.cast(teacher[1][teacher_tap], "float32"))
            diff = ops.square(ops.cast(s, "float32") - t)
            total = total + ops.mean(ops.reshape(diff, (ops.shape(diff)[0], -1)), axis=-1)
        return self.weight * total

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@register
class SoftmaxL2(DistillationTerm):
    """ResKD's KD loss for S_0 (li2021 eq. 3 with its default L2).

    ``tau * t^2 * sum over classes (softmax(s/t) - softmax(teacher/t))^2``
    per example (``softmax_l2``, float32, no gradient into the teacher).
    With it the distiller's cross-entropy weight defaults to ``1 - tau``,
    so the total is eq. 3: ``tau t^2 L_{T-S} + (1 - tau) CE``. li2021: "when
    it is not mentioned, we use L_2 loss function for the L_{T-S} in Eq. (3)"
    (§IV-A). For eq. 3 with KL instead, use ``KD(temperature=t, alpha=tau)``.

    Args:
        temperature: t > 0. Default 20, li2021 §IV-B2: "t = 20 in all
            situations".
        tau: weight of the L2 term in [0, 1]. Default 0.9, li2021 §IV-B2's
            S_0 value on CIFAR-10: "We set tau = 0.9/0.5/0.5/0.1 for S_0 on
            CIFAR-10 / CIFAR-100 / Tiny-ImageNet / ImageNet, tau = 0.1 for
            R_1 on all datasets" (``reskd.RESKD_STAGE_SETTINGS``).

    Example:

    >>> distiller = kd.Distiller(student=student, teacher=teacher,  # doctest: +SKIP
    ...                          losses=[kd.losses.SoftmaxL2(temperature=20, tau=0.5)])
    """

    def __init__(self, temperature=20.0, tau=0.9, **kwargs):
        kwargs.setdefault("name", "softmax_l2")
        super().__init__(**kwargs)
        self.temperature, self.tau = check_temperature(temperature), check_unit_interval(tau, "tau")

    def student_loss_weight(self):
        return 1.0 - self.tau

    def per_example(self, student, teacher, y):
        return self.tau * self.temperature**2 * softmax_l2(teacher[0], student[0], self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "tau": self.tau}


@register
class LogitL2(DistillationTerm):
    """``weight * mean over classes (s - t)^2`` on raw logits (no temperature).

    Logit regression (Ba & Caruana 2014, ba2014, "Do deep nets really need to be
    deep?"). Not ResKD's L2, which compares softened softmaxes: that is
    ``SoftmaxL2``.
    """

    def __init__(self, weight=1.0, **kwargs):
        kwargs.setdefault("name", "l2")
        super().__init__(**kwargs)
        self.weight = check_non_negative(weight, "weight")

    def per_example(self, student, teacher, y):
        return self.weight * logit_l2(teacher[0], student[0])

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@register
class KL(DistillationTerm):
    """``weight * KL(softmax(t/T) || softmax(s/T))`` without the T^2 factor (DML, zhang2018)."""

    def __init__(self, temperature=1.0, weight=1.0, **kwargs):
        kwargs.setdefault("name", "kl")
        super().__init__(**kwargs)
        self.temperature, self.weight = check_temperature(temperature), check_non_negative(weight, "weight")

    def per_example(self, student, teacher, y):
        return self.weight * kl_divergence(teacher[0], student[0], self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "weight": self.weight}
