"""Correlation congruence (Peng et al. 2019, "Correlation Congruence for Knowledge Distillation",
ICCV 2019, arXiv:1904.01802; peng2019), in the form of the CRD / mdistiller benchmark's code.

RepDistiller's ``distiller_zoo/CC.py`` (the authors' code, restructured) embeds each side's pooled
features with a learned linear map (``LinearEmbed``: a dense layer to 128, no normalization; both maps
train with the student, the teacher's on the teacher's frozen features) and takes, with ``d = |e_s -
e_t|`` per example, the mean over consecutive examples of the batch of ``sum_k d_i,k * d_i+1,k``;
weight 0.02 (its ``scripts/run_cifar_distill.sh``). This is the form the benchmark's CC numbers come
from, so it is the default (``mode="code"``). The pairs are consecutive in the batch: shuffled batches
pair random examples (per replica under data parallelism).

``mode="paper"`` is peng2019's kernel form: each side's correlation matrix over all pairs of the batch,
``C[i, j] = k(f_i, f_j)`` with the Gaussian RBF ``exp(-gamma ||f_i - f_j||^2)`` of L2-normalized
embeddings expanded to order P around ``f_i . f_j``: ``sum_{p<=P} exp(-2 gamma) (2 gamma)^p / p!
(f_i . f_j)^p``, and the loss ``1/B^2 ||C_t - C_s||_F^2``. Its defaults ``gamma=0.4, p_order=2`` are
those of the widely used re-implementation (AberHu's Knowledge-Distillation-Zoo ``cc.py``); the paper's
own text is not among this repository's sources, so they are that code's reading of it. The embeddings
are the same learned linear maps in both modes.
"""

import math

import keras
from keras import ops

from keras_kd.losses.registry import term
from keras_kd.losses.relations import TapTerm, flatten_pair, per_batch
from keras_kd.validation import check_choice, check_int, check_non_negative, check_number

CC_MODES = ("code", "paper")


def cc_loss(student_embeddings, teacher_embeddings, mode="code", gamma=0.4, p_order=2):
    """CC loss of one batch: a scalar, float32, no gradient into the teacher.

    Args:
        student_embeddings: (B, D) tensor (flattened if it has more axes).
        teacher_embeddings: (B, D) tensor of the same batch (and, in ``mode="code"``, width).
        mode: ``"code"`` (RepDistiller's consecutive-pair formula; default) or ``"paper"`` (peng2019's
            Taylor-expanded Gaussian RBF correlation matrices; the widths may differ).
        gamma: the RBF's ``gamma`` (> 0), ``mode="paper"`` only.
        p_order: the order P of the expansion (>= 0), ``mode="paper"`` only.

    Example:

    >>> e = np.arange(12, dtype="float32").reshape(4, 3)
    >>> float(cc_loss(e, e + 1.0))
    3.0
    """
    check_choice(mode, "mode", CC_MODES)
    gamma, p_order = check_kernel(gamma, p_order)
    student, teacher = flatten_pair(student_embeddings, teacher_embeddings, "cc_loss")
    if mode == "paper":
        return kernel_congruence(student, teacher, gamma, p_order)
    if student.shape[-1] is not None and teacher.shape[-1] is not None and student.shape[-1] != teacher.shape[-1]:
        raise ValueError(
            "cc_loss compares embeddings of one width (CC embeds both sides to feat_dim first). Received: "
            f"student width {student.shape[-1]}, teacher width {teacher.shape[-1]}"
        )
    return congruence(student, teacher)


def check_kernel(gamma, p_order):
    return check_number(gamma, "gamma", 0.0, math.inf, low_open=True), check_int(p_order, "p_order", low=0)


def congruence(student, teacher):
    """``mean_i sum_k d_i,k d_i+1,k`` with ``d = |student - teacher|``, both (B, D) float32."""
    delta = ops.abs(student - teacher)
    return ops.mean(ops.sum(delta[:-1] * delta[1:], axis=1))


def correlation_matrix(features, gamma, p_order):
    """peng2019's (B, B) correlation of (B, D) float32 features: the P-order Taylor expansion of
    ``exp(-gamma ||f_i - f_j||^2)`` over L2-normalized rows."""
    unit = features / ops.maximum(ops.norm(features, axis=1, keepdims=True), 1e-12)
    similarity = ops.matmul(unit, ops.transpose(unit))
    return sum(
        math.exp(-2.0 * gamma) * (2.0 * gamma) ** p / math.factorial(p) * similarity ** p
        for p in range(p_order + 1)
    )


def kernel_congruence(student, teacher, gamma, p_order):
    """``1/B^2 ||C_t - C_s||_F^2`` of both sides' correlation matrices."""
    difference = correlation_matrix(student, gamma, p_order) - correlation_matrix(teacher, gamma, p_order)
    return ops.mean(ops.square(difference))


@term
class CC(TapTerm):
    """Correlation congruence (peng2019) as the benchmark's code: ``weight * cc_loss`` of both sides'
    learned linear embeddings of one tap.

    Args:
        weight: weight of the term (>= 0); RepDistiller's 0.02.
        feat_dim: width of the embeddings (RepDistiller's 128).
        tap: the tap of both networks (the pooled pre-logits ``"embedding"`` of zoo models, RepDistiller's
            ``feat[-1]``).
        mode: ``"code"`` (default) or ``"paper"`` (peng2019's kernel correlation matrices; see the module).
        gamma: the kernel's ``gamma`` in ``mode="paper"``.
        p_order: the kernel's expansion order in ``mode="paper"``.
    """

    default_name = "cc"

    def __init__(self, weight=0.02, feat_dim=128, tap="embedding", mode="code", gamma=0.4, p_order=2, **kwargs):
        super().__init__(tap=tap, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.feat_dim = check_int(feat_dim, "feat_dim")
        self.mode = check_choice(mode, "mode", CC_MODES)
        self.gamma, self.p_order = check_kernel(gamma, p_order)
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
        e_s, e_t = self.embed_student(s), self.embed_teacher(t)
        loss = congruence(e_s, e_t) if self.mode == "code" else kernel_congruence(e_s, e_t, self.gamma, self.p_order)
        return per_batch(self.weight * loss, student[0])

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "feat_dim": self.feat_dim, "mode": self.mode,
                "gamma": self.gamma, "p_order": self.p_order}
