"""DIST (Huang et al. 2022, huang2022): distillation by the Pearson correlation of
predictions, between and within classes, instead of a KL that asks for exact matches.

With ``p = softmax(z / T)`` of each network, shape (batch, classes):

* inter-class relation, per example: ``1 - pearson(p_s[i, :], p_t[i, :])``;
* intra-class relation, per class over the batch: ``1 - pearson(p_s[:, c], p_t[:, c])``;

the loss is ``T^2 (beta * mean_i inter + gamma * mean_c intra)``. The Pearson
correlation is the cosine of the centred vectors with ``1e-8`` added to the
product of the norms, as in the authors' code (hunto/DIST_KD). The intra-class
part relates the examples of a batch (per replica under data parallelism).
"""

from keras import ops

from keras_kd.losses.kd import check_temperature
from keras_kd.losses.norms import l2_norm
from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.validation import check_non_negative

PEARSON_EPSILON = 1e-8


def pearson(a, b, axis):
    """Pearson correlation of ``a`` and ``b`` along ``axis`` (the code's centred cosine).

    Each norm is floored at 1e-12 (``losses.norms.l2_norm``): the code's value wherever a
    norm is above it, and a finite gradient for a constant vector (a one-example batch's
    intra-class part), where the code's ``sqrt`` gives NaN on JAX and torch.
    """
    a = a - ops.mean(a, axis=axis, keepdims=True)
    b = b - ops.mean(b, axis=axis, keepdims=True)
    norms = ops.squeeze(l2_norm(a, axis=axis) * l2_norm(b, axis=axis), axis=axis)
    return ops.sum(a * b, axis=axis) / (norms + PEARSON_EPSILON)


def dist_relations(student_logits, teacher_logits, temperature=1.0):
    """``(inter, intra)``: ``T^2 (1 - pearson)`` per example (batch,) and per class (classes,);
    float32, no gradient into the teacher.

    Args:
        student_logits: the student's logits (batch, classes).
        teacher_logits: the teacher's logits, same shape.
        temperature: the softmax temperature T (> 0).
    """
    temperature = check_temperature(temperature)
    student = ops.softmax(ops.cast(student_logits, "float32") / temperature, axis=-1)
    teacher = ops.softmax(ops.stop_gradient(ops.cast(teacher_logits, "float32")) / temperature, axis=-1)
    scale = temperature**2
    return scale * (1.0 - pearson(student, teacher, axis=1)), scale * (1.0 - pearson(student, teacher, axis=0))


def dist_loss(student_logits, teacher_logits, beta=1.0, gamma=1.0, temperature=1.0):
    """DIST's batch loss ``beta * mean inter + gamma * mean intra`` (student first, as in the code).

    Args:
        student_logits: the student's logits (batch, classes).
        teacher_logits: the teacher's logits, same shape.
        beta: weight of the inter-class (per-example) relation.
        gamma: weight of the intra-class (per-class) relation.
        temperature: the softmax temperature T (> 0).

    Example:

    >>> import numpy as np
    >>> z = np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]])
    >>> round(float(dist_loss(z, z)), 6)  # identical predictions correlate perfectly
    0.0
    """
    inter, intra = dist_relations(student_logits, teacher_logits, temperature)
    return beta * ops.mean(inter) + gamma * ops.mean(intra)


@term
class DIST(DistillationTerm):
    """DIST (huang2022): parts ``inter`` (``beta`` x inter-class relation, per example)
    and ``intra`` (``gamma`` x intra-class relation, the batch's value for every
    example), logged ``dist_inter`` and ``dist_intra``.

    Defaults ``beta = gamma = 1``, ``T = 1`` are the authors' code's (its ImageNet
    setting); the Distiller's cross-entropy weight stays 1, as in that code.

    Args:
        beta: weight of the inter-class relation.
        gamma: weight of the intra-class relation.
        temperature: T > 0.
    """

    default_name = "dist"
    part_names = ("inter", "intra")

    def __init__(self, beta=1.0, gamma=1.0, temperature=1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta, self.gamma = check_non_negative(beta, "beta"), check_non_negative(gamma, "gamma")
        self.temperature = check_temperature(temperature)

    def parts(self, step):
        inter, intra = dist_relations(step.student_logits, step.teacher_logits, self.temperature)
        return {"inter": self.beta * inter, "intra": self.gamma * ops.mean(intra) * ops.ones_like(inter)}

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "gamma": self.gamma, "temperature": self.temperature}
