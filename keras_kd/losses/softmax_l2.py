"""ResKD's distillation loss: the L2 of softened softmaxes (li2021 eq. 3, §IV-A)."""

from keras import ops

from keras_kd.losses.kd import check_temperature, check_unit_interval
from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm


def softmax_l2(target_logits, logits, temperature=1.0):
    """Per-example ``sum over classes (softmax(logits/T) - softmax(target/T))^2``, shape (batch,).

    li2021 eq. 3's ``L_{T-S}(sigma(S/t), sigma(T/t))`` with the paper's
    default L2 (§IV-A). The paper does not say whether its L2 is squared or
    summed; this is the squared distance summed over classes (the batch mean
    is the caller's), the form ``ResidualDistiller`` uses. Softmaxes are
    float32.

    Args:
        target_logits: (batch, classes); no gradient flows into it.
        logits: (batch, classes).
        temperature: T > 0.

    Example:

    >>> import numpy as np
    >>> t = np.array([[2.0, 0.0, -1.0]]); s = np.zeros((1, 3))
    >>> round(float(softmax_l2(t, s)[0]), 4)
    0.3935
    """
    check_temperature(temperature)
    target = ops.stop_gradient(ops.cast(target_logits, "float32")) / temperature
    p = ops.softmax(target, axis=-1)
    q = ops.softmax(ops.cast(logits, "float32") / temperature, axis=-1)
    return ops.sum(ops.square(q - p), axis=-1)


@term
class SoftmaxL2(DistillationTerm):
    """ResKD's KD loss for S_0 (li2021 eq. 3 with its default L2).

    ``tau * t^2 * sum over classes (softmax(s/t) - softmax(teacher/t))^2``
    per example (``softmax_l2``, float32, no gradient into the teacher).
    With it the distiller's cross-entropy weight defaults to ``1 - tau``,
    so the total is eq. 3: ``tau t^2 L_{T-S} + (1 - tau) CE``. li2021: "when
    it is not mentioned, we use L_2 loss function for the L_{T-S} in Eq. (3)"
    (§IV-A). For eq. 3 with KL instead, use ``KD(temperature=t, alpha=tau)``.

    Args:
        temperature: t > 0. Default 20, li2021 §IV-B2: "t = 20 in all
            situations".
        tau: weight of the L2 term in [0, 1]. Default 0.9, li2021 §IV-B2's
            S_0 value on CIFAR-10: "We set tau = 0.9/0.5/0.5/0.1 for S_0 on
            CIFAR-10 / CIFAR-100 / Tiny-ImageNet / ImageNet, tau = 0.1 for
            R_1 on all datasets" (``reskd.RESKD_STAGE_SETTINGS``).

    Example:

    >>> distiller = kd.Distiller(student=student, teacher=teacher,  # doctest: +SKIP
    ...                          losses=[kd.losses.SoftmaxL2(temperature=20, tau=0.5)])
    """

    default_name = "softmax_l2"

    def __init__(self, temperature=20.0, tau=0.9, **kwargs):
        super().__init__(**kwargs)
        self.temperature, self.tau = check_temperature(temperature), check_unit_interval(tau, "tau")

    def student_loss_weight(self):
        return 1.0 - self.tau

    def per_example(self, student, teacher, y):
        return self.tau * self.temperature**2 * softmax_l2(teacher[0], student[0], self.temperature)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature, "tau": self.tau}
