"""Logit distillation divergences (crowley2018 eq. 1, hinton2015; DML, zhang2018; li2021 eq. 3).

All in float32 (the KL forms in log-space); the teacher (target) side
carries no gradient.

* ``kl_divergence``: ``KL(softmax(t/T) || softmax(s/T))`` per example.
* ``kd_divergence``: Hinton's ``T^2 * KL``, summed over classes. The
  Moonshine / attention-transfer code instead multiplies an element-wise
  mean by 2 (the pre-2018 PyTorch ``KLDivLoss`` default), i.e. ``2 / C``
  times this; that form is ``moonshine_kd_divergence``, never a default.
* ``softmax_l2``: squared L2 distance of the softened softmaxes, summed
  over classes: ResKD's ``L_{T-S}`` (li2021 eq. 3, "we use L_2 loss
  function for the L_{T-S} in Eq. (3)", §IV-A).
* ``logit_l2``: mean squared difference of raw logits (logit regression,
  Ba & Caruana 2014, ba2014), not ResKD's L2, which compares softmaxes.
"""

import math

from keras import ops

from keras_kd.validation import check_number


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
    """Per-example ``T^2 * KL(softmax(t/T) || softmax(s/T))``, shape (batch,)."""
    check_temperature(temperature)
    return (temperature**2) * kl_divergence(teacher_logits, student_logits, temperature)


def moonshine_kd_divergence(teacher_logits, student_logits, temperature):
    """The Moonshine code's form: ``2 * T^2 * mean over classes`` of the KL terms."""
    classes = ops.shape(student_logits)[-1]
    return 2.0 * kd_divergence(teacher_logits, student_logits, temperature) / classes


def kd_loss(teacher_logits, student_logits, temperature):
    """Batch mean of ``kd_divergence`` (no cross-entropy, no alpha).

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 0.0, -1.0]]); s = np.zeros((1, 3))
    >>> round(float(kd_loss(t, s, temperature=4.0)), 4)
    0.8077
    """
    return ops.mean(kd_divergence(teacher_logits, student_logits, temperature))


def softmax_l2(target_logits, logits, temperature=1.0):
    """Per-example ``sum over classes (softmax(logits/T) - softmax(target/T))^2``, shape (batch,).

    li2021 eq. 3's ``L_{T-S}(sigma(S/t), sigma(T/t))`` with the paper's
    default L2 (§IV-A). The paper does not say whether its L2 is squared or
    summed; this is the squared distance summed over classes (the batch mean
    is the caller's), the form ``ResidualDistiller`` uses. Softmaxes are
    float32.

    Args:
        target_logits: (batch, classes); no gradient flows into it.
        logits: (batch, classes).
        temperature: T > 0.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 0.0, -1.0]]); s = np.zeros((1, 3))
    >>> round(float(softmax_l2(t, s)[0]), 4)
    0.3935
    """
    check_temperature(temperature)
    target = ops.stop_gradient(ops.cast(target_logits, "float32")) / temperature
    p = ops.softmax(target, axis=-1)
    q = ops.softmax(ops.cast(logits, "float32") / temperature, axis=-1)
    return ops.sum(ops.square(q - p), axis=-1)


def logit_l2(target_logits, logits):
    """Per-example mean over classes of ``(logits - target)^2``; target detached.

    Regression on raw logits (Ba & Caruana 2014, ba2014, "Do deep nets really need
    to be deep?"); ResKD's L2 compares softmaxes instead (``softmax_l2``).
    """
    target = ops.stop_gradient(ops.cast(target_logits, "float32"))
    return ops.mean(ops.square(ops.cast(logits, "float32") - target), axis=-1)
