"""Variational information distillation (Ahn et al. 2019, "Variational Information Distillation for
Knowledge Transfer", CVPR 2019, arXiv:1904.05835; ahn2019), as the CRD / mdistiller benchmark's code.

Per pair of feature maps, a regressor (three 1x1 convs without bias, ReLU between them, widths
``t, t, t`` for a teacher map of ``t`` channels) predicts the teacher's map from the student's as the mean
of a Gaussian whose variance per teacher channel is ``softplus(log_scale) + eps``, learned, starting at
``init_pred_var``; the loss is the Gaussian's negative log-likelihood without its constant,
``0.5 * ((mu - t)^2 / var + log var)``, averaged over the map and summed over the pairs. That is
RepDistiller's ``distiller_zoo/VID.py`` (the authors' code; regressor and variances train with the
student), weight 1 on the stage outputs (its ``scripts/run_cifar_distill.sh``). Where the spatial sizes
differ (ResNet32x4's 32 / 16 / 8 against ShuffleNet's 16 / 8 / 4), the larger map is average-pooled to the
smaller, as the code's ``adaptive_avg_pool2d``; sizes that do not divide are refused (adaptive pooling's
overlapping windows are not reproduced).
"""

import math

import keras
from keras import ops

from keras_kd.layers.chain import build_chain
from keras_kd.losses.feature_term import FeatureTerm
from keras_kd.losses.pooling import pool_to
from keras_kd.losses.registry import term
from keras_kd.validation import check_non_negative, check_number


def inverse_softplus(value):
    """``log(exp(value) - 1)`` without overflow for large values."""
    return value + math.log(-math.expm1(-value))


def vid_nll(prediction, target, log_scale, eps=1e-5):
    """Per-example mean over (H, W, C) of ``0.5 * ((prediction - target)^2 / var + log var)``,
    ``var = softplus(log_scale) + eps`` per channel; float32, no gradient into ``target``.

    Args:
        prediction: the predicted mean (B, H, W, C).
        target: the target map, same shape.
        log_scale: the per-channel variance parameter (C,), before softplus.
        eps: added to the variance.
    """
    variance = ops.softplus(ops.cast(log_scale, "float32")) + eps
    target = ops.stop_gradient(ops.cast(target, "float32"))
    nll = 0.5 * (ops.square(ops.cast(prediction, "float32") - target) / variance + ops.log(variance))
    return ops.mean(ops.reshape(nll, (ops.shape(nll)[0], -1)), axis=-1)


@term
class VID(FeatureTerm):
    """Variational information distillation (ahn2019) as RepDistiller's code: ``weight * sum over the
    tap pairs of vid_nll(regressor(student map), teacher map)``.

    Args:
        weight: weight of the term (>= 0); RepDistiller's 1.
        init_pred_var: the variances' initial value (> eps); the code's 5.
        eps: floor added to the variances (> 0); the code's 1e-5.
        taps: see ``keras_kd.losses.feature_term.FeatureTerm`` (default: every stage both networks have).
    """

    default_name = "vid"
    same_spatial_size = False  # the larger map is pooled (``pool_to``)

    def __init__(self, weight=1.0, init_pred_var=5.0, eps=1e-5, taps=None, **kwargs):
        super().__init__(taps=taps, **kwargs)
        self.weight = check_non_negative(weight, "weight")
        self.eps = check_number(eps, "eps", 0, math.inf, low_open=True)
        self.init_pred_var = check_number(init_pred_var, "init_pred_var", self.eps, math.inf, low_open=True)
        self.regressors, self.log_scales = {}, {}

    def connect(self, student_shapes, teacher_shapes):
        super().connect(student_shapes, teacher_shapes)
        start = inverse_softplus(self.init_pred_var - self.eps)  # as the code: softplus(start) + eps = init
        for student_tap, teacher_tap in self.pairs:
            sizes = (student_shapes[1][student_tap][1], teacher_shapes[1][teacher_tap][1])
            if max(sizes) % min(sizes) or any(shape[1] != shape[2] for shape in
                                              (student_shapes[1][student_tap], teacher_shapes[1][teacher_tap])):
                raise ValueError(
                    f"VID pools the larger of two square maps by an integer ratio: student tap {student_tap!r} is "
                    f"{tuple(student_shapes[1][student_tap])}, teacher tap {teacher_tap!r} "
                    f"{tuple(teacher_shapes[1][teacher_tap])}. Received: taps={self.taps_arg!r}")
            if student_tap in self.regressors:
                continue
            channels = teacher_shapes[1][teacher_tap][-1]
            regressor = [keras.layers.Conv2D(channels, 1, use_bias=False, name=f"regressor_{student_tap}_{i + 1}")
                         for i in range(3)]
            build_chain(regressor, student_shapes[1][student_tap])
            self.regressors[student_tap] = regressor
            self.log_scales[student_tap] = self.add_weight(
                shape=(channels,), initializer=keras.initializers.Constant(start), name=f"log_scale_{student_tap}")

    def predict_mean(self, student_tap, student_map):
        x = student_map
        for index, conv in enumerate(self.regressors[student_tap]):
            x = conv(x) if index == 0 else conv(keras.activations.relu(x))
        return x

    def per_example(self, student, teacher, y):
        total = 0.0
        for student_tap, teacher_tap in self.pairs:
            student_map, teacher_map = student[1][student_tap], teacher[1][teacher_tap]
            size = min(student_map.shape[1], teacher_map.shape[1])
            prediction = self.predict_mean(student_tap, pool_to(student_map, size))
            total = total + vid_nll(prediction, pool_to(teacher_map, size), self.log_scales[student_tap], self.eps)
        return self.weight * total

    def get_config(self):
        return {**super().get_config(), "weight": self.weight, "init_pred_var": self.init_pred_var, "eps": self.eps}
