"""Decoupled knowledge distillation (Zhao et al. 2022, zhao2022): KD split into
its target-class part (TCKD) and its non-target-class part (NCKD), reweighted.

With ``p`` the softmax at temperature ``T`` and ``t`` the label,
``TCKD = T^2 KL(b_teacher || b_student)`` over the binary
``b = (p_t, 1 - p_t)``, and ``NCKD = T^2 KL(p^_teacher || p^_student)`` over
the non-target classes, renormalized (``p^``: the softmax with the target
logit removed). Hinton's KD is ``TCKD + (1 - p_t^teacher) NCKD``; DKD is
``alpha TCKD + beta NCKD``.
"""

from keras import ops

from keras_kd.losses.kd import check_temperature
from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.losses.warmup import EpochWarmup
from keras_kd.validation import check_non_negative

# The reference code removes the target class by shifting its scaled logit
# down by this much: its softmax weight is exp(-1000) = 0 in float32.
TARGET_SHIFT = 1000.0


def _target_mask(labels, logits):
    """``(batch, classes)`` float mask of each example's label (sparse or one-hot labels)."""
    classes = ops.shape(logits)[-1]
    if len(ops.shape(labels)) == 2 and ops.shape(labels)[-1] == classes and classes > 1:
        return ops.cast(ops.one_hot(ops.argmax(labels, axis=-1), classes), "float32")
    return ops.cast(ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), classes), "float32")


def decoupled_kd(teacher_logits, student_logits, labels, temperature=4.0):
    """Per-example ``(TCKD, NCKD)``, each ``T^2`` times its KL, shapes (batch,); float32,
    no gradient into the teacher.

    Args:
        teacher_logits: the teacher's logits (batch, classes).
        student_logits: the student's logits, same shape.
        labels: sparse labels (batch,) or one-hot (batch, classes).
        temperature: the softmax temperature T (> 0).
    """
    check_temperature(temperature)
    teacher = ops.stop_gradient(ops.cast(teacher_logits, "float32")) / temperature
    student = ops.cast(student_logits, "float32") / temperature
    mask = _target_mask(labels, student)

    def binary(logits):  # (p_t, 1 - p_t)
        p = ops.softmax(logits, axis=-1)
        target = ops.sum(p * mask, axis=-1, keepdims=True)
        return ops.concatenate([target, ops.sum(p * (1.0 - mask), axis=-1, keepdims=True)], axis=-1)

    b_teacher, b_student = binary(teacher), binary(student)
    tiny = 1e-30  # log(0) guard; no other value changes
    tckd = ops.sum(b_teacher * (ops.log(ops.maximum(b_teacher, tiny)) - ops.log(ops.maximum(b_student, tiny))),
                   axis=-1)
    log_teacher = ops.log_softmax(teacher - TARGET_SHIFT * mask, axis=-1)
    log_student = ops.log_softmax(student - TARGET_SHIFT * mask, axis=-1)
    nckd = ops.sum(ops.exp(log_teacher) * (log_teacher - log_student), axis=-1)
    return temperature**2 * tckd, temperature**2 * nckd


def dkd_loss(student_logits, teacher_logits, labels, alpha=1.0, beta=8.0, temperature=4.0):
    """DKD's batch loss ``mean(alpha TCKD + beta NCKD)`` without warm-up (student first, as in
    mdistiller's ``dkd_loss``; ``decoupled_kd`` takes the teacher first, like ``kd_divergence``).

    Args:
        student_logits: the student's logits (batch, classes).
        teacher_logits: the teacher's logits, same shape.
        labels: sparse labels (batch,) or one-hot (batch, classes).
        alpha: weight of TCKD (>= 0).
        beta: weight of NCKD (>= 0).
        temperature: the softmax temperature T (> 0).
    """
    tckd, nckd = decoupled_kd(teacher_logits, student_logits, labels, temperature)
    return ops.mean(check_non_negative(alpha, "alpha") * tckd + check_non_negative(beta, "beta") * nckd)


@term
class DKD(EpochWarmup, DistillationTerm):
    """Decoupled KD (zhao2022): parts ``tckd`` = ``w alpha TCKD`` and ``nckd`` =
    ``w beta NCKD`` (``decoupled_kd``), logged as ``dkd_tckd`` and ``dkd_nckd``.

    ``w = min(epoch / warmup_epochs, 1)`` with epochs counted from 1: the
    reference code's (megvii-research/mdistiller) linear warm-up of the DKD
    loss. Defaults are that code's CIFAR-100 settings, with which the paper's
    tables were made: ``CE_WEIGHT 1.0, ALPHA 1.0, BETA 8.0, T 4.0, WARMUP 20``
    (the cross-entropy weight 1 is the ``Distiller``'s default). The term
    counts its training steps in a variable saved with the trainer, so the
    warm-up resumes where it stopped (``keras_kd.losses.warmup``). Needs labels.

    Args:
        alpha: weight of TCKD.
        beta: weight of NCKD (8.0 on CIFAR-100; the code uses 0.5 on ImageNet).
        temperature: T > 0.
        warmup_epochs: epochs of the linear warm-up (0: none).
        steps_per_epoch: training steps per epoch; needed for a warm-up.
    """

    default_name = "dkd"
    part_names = ("tckd", "nckd")

    def __init__(self, alpha=1.0, beta=8.0, temperature=4.0, warmup_epochs=20, steps_per_epoch=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.beta = check_non_negative(alpha, "alpha"), check_non_negative(beta, "beta")
        self.temperature = check_temperature(temperature)
        self.init_warmup(warmup_epochs, steps_per_epoch)

    def parts(self, step):
        if step.labels is None:
            raise ValueError("DKD needs labels (its target class). Received: y=None")
        tckd, nckd = decoupled_kd(step.teacher_logits, step.student_logits, step.labels, self.temperature)
        weight = self.warmup_weight()
        self.count_step()
        return {"tckd": weight * self.alpha * tckd, "nckd": weight * self.beta * nckd}

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta, "temperature": self.temperature,
                **self.warmup_config()}
