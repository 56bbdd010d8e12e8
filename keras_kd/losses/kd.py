"""Logit distillation divergences and their terms (crowley2018 eq. 1, hinton2015; DML, zhang2018).

All in float32 (the KL forms in log-space); the teacher (target) side
carries no gradient.

* ``kl_divergence``: ``KL(softmax(t/T) || softmax(s/T))`` per example.
* ``kd_divergence``: Hinton's ``T^2 * KL``, summed over classes. The
  Moonshine / attention-transfer code instead multiplies an element-wise
  mean by 2 (the pre-2018 PyTorch ``KLDivLoss`` default), i.e. ``2 / C``
  times this; that form is ``moonshine_kd_divergence``, never a default.

The terms: ``KD`` (Hinton's, or the Moonshine code's form) and ``KL`` (DML's,
without ``T^2``). ResKD's L2 of softmaxes is ``softmax_l2``; raw-logit
regression ``logit_l2``.
"""

import math

from keras import ops

from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.validation import check_choice, check_non_negative, check_number

KD_MODES = ("hinton", "moonshine")


def check_temperature(temperature):
    """``float(temperature)``; raises ValueError unless it is a positive number."""
    return check_number(temperature, "temperature", 0, math.inf, low_open=True)


def check_unit_interval(value, name):
    """``float(value)``; raises ValueError unless ``value`` (argument ``name``) is in [0, 1]."""
    return check_number(value, name, 0, 1)


def kl_divergence(target_logits, logits, temperature=1.0):
    """Per-example ``KL(softmax(target/T) || softmax(logits/T))``, shape (batch,).

    Args:
        target_logits: (batch, classes); no gradient flows into it.
        logits: (batch, classes).
        temperature: T > 0.
    """
    check_temperature(temperature)
    return tempered_kl(target_logits, logits, temperature)


def tempered_kl(target_logits, logits, temperature):
    """``kl_divergence`` with ``temperature`` unchecked: a number or a (learned) scalar tensor, which gets the
    gradient of both softmaxes (CTKD)."""
    target = ops.stop_gradient(ops.cast(target_logits, "float32")) / temperature
    log_p = ops.log_softmax(target, axis=-1)
    log_q = ops.log_softmax(ops.cast(logits, "float32") / temperature, axis=-1)
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)


def kl_from_probabilities(target, logits, temperature=1.0):
    """Per-example ``KL(target || softmax(logits/T))``, shape (batch,), for a
    target given as probabilities (e.g. GKT's group knowledge, tang2024 Eq. 4);
    ``0 log 0 = 0``.

    Args:
        target: (batch, classes) probabilities; no gradient flows into it.
        logits: (batch, classes).
        temperature: T > 0.
    """
    check_temperature(temperature)
    p = ops.stop_gradient(ops.cast(target, "float32"))
    log_q = ops.log_softmax(ops.cast(logits, "float32") / temperature, axis=-1)
    log_p = ops.log(ops.where(p > 0, p, 1.0))
    return ops.sum(ops.where(p > 0, p * (log_p - log_q), 0.0), axis=-1)


def kd_divergence(teacher_logits, student_logits, temperature):
    """Per-example ``T^2 * KL(softmax(t/T) || softmax(s/T))``, shape (batch,).

    Args:
        teacher_logits: the teacher's logits (batch, classes).
        student_logits: the student's logits, same shape.
        temperature: the softmax temperature T (> 0).
    """
    check_temperature(temperature)
    return (temperature**2) * kl_divergence(teacher_logits, student_logits, temperature)


def moonshine_kd_divergence(teacher_logits, student_logits, temperature):
    """The Moonshine code's form: ``2 * T^2 * mean over classes`` of the KL terms.

    Args:
        teacher_logits: the teacher's logits (batch, classes).
        student_logits: the student's logits, same shape.
        temperature: the softmax temperature T (> 0).
    """
    classes = ops.shape(student_logits)[-1]
    return 2.0 * kd_divergence(teacher_logits, student_logits, temperature) / classes


def kd_loss(teacher_logits, student_logits, temperature):
    """Batch mean of ``kd_divergence`` (no cross-entropy, no alpha).

    Args:
        teacher_logits: the teacher's logits (batch, classes).
        student_logits: the student's logits, same shape.
        temperature: the softmax temperature T (> 0).

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 0.0, -1.0]]); s = np.zeros((1, 3))
    >>> round(float(kd_loss(t, s, temperature=4.0)), 4)
    0.8077
    """
    return ops.mean(kd_divergence(teacher_logits, student_logits, temperature))


@term
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

    default_name = "kd"

    def __init__(self, temperature=4.0, alpha=0.9, mode="hinton", **kwargs):
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


@term
class KL(DistillationTerm):
    """``weight * KL(softmax(t/T) || softmax(s/T))`` without the T^2 factor (DML, zhang2018).

    Args:
        temperature: the softmax temperature T (> 0); DML's 1.
        weight: weight of the term (>= 0).
    """

    default_name = "kl"

    def __init__(self, temperature=1.0, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.temperature, self.weight = check_temperature(temperature), check_non_negative(weight, "weight")

    def per_example(self, student, teacher, y):
        return self.weight * kl_divergence(teacher[0], student[0], self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "weight": self.weight}
