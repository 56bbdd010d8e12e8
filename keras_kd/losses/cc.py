"""Correlation congruence (Peng et al. 2019, "Correlation Congruence for Knowledge Distillation",
ICCV 2019, arXiv:1904.01802; peng2019), in the form of the CRD / mdistiller benchmark's code.

RepDistiller's ``distiller_zoo/CC.py`` (the authors' code, restructured) embeds each side's pooled
features with a learned linear map (``LinearEmbed``: a dense layer to 128, no normalization; both maps
train with the student, the teacher's on the teacher's frozen features) and takes, with ``d = |e_s -
e_t|`` per example, the mean over consecutive examples of the batch of ``sum_k d_i,k * d_i+1,k``;
weight 0.02 (its ``scripts/run_cifar_distill.sh``). This is the form the benchmark's CC numbers come
from; peng2019's kernel-based correlation matrices (a Taylor-expanded Gaussian RBF over all pairs) are
not implemented. The pairs are consecutive in the batch: shuffled batches pair random examples (per
replica under data parallelism).
"""

import math

import keras
from keras import ops

from keras_kd.losses.registry import term
from keras_kd.losses.relations import TapTerm, flatten_pair, per_batch
from keras_kd.validation import check_int, check_non_negative


def cc_loss(student_embeddings, teacher_embeddings):
    """CC loss of one batch (RepDistiller's formula): a scalar, float32, no gradient into the teacher.

    Args:
        student_embeddings: (B, D) tensor (flattened if it has more axes).
        teacher_embeddings: (B, D) tensor of the same batch and width.

    Example:

    >>> e = np.arange(12, dtype="float32").reshape(4, 3)
    >>> float(cc_loss(e, e + 1.0))
    3.0
    """
    student, teacher = flatten_pair(student_embeddings, teacher_embeddings, "cc_loss")
    if student.shape[-1] is not None and teacher.shape[-1] is not None and student.shape[-1] != teacher.shape[-1]:
        raise ValueError(
            "cc_loss compares embeddings of one width (CC embeds both sides to feat_dim first). Received: "
            f"student width {student.shape[-1]}, teacher width {teacher.shape[-1]}"
        )
    return congruence(student, teacher)


def congruence(student, teacher):
    """``mean_i sum_k d_i,k d_i+1,k`` with ``d = |student - teacher|``, both (B, D) float32."""
    delta = ops.abs(student - teacher)
    return ops.mean(ops.sum(delta[:-1] * delta[1:], axis=1))


@term
class CC(TapTerm):
    """Correlation congruence (peng2019) as the benchmark's code: ``weight * cc_loss`` of both sides'
    learned linear embeddings of one tap.

    Args:
        weight: weight of the term (>= 0); RepDistiller's 0.02.
        feat_dim: width of the embeddings (RepDistiller's 128).
        tap: the tap of both networks (the pooled pre-logits ``"embedding"`` of zoo models, RepDistiller's
            ``feat[-1]``).
    """

    default_name = "cc"

    def __init__(self, weight=0.02, feat_dim=128, tap="embedding", **kwargs):
        super().__init__(tap=tap, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.feat_dim = check_int(feat_dim, "feat_dim")
        # float32 under mixed precision too: the loss math (products of raw embeddings) stays in float32
        self.embed_student = keras.layers.Dense(self.feat_dim, dtype="float32", name="embed_student")
        self.embed_teacher = keras.layers.Dense(self.feat_dim, dtype="float32", name="embed_teacher")

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        for layer, (_, taps) in ((self.embed_student, student_shapes), (self.embed_teacher, teacher_shapes)):
            if not layer.built:
                layer.build((None, math.prod(taps[self.tap][1:])))

    def per_example(self, student, teacher, y):
        s, t = flatten_pair(*self.features(student, teacher), "CC")  # the teacher's features frozen, its embedding not
        return per_batch(self.weight * congruence(self.embed_student(s), self.embed_teacher(t)), student[0])

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "feat_dim": self.feat_dim}
