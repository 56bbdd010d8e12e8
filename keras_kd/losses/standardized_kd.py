"""Logit-standardized KD (Sun et al. 2024, sun2024): Hinton's KD on Z-scored logits.

Each network's logits are standardized per example, ``(z - mean(z)) / (1e-7 + std(z))``
with the unbiased standard deviation over the classes (``torch.std``'s default, as
in the authors' code, sunshangquan/logit-standardization-KD), then
``T^2 KL(softmax(z_t / T) || softmax(z_s / T))`` with a base temperature ``T``.
The student then matches the teacher's logit relations, not their scale.
"""

from keras import ops

from keras_kd.losses.kd import check_temperature, kd_divergence
from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.validation import check_non_negative

STANDARDIZE_EPSILON = 1e-7


def standardize(logits):
    """``(z - mean) / (1e-7 + std)`` over the last axis, unbiased std, float32."""
    logits = ops.cast(logits, "float32")
    classes = ops.shape(logits)[-1]
    centred = logits - ops.mean(logits, axis=-1, keepdims=True)
    variance = ops.sum(centred * centred, axis=-1, keepdims=True) / (classes - 1)
    return centred / (STANDARDIZE_EPSILON + ops.sqrt(variance))


def standardized_kd_divergence(student_logits, teacher_logits, temperature=2.0):
    """Per-example ``T^2 KL`` of the standardized logits, shape (batch,); no gradient into the teacher.

    Args:
        student_logits: the student's logits (batch, classes).
        teacher_logits: the teacher's logits, same shape.
        temperature: the softmax temperature T (> 0).
    """
    return kd_divergence(standardize(teacher_logits), standardize(student_logits), temperature)


def standardized_kd_loss(student_logits, teacher_logits, temperature=2.0):
    """Batch mean of ``standardized_kd_divergence`` (student first, as in the code).

    Args:
        student_logits: the student's logits (batch, classes).
        teacher_logits: the teacher's logits, same shape.
        temperature: the softmax temperature T (> 0).

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 0.0, -1.0]])
    >>> round(float(standardized_kd_loss(3 * t, t)), 6)  # scale does not matter
    0.0
    """
    return ops.mean(standardized_kd_divergence(student_logits, teacher_logits, temperature))


@term
class StandardizedKD(DistillationTerm):
    """``weight * standardized_kd_divergence`` (sun2024), with cross-entropy weight 0.1.

    Defaults are the authors' CIFAR-100 command (``--logit-stand --base-temp 2
    --kd-weight 9`` on mdistiller's KD config, whose cross-entropy weight is 0.1);
    their logs use base temperature 3 for some pairs (e.g. VGG13 -> VGG8).

    Args:
        temperature: the base temperature T > 0.
        weight: the KD weight (9).
        ce_weight: the cross-entropy weight the term implies (0.1).
    """

    default_name = "standardized_kd"

    def __init__(self, temperature=2.0, weight=9.0, ce_weight=0.1, **kwargs):
        super().__init__(**kwargs)
        self.temperature = check_temperature(temperature)
        self.weight, self.ce_weight = check_non_negative(weight, "weight"), check_non_negative(ce_weight, "ce_weight")

    def student_loss_weight(self):
        return self.ce_weight

    def per_example(self, student, teacher, y):
        return self.weight * standardized_kd_divergence(student[0], teacher[0], self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "weight": self.weight,
                "ce_weight": self.ce_weight}
