"""Relational knowledge distillation (Park et al. 2019, park2019): match the teacher's
distances between the examples of a batch and its angles between their triples.

With ``e`` the flattened features (B, D) of one side:

* distance: ``d_ij = ||e_i - e_j||`` (from ``|e_i|^2 + |e_j|^2 - 2 e_i.e_j`` floored at
  1e-12, diagonal 0), divided by the mean of its positive entries; the loss is the
  smooth L1 (Huber, beta 1) of student against teacher, averaged over the ``B * B`` entries;
* angle: ``a_ijk = <u_ij, u_ik>`` with ``u_ij = (e_j - e_i) / max(||e_j - e_i||, 1e-12)``;
  the smooth L1 is averaged over all ``B^3`` index triples, degenerate ones included
  (their entries are equal on both sides, so they dilute the mean but add nothing to
  the difference).

The formula is the one in RepDistiller's code (HobbitLong/RepDistiller), whose CIFAR-100
numbers came from it. The relations are taken within the batch (per replica under data
parallelism). Two departures, both where the code's result is not a usable number: a
batch of one example has no pairs, and its distance part is 0 here (the code's mean over
no positive entry is NaN); where two examples have equal student features, their zero
difference has a zero gradient here (``losses.norms.l2_normalize``), where the code's
``x / max(||x||, 1e-12)`` multiplies the incoming gradient by 1e12.
"""

from keras import ops

from keras_kd.losses.norms import l2_normalize
from keras_kd.losses.relations import TapTerm, flatten_pair, per_batch
from keras_kd.losses.registry import term
from keras_kd.validation import check_non_negative

DISTANCE_FLOOR = 1e-12  # squared distances are floored here before the square root, as in the code


def smooth_l1(x, y):
    """Mean over all entries of the Huber loss with beta 1: ``0.5 z^2`` if ``|z| < 1`` else ``|z| - 0.5``."""
    z = ops.abs(x - y)
    return ops.mean(ops.where(z < 1.0, 0.5 * ops.square(z), z - 0.5))


def pairwise_distances(e):
    """``(B, B)`` Euclidean distances between the rows of ``e``, the diagonal 0; the
    squared distances are floored at 1e-12 before the square root, so every gradient is finite."""
    squares = ops.sum(ops.square(e), axis=1)
    squared = squares[:, None] + squares[None, :] - 2.0 * ops.matmul(e, ops.transpose(e))
    distances = ops.sqrt(ops.maximum(squared, DISTANCE_FLOOR))
    return distances * (1.0 - ops.eye(ops.shape(e)[0], dtype="float32"))


def _normalized_distances(e):
    """Distances divided by the mean of the positive ones (all 0 in a batch of one)."""
    distances = pairwise_distances(e)
    mean = ops.sum(distances) / ops.maximum(ops.sum(ops.cast(distances > 0, "float32")), 1.0)
    return distances / ops.where(mean > 0, mean, 1.0)


def _angles(e):
    """``(B, B, B)`` cosines ``<u_ij, u_ik>``, ``u_ij`` the unit vector of ``e_j - e_i``."""
    units = l2_normalize(e[None, :, :] - e[:, None, :])
    return ops.matmul(units, ops.transpose(units, (0, 2, 1)))


def rkd_distance_loss(student_embeddings, teacher_embeddings):
    """RKD's distance part (park2019, RepDistiller's formula), unweighted: a scalar, float32.

    Args:
        student_embeddings: the student's embeddings (batch, ...), flattened per example.
        teacher_embeddings: the teacher's, same batch.
    """
    student, teacher = flatten_pair(student_embeddings, teacher_embeddings, "rkd_distance_loss")
    return smooth_l1(_normalized_distances(student), _normalized_distances(teacher))


def rkd_angle_loss(student_embeddings, teacher_embeddings):
    """RKD's angle part (park2019, RepDistiller's formula), unweighted: a scalar, float32.

    Args:
        student_embeddings: the student's embeddings (batch, ...), flattened per example.
        teacher_embeddings: the teacher's, same batch.
    """
    student, teacher = flatten_pair(student_embeddings, teacher_embeddings, "rkd_angle_loss")
    return smooth_l1(_angles(student), _angles(teacher))


def rkd_loss(student_embeddings, teacher_embeddings, distance_weight=25.0, angle_weight=50.0):
    """RKD loss of one batch: ``distance_weight * distance + angle_weight * angle``, a scalar,
    float32, no gradient into the teacher. Features are flattened to (B, D); D may differ.

    Args:
        student_embeddings: (B, ...) tensor.
        teacher_embeddings: (B, ...) tensor of the same batch.
        distance_weight: weight (>= 0) of the distance part (RepDistiller's 25).
        angle_weight: weight (>= 0) of the angle part (RepDistiller's 50).

    Example:

    >>> e = np.arange(12, dtype="float32").reshape(4, 3) ** 2
    >>> float(rkd_loss(e, e))
    0.0
    """
    distance_weight = check_non_negative(distance_weight, "distance_weight")
    angle_weight = check_non_negative(angle_weight, "angle_weight")
    return (distance_weight * rkd_distance_loss(student_embeddings, teacher_embeddings)
            + angle_weight * rkd_angle_loss(student_embeddings, teacher_embeddings))


@term
class RKD(TapTerm):
    """Relational KD (park2019): parts ``distance`` = ``distance_weight * rkd_distance_loss``
    and ``angle`` = ``angle_weight * rkd_angle_loss`` of one tap, logged as ``rkd_distance``
    and ``rkd_angle``.

    Batch-level losses (relations between the examples of the batch, per replica under data
    parallelism), each returned as that scalar for every example. Defaults are RepDistiller's:
    weights 25 and 50 on the pooled embedding.

    Args:
        distance_weight: weight of the distance part (>= 0).
        angle_weight: weight of the angle part (>= 0).
        tap: the tap of both networks (the pooled pre-logits ``"embedding"`` of zoo models).
    """

    default_name = "rkd"
    part_names = ("distance", "angle")

    def __init__(self, distance_weight=25.0, angle_weight=50.0, tap="embedding", **kwargs):
        super().__init__(tap=tap, **kwargs)
        self.distance_weight = check_non_negative(distance_weight, "distance_weight")
        self.angle_weight = check_non_negative(angle_weight, "angle_weight")

    def parts(self, step):
        student, teacher = self.features(step.student, step.teacher)
        return {
            "distance": per_batch(self.distance_weight * rkd_distance_loss(student, teacher), step.student_logits),
            "angle": per_batch(self.angle_weight * rkd_angle_loss(student, teacher), step.student_logits),
        }

    def get_config(self):
        return {**super().get_config(), "distance_weight": self.distance_weight,
                "angle_weight": self.angle_weight}
