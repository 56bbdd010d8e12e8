"""Activation boundaries (Heo, Lee, Yun, Choi, "Knowledge Transfer via Distillation of Activation
Boundaries Formed by Hidden Neurons", AAAI 2019, arXiv:1811.03233; heo2019a), as the code of the
CRD benchmark (RepDistiller: ``distiller_zoo/AB.py``, ``train_student.py``, ``helper/pretrain.py``).

The student's pre-activation maps (default: ``stage1_preact..stageN_preact`` of both networks, the
code's ``feat[1:-1]`` with ``preact=True``) go through connectors to the teacher's shapes (the
identity where channels and sizes agree, else ``connectors.conv_regressor`` without ReLU: conv and
batch norm), and each pair ``i`` of ``n`` costs, summed over the map's elements,

    ``(s + m)^2 [s > -m and t <= 0] + (s - m)^2 [s <= m and t > 0]``

(the paper's alternative loss: a neuron of the student is pushed past the margin ``m`` on the side
of the teacher's activation boundary), weighted ``2^(i - n + 1)`` and by ``3 / 1000`` per example
(the code's ``/ bsz / 1000 * 3``). Margin 1.

The loss trains in the initialization stage (``Distiller.init_stage()``; the code's 30 epochs):
the connectors and the student's layers but its classifier. In distillation the code's AB loss is
0 ("can also add loss to this stage"), so ``weight`` defaults to 0: cross-entropy alone, as its
published CIFAR-100 numbers. For a WRN the code's last feature is taken after the network's final
BN-ReLU; here ``stage3_preact`` of a WRN is the last block's output, before it.
"""

from keras import ops

from keras_kd.layers.chain import run_chain
from keras_kd.losses.connectors import chain_weights, conv_regressor
from keras_kd.losses.feature_term import FeatureTerm, preact_stages
from keras_kd.losses.registry import term
from keras_kd.losses.term import zero_per_example
from keras_kd.models.classifier import feature_variables
from keras_kd.validation import check_non_negative, check_number


def activation_boundary_loss(student_map, teacher_map, margin=1.0):
    """Per example: the sum over (H, W, C) of the margin loss of the activation boundaries, float32,
    no gradient into ``teacher_map``."""
    s = ops.cast(student_map, "float32")
    t = ops.stop_gradient(ops.cast(teacher_map, "float32"))
    off = ops.cast(ops.logical_and(s > -margin, t <= 0), "float32")
    on = ops.cast(ops.logical_and(s <= margin, t > 0), "float32")
    loss = ops.square(s + margin) * off + ops.square(s - margin) * on
    return ops.sum(ops.reshape(loss, (ops.shape(loss)[0], -1)), axis=-1)


@term
class AB(FeatureTerm):
    """Activation-boundary distillation (heo2019a) as RepDistiller's code: an initialization stage on
    ``sum_i 2^(i-n+1) * 3/1000 * activation_boundary_loss(connector_i(s_i), t_i)``, then ``weight`` times
    the same loss in distillation (the code's 0).

    Args:
        weight: weight of the loss in distillation (>= 0); the code's 0.
        margin: the margin ``m`` (> 0); the code's 1.
        taps: ``None`` (every ``stage<N>_preact`` tap both networks have, in stage order), a list, or
            ``{student tap: teacher tap}`` in the order of the weights (the last pair weighs 1).
    """

    default_name = "ab"
    same_spatial_size = False
    default_taps_note = "the stage<N>_preact taps both networks have (zoo models offer them)"
    init_part_names = ("loss",)

    def __init__(self, weight=0.0, margin=1.0, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.margin = check_number(margin, "margin", 0, float("inf"), low_open=True)
        self.connectors = {}

    def default_taps(self, common):
        return preact_stages(common)

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        for student_tap, teacher_tap in self.pairs:
            s_shape, t_shape = student_shapes[1][student_tap], teacher_shapes[1][teacher_tap]
            if tuple(s_shape[1:]) != tuple(t_shape[1:]) and student_tap not in self.connectors:
                self.connectors[student_tap] = conv_regressor(s_shape, t_shape, f"connector_{student_tap}", relu=False)

    def boundary_loss(self, student, teacher, training):
        """Per example: the weighted sum over the tap pairs."""
        count, total = len(self.pairs), 0.0
        for i, (student_tap, teacher_tap) in enumerate(self.pairs):
            s = student[1][student_tap]
            if student_tap in self.connectors:
                s = run_chain(self.connectors[student_tap], s, training=training)
            pair = activation_boundary_loss(s, teacher[1][teacher_tap], self.margin)
            total = total + 2.0 ** (i - count + 1) * 3e-3 * pair
        return total

    def init_parts(self, step):
        return {"loss": self.boundary_loss(step.student, step.teacher, step.training)}

    def init_variables(self, student):
        return chain_weights(self.connectors.values()) + feature_variables(student)

    def per_example(self, student, teacher, y):
        if not self.weight:
            return zero_per_example(student[0])
        return self.weight * self.boundary_loss(student, teacher, training=True)

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "margin": self.margin}
