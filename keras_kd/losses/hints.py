"""FitNets hints (Romero et al. 2015, romero2015): regression of teacher feature maps.

FitNets trains in two stages: "we first train the FitNet up to the guided layer ... using the hint-based
loss, then the whole FitNet with KD" (romero2015 §2.2 and Algorithm 1: ``W_Guided, W_r`` minimize
``L_HT``, then ``W_S`` minimizes ``L_KD``). ``Distiller.init_stage()`` is that first stage: the term's
adapters and the student's layers up to the tapped ones, on the hint loss alone. The CRD benchmark's
code (RepDistiller) runs no such stage: it adds the hint, weight 100, to the cross-entropy throughout,
which the term does by default (``fit`` without a stage).
"""

import keras
from keras import ops

from keras_kd.losses.feature_term import FeatureTerm
from keras_kd.losses.registry import term
from keras_kd.models.subnetworks import variables_up_to
from keras_kd.validation import check_non_negative


@term
class FeatureHint(FeatureTerm):
    """FitNets-style hints (Romero et al. 2015, romero2015): ``weight * mean (r(s) - t)^2``.

    ``r`` is a learned 1x1 conv (no bias) from the student's to the
    teacher's channels where they differ, the identity otherwise; its
    weights train with the student and are not part of the exported student.
    Beyond the five papers; users of other KD libraries expect it.

    Args:
        weight: weight of the term.
        taps: see ``keras_kd.losses.feature_term.FeatureTerm``.
    """

    default_name = "hint"
    init_part_names = ("loss",)

    def __init__(self, weight=1.0, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.adapters = {}

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        for student_tap, teacher_tap in self.pairs:
            s_shape = student_shapes[1][student_tap]
            t_channels = teacher_shapes[1][teacher_tap][-1]
            if s_shape[-1] != t_channels and student_tap not in self.adapters:
                adapter = keras.layers.Conv2D(
                    t_channels, 1, use_bias=False, name=f"adapter_{student_tap}"
                )
                adapter.build(s_shape)
                self.adapters[student_tap] = adapter

    def init_parts(self, step):
        """FitNets' stage 1 on the hint loss alone, unweighted (``weight`` is the distillation stage's)."""
        return {"loss": self.hint_loss(step.student, step.teacher)}

    def init_variables(self, student):
        """FitNets' stage 1: the adapters and the student's layers up to the tapped ones (romero2015)."""
        adapters = [w for adapter in self.adapters.values() for w in adapter.trainable_weights]
        return adapters + variables_up_to(student, [student_tap for student_tap, _ in self.pairs])

    def per_example(self, student, teacher, y):
        return self.weight * self.hint_loss(student, teacher)

    def hint_loss(self, student, teacher):
        """Per example: the sum over the tap pairs of ``mean (r(s) - t)^2``."""
        total = 0.0
        for student_tap, teacher_tap in self.pairs:
            s = student[1][student_tap]
            if student_tap in self.adapters:
                s = self.adapters[student_tap](s)
            t = ops.stop_gradient(ops.cast(teacher[1][teacher_tap], "float32"))
            diff = ops.square(ops.cast(s, "float32") - t)
            total = total + ops.mean(ops.reshape(diff, (ops.shape(diff)[0], -1)), axis=-1)
        return total

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
