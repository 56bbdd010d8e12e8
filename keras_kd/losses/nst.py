"""Neuron selectivity transfer (Huang & Wang 2017, huang2017): match the distributions
of the two networks' channel activation patterns by MMD with a polynomial kernel.

Each channel of a feature map is one sample: its H*W activations, L2-normalized
(``x / max(||x||, 1e-12)``). With ``k(a, b) = (a . b)^2``, the loss of an example is
``mean k(t, t') + mean k(s, s') - 2 mean k(s, t)``, the means over all pairs of
the student's (``s``) and teacher's (``t``) channels, as in RepDistiller's code
(degree-2 kernel, no constant, the full MMD); summed over the tapped stages.
The code average-pools the larger map when the two sizes differ; here the
stages' spatial sizes must agree.
"""

from keras import ops

from keras_kd.losses.feature_term import FeatureTerm
from keras_kd.losses.norms import l2_normalize
from keras_kd.losses.registry import term
from keras_kd.validation import check_non_negative


def _channel_patterns(features):
    """``(batch, channels, H*W)`` of an NHWC map, each channel's pattern L2-normalized (an
    all-zero channel, e.g. a dead ReLU, stays zero with a zero gradient)."""
    features = ops.cast(features, "float32")
    batch, height, width, channels = ops.shape(features)
    return l2_normalize(ops.transpose(ops.reshape(features, (batch, height * width, channels)), (0, 2, 1)))


def _mean_kernel(a, b):
    """Per example: the mean over channel pairs of ``(a_i . b_j)^2``."""
    return ops.mean(ops.square(ops.einsum("bip,bjp->bij", a, b)), axis=(1, 2))


def nst_per_example(student_features, teacher_features):
    """The squared MMD of each example's channel patterns, shape (batch,); no gradient into the teacher.

    Args:
        student_features: the student's feature map (B, H, W, C).
        teacher_features: the teacher's feature map, same spatial size.
    """
    s = _channel_patterns(student_features)
    t = ops.stop_gradient(_channel_patterns(teacher_features))
    return _mean_kernel(t, t) + _mean_kernel(s, s) - 2.0 * _mean_kernel(s, t)


def nst_loss(student_features, teacher_features):
    """Batch mean of ``nst_per_example`` for one pair of NHWC maps (student first).

    Args:
        student_features: the student's feature map (B, H, W, C).
        teacher_features: the teacher's feature map, same spatial size.

    Example:

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((2, 4, 4, 3))
    >>> round(float(nst_loss(x, x)), 6)
    0.0
    """
    return ops.mean(nst_per_example(student_features, teacher_features))


@term
class NST(FeatureTerm):
    """``weight * sum over taps of nst_per_example`` (huang2017).

    The default weight 50 and taps (every stage output both networks have; the
    code's ``feat[1:-1]``) are RepDistiller's CIFAR-100 settings; the cross-entropy
    weight stays 1.

    Args:
        weight: the NST weight.
        taps: see ``keras_kd.losses.feature_term.FeatureTerm``.
    """

    default_name = "nst"

    def __init__(self, weight=50.0, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")

    def per_example(self, student, teacher, y):
        return self.weight * self.sum_over_pairs(nst_per_example, student, teacher)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
