"""Hinton knowledge-distillation divergence (crowley2018 eq. 1, DESIGN.md §3).

``T^2 * KL(softmax(t / T) || softmax(s / T))``, summed over classes, in
float32 log-space; the teacher side carries no gradient. The Moonshine code
multiplies an element-wise mean by 2 (the pre-2018 PyTorch ``KLDivLoss``
default); that form is not used here.
"""

from keras import ops


def _check_temperature(temperature):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(
            f"`temperature` must be a positive number. Received: temperature={temperature!r}"
        )


def kd_divergence(teacher_logits, student_logits, temperature):
    """Per-example ``T^2 * KL(softmax(t/T) || softmax(s/T))``, shape (batch,).

    Args:
        teacher_logits: (batch, classes); no gradient flows into it.
        student_logits: (batch, classes).
        temperature: T > 0.
    """
    _check_temperature(temperature)
    teacher = ops.stop_gradient(ops.cast(teacher_logits, "float32")) / temperature
    student = ops.cast(student_logits, "float32") / temperature
    log_p = ops.log_softmax(teacher, axis=-1)
    log_q = ops.log_softmax(student, axis=-1)
    kl = ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)
    return (temperature**2) * kl


def kd_loss(teacher_logits, student_logits, temperature):
    """Batch mean of ``kd_divergence`` (no cross-entropy, no alpha).

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 0.0, -1.0]]); s = np.zeros((1, 3))
    >>> round(float(kd_loss(t, s, temperature=4.0)), 4)
    0.8077
    """
    return ops.mean(kd_divergence(teacher_logits, student_logits, temperature))
