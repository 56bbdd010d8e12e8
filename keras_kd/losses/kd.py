"""Logit distillation divergences (crowley2018 eq. 1, DESIGN.md §3; DML).

All in float32 log-space; the teacher (target) side carries no gradient.

* ``kl_divergence``: ``KL(softmax(t/T) || softmax(s/T))`` per example.
* ``kd_divergence``: Hinton's ``T^2 * KL``, summed over classes. The
  Moonshine / attention-transfer code instead multiplies an element-wise
  mean by 2 (the pre-2018 PyTorch ``KLDivLoss`` default), i.e. ``2 / C``
  times this; that form is ``moonshine_kd_divergence``, never a default.
* ``logit_l2``: mean squared difference of logits (ResKD's L2, li2021 eq. 3).
"""

from keras import ops


def check_temperature(temperature):
    """Raises ValueError unless ``temperature`` is a positive number."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(
            f"`temperature` must be a positive number. Received: temperature={temperature!r}"
        )


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


def logit_l2(target_logits, logits):
    """Per-example mean over classes of ``(logits - target)^2``; target detached."""
    target = ops.stop_gradient(ops.cast(target_logits, "float32"))
    return ops.mean(ops.square(ops.cast(logits, "float32") - target), axis=-1)
