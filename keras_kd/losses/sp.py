"""Similarity-preserving KD (Tung & Mori 2019, tung2019): match the teacher's
similarities between the examples of a batch.

Per side, with ``f`` the flattened feature map (B, D): ``G = f f^T`` (B, B), each row
divided by its L2 norm (floored at 1e-12); the loss is ``sum((G_t - G_s)^2) / B^2``.
The Gram matrix is B x B, so the student's and teacher's channels and spatial sizes may
differ; flattening channels-last instead of channels-first changes nothing (``f f^T`` is
invariant to a common permutation of the features). The formula is the one in
RepDistiller's code (HobbitLong/RepDistiller), whose CIFAR-100 numbers came from it,
except that an example whose features are all zero (a zero row of ``G``) gets a zero
gradient there (``losses.norms.l2_normalize``), not the code's 1e12 times the incoming one.
The relations are taken within the batch (per replica under data parallelism).
"""

from keras import ops

from keras_kd.losses.feature_term import FeatureTerm, last_stage
from keras_kd.losses.norms import l2_normalize
from keras_kd.losses.relations import flatten_pair, per_batch
from keras_kd.losses.registry import term
from keras_kd.validation import check_non_negative

def _similarities(f):
    return l2_normalize(ops.matmul(f, ops.transpose(f)))


def sp_loss(student_features, teacher_features):
    """SP loss (tung2019, RepDistiller's formula) of one batch: a scalar, float32, no gradient
    into the teacher.

    Args:
        student_features: (B, ...) tensor.
        teacher_features: (B, ...) tensor of the same batch; the other axes may differ.

    Example:

    >>> f = np.arange(24, dtype="float32").reshape(2, 2, 2, 3)
    >>> float(sp_loss(f, f))
    0.0
    """
    student, teacher = flatten_pair(student_features, teacher_features, "sp_loss")
    return ops.mean(ops.square(_similarities(teacher) - _similarities(student)))


@term
class SP(FeatureTerm):
    """Similarity-preserving KD (tung2019): ``weight * sum over tap pairs of sp_loss``.

    A batch-level loss (relations between the examples of the batch, per replica under
    data parallelism), returned as that scalar for every example. Defaults are
    RepDistiller's CIFAR-100 settings: weight 3000 on the output of the last stage.

    Args:
        weight: weight of the term (>= 0).
        taps: ``None`` (the last ``stage<N>`` tap both networks have, by the highest N), a
            list of tap names both have, or ``{student tap: teacher tap}``; 4-D feature maps,
            whose channels and spatial sizes may differ.
    """

    default_name = "sp"
    same_spatial_size = False

    def __init__(self, weight=3000.0, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")

    default_taps_note = "the last stage<N> tap both networks have"

    def default_taps(self, common):
        return last_stage(common)

    def per_example(self, student, teacher, y):
        return per_batch(self.weight * self.sum_over_pairs(sp_loss, student, teacher), student[0])

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
