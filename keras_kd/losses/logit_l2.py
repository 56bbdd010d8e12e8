"""Logit regression: the mean squared difference of raw logits (Ba & Caruana 2014, ba2014)."""

from keras import ops

from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.validation import check_non_negative


def logit_l2(target_logits, logits):
    """Per-example mean over classes of ``(logits - target)^2``; target detached.

    Regression on raw logits (Ba & Caruana 2014, ba2014, "Do deep nets really need
    to be deep?"); ResKD's L2 compares softmaxes instead (``softmax_l2``).

    Args:
        target_logits: the target's (teacher's) logits (batch, classes); no gradient flows into them.
        logits: the student's logits, same shape.
    """
    target = ops.stop_gradient(ops.cast(target_logits, "float32"))
    return ops.mean(ops.square(ops.cast(logits, "float32") - target), axis=-1)


@term
class LogitL2(DistillationTerm):
    """``weight * mean over classes (s - t)^2`` on raw logits (no temperature).

    Logit regression (Ba & Caruana 2014, ba2014, "Do deep nets really need to be
    deep?"). Not ResKD's L2, which compares softened softmaxes: that is
    ``SoftmaxL2``.

    Args:
        weight: weight of the term (>= 0).
    """

    default_name = "l2"

    def __init__(self, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.weight = check_non_negative(weight, "weight")

    def per_example(self, student, teacher, y):
        return self.weight * logit_l2(teacher[0], student[0])

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
