"""Probabilistic knowledge transfer (Passalis & Tefas 2018, passalis2018): match the teacher's
distribution of pairwise cosine similarities within a batch.

Per side, the rows ``x`` of the flattened features are L2-normalized, their cosine
similarities ``S = x x^T`` mapped to ``[0, 1]`` by ``(S + 1) / 2`` and each row divided
by its sum (row ``i``: a distribution over the batch). The loss is the KL divergence of
the student's rows from the teacher's, ``T log((T + eps) / (S + eps))``, averaged over
all ``B * B`` entries (so ``1 / B`` times the mean of the rows' KLs). The formula is
the one in RepDistiller's code (HobbitLong/RepDistiller), whose CIFAR-100 numbers came
from it. The relations are taken within the batch (per replica under data parallelism).
"""

from keras import ops

from keras_kd.losses.norms import l2_norm
from keras_kd.losses.registry import term
from keras_kd.losses.relations import TapTerm, flatten_pair, per_batch
from keras_kd.validation import check_non_negative, check_number

def _similarity_distributions(x, eps):
    """Rows of ``(cos(x_i, x_j) + 1) / 2`` divided by their sums, shape (B, B)."""
    x = x / (l2_norm(x) + eps)
    x = ops.where(ops.isnan(x), 0.0, x)
    similarity = (ops.matmul(x, ops.transpose(x)) + 1.0) / 2.0
    return similarity / ops.sum(similarity, axis=1, keepdims=True)


def pkt_loss(student_features, teacher_features, eps=1e-7):
    """PKT loss (passalis2018, RepDistiller's formula) of one batch: a scalar, float32, no
    gradient into the teacher. Features are flattened to (B, D); D may differ between sides.

    Args:
        student_features: (B, ...) tensor.
        teacher_features: (B, ...) tensor of the same batch.
        eps: > 0, added to the norms and inside the log ratio.

    Example:

    >>> f = np.arange(12, dtype="float32").reshape(4, 3)
    >>> float(pkt_loss(f, f))
    0.0
    """
    eps = check_number(eps, "eps", 0, float("inf"), low_open=True)
    student, teacher = flatten_pair(student_features, teacher_features, "pkt_loss")
    s, t = _similarity_distributions(student, eps), _similarity_distributions(teacher, eps)
    return ops.mean(t * ops.log((t + eps) / (s + eps)))


@term
class PKT(TapTerm):
    """Probabilistic knowledge transfer (passalis2018): ``weight * pkt_loss`` of one tap.

    A batch-level loss (relations between the examples of the batch, per replica under
    data parallelism), returned as that scalar for every example. Defaults are
    RepDistiller's CIFAR-100 settings: its weight 3e4 on the pooled embedding.

    Args:
        weight: weight of the term (>= 0).
        tap: the tap of both networks (the pooled pre-logits ``"embedding"`` of zoo models).
    """

    default_name = "pkt"

    def __init__(self, weight=30000.0, tap="embedding", **kwargs):
        super().__init__(tap=tap, **kwargs)
        self.weight = check_non_negative(weight, "weight")

    def per_example(self, student, teacher, y):
        return per_batch(self.weight * pkt_loss(*self.features(student, teacher)), student[0])

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
