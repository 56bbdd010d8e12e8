"""Attention transfer (Zagoruyko & Komodakis 2017, zagoruyko2017; crowley2018 eq. 2).

For a feature map ``A`` (B, H, W, C): ``a = l2_normalize(flatten(mean_c(A^2)))``
per example; one tap's term is the mean over B*H*W of ``(a_s - a_t)^2``; the
loss sums the taps (``AttentionTransfer`` multiplies the sum by beta = 1e3).
Eq. 2 of the paper writes an (unsquared) norm of the difference; the
reference code -- and this library -- use the mean of squares.
"""

from keras import ops

from keras_kd.losses.feature_term import FeatureTerm
from keras_kd.losses.norms import l2_normalize
from keras_kd.losses.registry import term
from keras_kd.validation import check_non_negative


def attention_map(feature_map):
    """The normalized spatial attention map, shape (B, H*W), in float32 (an all-zero map
    stays zero, with a zero gradient: ``losses.norms.l2_normalize``).

    Args:
        feature_map: a feature map (batch, height, width, channels).
    """
    x = ops.cast(feature_map, "float32")
    if len(x.shape) != 4:
        raise ValueError(
            f"attention_map expects (batch, height, width, channels) feature "
            f"maps. Received: shape={tuple(x.shape)}"
        )
    energy = ops.mean(ops.square(x), axis=-1)
    return l2_normalize(ops.reshape(energy, (ops.shape(x)[0], -1)))


def attention_difference(student_map, teacher_map):
    """One tap's per-example mean over H*W of ``(a_s - a_t)^2``; no gradient into the teacher."""
    a_t = ops.stop_gradient(attention_map(teacher_map))
    return ops.mean(ops.square(attention_map(student_map) - a_t), axis=-1)


def attention_transfer_per_example(student_features, teacher_features):
    """Per-example sum over taps of the mean over H*W of ``(a_s - a_t)^2``.

    Args:
        student_features: the student's feature maps, one per tap, (B, H, W, C) each.
        teacher_features: the teacher's, in the same order and of the same spatial sizes.
    """
    student_features, teacher_features = list(student_features), list(teacher_features)
    if len(student_features) != len(teacher_features) or not student_features:
        raise ValueError(
            "Pass the same non-zero number of student and teacher feature maps. "
            f"Received: {len(student_features)} student, {len(teacher_features)} teacher"
        )
    return sum(attention_difference(s, t) for s, t in zip(student_features, teacher_features))


def attention_transfer_loss(student_features, teacher_features):
    """Sum over taps of the mean over B*H*W of ``(a_s - a_t)^2`` (no beta).

    Args:
        student_features: the student's feature maps, one per tap, (B, H, W, C) each.
        teacher_features: the teacher's, in the same order and of the same spatial sizes.

    Example:

    >>> import numpy as np
    >>> f = np.ones((2, 4, 4, 3), "float32")
    >>> float(attention_transfer_loss([f], [f]))
    0.0
    """
    return ops.mean(attention_transfer_per_example(student_features, teacher_features))


@term
class AttentionTransfer(FeatureTerm):
    """Attention transfer: ``beta * sum over taps`` (crowley2018 eq. 2, zagoruyko2017; per tap: ``losses.attention``).

    For WRNs the taps are the three stage outputs (``stage1..stage3``),
    taken after the last residual add and before the final BN-ReLU, as in
    the attention-transfer code. Channels may differ, H and W may not.

    Args:
        beta: weight (1e3 in crowley2018 and the AT code).
        taps: see ``keras_kd.losses.feature_term.FeatureTerm``.
    """

    default_name = "at"

    def __init__(self, beta=1e3, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.beta = check_non_negative(beta, "beta")

    def per_example(self, student, teacher, y):
        return self.beta * self.sum_over_pairs(attention_difference, student, teacher)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
