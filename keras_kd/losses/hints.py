"""FitNets hints (Romero et al. 2015, romero2015): regression of teacher feature maps."""

import keras
from keras import ops

from keras_kd.losses.feature_term import FeatureTerm
from keras_kd.losses.registry import term
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

    def per_example(self, student, teacher, y):
        total = 0.0
        for student_tap, teacher_tap in self.pairs:
            s = student[1][student_tap]
            if student_tap in self.adapters:
                s = self.adapters[student_tap](s)
            t = ops.stop_gradient(ops.cast(teacher[1][teacher_tap], "float32"))
            diff = ops.square(ops.cast(s, "float32") - t)
            total = total + ops.mean(ops.reshape(diff, (ops.shape(diff)[0], -1)), axis=-1)
        return self.weight * total

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}
