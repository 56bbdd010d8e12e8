"""Flow of solution procedure (Yim, Joo, Bae, Kim, "A Gift from Knowledge Distillation: Fast
Optimization, Network Minimization and Transfer Learning", CVPR 2017; yim2017), as the code of the
CRD benchmark (RepDistiller: ``distiller_zoo/FSP.py``, ``train_student.py``, ``helper/pretrain.py``).

An FSP matrix of two maps of one network, ``bottom`` (H, W, C1) and ``top`` (H', W', C2), the
larger average-pooled to the smaller's size, is ``G[c1, c2] = mean over positions of bottom[., c1]
top[., c2]`` (the paper's eq. 1: the sum over positions divided by their number). Between
consecutive taps (default: the stem's output and every stage output both networks have, the
code's ``feat[:-1]``), the loss sums over the matrices ``mean over (c1, c2) of (G_s - G_t)^2``; the
student's and teacher's taps need equal channels (the code raises otherwise). The paper weighs
matrices equally and sums the squared L2 norms; the code's mean over the matrix entries is followed
here, its published numbers coming from it. On WRNs the code's last map is taken after the network's
final BN-ReLU (its ``feat[3]``), here before it (the stage output ``stage3``).

The loss trains the student's feature layers (stem and stages) in the initialization stage
(``Distiller.init_stage()``; the code's 30 epochs); in distillation the code's FSP loss is 0 ("can
also add loss to this stage"), so ``weight`` defaults to 0: cross-entropy alone.
"""

from keras import ops

from keras_kd.losses.feature_term import FeatureTerm, stem_and_stages
from keras_kd.losses.registry import term
from keras_kd.losses.term import zero_per_example
from keras_kd.losses.pooling import pool_to
from keras_kd.models.subnetworks import feature_variables
from keras_kd.validation import check_non_negative


def fsp_matrix(bottom, top):
    """(B, C1, C2) FSP matrices of ``bottom`` (B, H, W, C1) and ``top`` (B, H', W', C2), float32.

    Args:
        bottom: the first map (B, H, W, C1).
        top: the second map (B, H', W', C2); the larger is pooled to the smaller by an integer ratio.
    """
    size = min(bottom.shape[1], top.shape[1])
    if max(bottom.shape[1], top.shape[1]) % size:
        raise ValueError(f"FSP pools the larger of two maps by an integer ratio. Received maps of shapes "
                         f"{tuple(bottom.shape)} and {tuple(top.shape)}")
    bottom, top = (ops.cast(pool_to(x, size), "float32") for x in (bottom, top))
    positions = size * bottom.shape[2]
    flat = [ops.reshape(x, (ops.shape(x)[0], positions, x.shape[-1])) for x in (bottom, top)]
    return ops.einsum("bpi,bpj->bij", *flat) / positions


def fsp_per_example(student_features, teacher_features):
    """Per example: the sum over consecutive pairs of maps of ``mean (G_s - G_t)^2``; no gradient
    into the teacher.

    Args:
        student_features: the student's feature maps (B, H, W, C) each, in order.
        teacher_features: the teacher's, as many, the k-th with the channels of the student's k-th.
    """
    total = 0.0
    for k in range(len(student_features) - 1):
        g_s = fsp_matrix(student_features[k], student_features[k + 1])
        g_t = ops.stop_gradient(fsp_matrix(teacher_features[k], teacher_features[k + 1]))
        total = total + ops.mean(ops.reshape(ops.square(g_s - g_t), (ops.shape(g_s)[0], -1)), axis=-1)
    return total


def fsp_loss(student_features, teacher_features):
    """FSP loss (yim2017, RepDistiller's formula) of one batch, a scalar: lists of maps of each network,
    consecutive ones paired, the student's and teacher's k-th with equal channels.

    Args:
        student_features: the student's feature maps (B, H, W, C) each, in order.
        teacher_features: the teacher's, as many, the k-th with the channels of the student's k-th.
    """
    return ops.mean(fsp_per_example(student_features, teacher_features))


@term
class FSP(FeatureTerm):
    """FSP (yim2017) as RepDistiller's code: an initialization stage on ``fsp_loss`` over the taps, then
    ``weight`` times it in distillation (the code's 0).

    Args:
        weight: weight of the loss in distillation (>= 0); the code's 0.
        taps: ``None`` (``stem`` then every ``stage<N>`` tap both networks have), a list, or
            ``{student tap: teacher tap}``, in network order; at least two pairs.
    """

    default_name = "fsp"
    same_spatial_size = False
    default_taps_note = "the stem and the stage<N> taps both networks have"
    init_part_names = ("loss",)

    def __init__(self, weight=0.0, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")

    def default_taps(self, common):
        return stem_and_stages(common)

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        channels = [(student_shapes[1][s][-1], teacher_shapes[1][t][-1]) for s, t in self.pairs]
        if len(self.pairs) < 2 or any(s != t for s, t in channels):
            raise ValueError(
                "FSP pairs consecutive maps of each network: it needs at least two tap pairs, the student's and "
                f"teacher's with equal channels. Pairs {self.pairs} have channels {channels}. "
                f"Received: taps={self.taps_arg!r}")

    def fsp(self, student, teacher):
        return fsp_per_example([student[1][s] for s, _ in self.pairs], [teacher[1][t] for _, t in self.pairs])

    def init_parts(self, step):
        return {"loss": self.fsp(step.student, step.teacher)}

    def init_variables(self, student):
        return feature_variables(student)

    def per_example(self, student, teacher, y):
        if not self.weight:
            return zero_per_example(student[0])
        return self.weight * self.fsp(student, teacher)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
