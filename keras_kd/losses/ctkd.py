"""Curriculum temperature KD (Li et al. 2023, "Curriculum Temperature for Knowledge Distillation",
AAAI 2023, arXiv:2211.16231; li2023), its global-temperature form as the authors' code (zhengli97/CTKD).

KD's temperature is learned adversarially: ``T = t_start + t_end * sigmoid(g)`` with one learnable scalar
``g`` (``Global_T``, starting at 1: T = 15.62), passed through a gradient-scaling layer whose backward pass
multiplies by ``lambda``; ``lambda`` follows the code's ``CosineDecay`` per epoch ``e`` (counted from 1),
``((cos(pi * min(e, loops) / loops) + 1) / 2) * (decay_max - decay_min) + decay_min``, from 0 to -1 over 10
epochs (its ``scripts/run_cifar_distill.sh``: ``--decay_max 0 --decay_min -1 --decay_loops 10``), so ``g``
climbs the KD loss while the student descends it. The loss is ``alpha * T^2 * KL(softmax(t/T) ||
softmax(s/T))`` with ``T``'s gradient through both softmaxes and the ``T^2`` factor (the code's
``DistillKL``), alpha 0.9 and cross-entropy 0.1 (``-r 0.1 -a 0.9``). ``g`` trains with the student's
optimizer (weight decay included, as the code's ``trainable_list``). The term counts its training steps in
a variable saved with the trainer, so the curriculum resumes where it stopped.
"""

import math

from keras import initializers, ops

from keras_kd.losses.kd import check_unit_interval, tempered_kl
from keras_kd.losses.registry import term
from keras_kd.losses.term import DistillationTerm
from keras_kd.validation import check_int, check_number


def scale_gradient(x, scale):
    """``x`` forward; its gradient multiplied by ``scale`` backward (a gradient reversal layer for
    ``scale < 0``).

    Args:
        x: a tensor.
        scale: the factor of its gradient.
    """
    x = ops.convert_to_tensor(x)
    return ops.stop_gradient(x - scale * x) + scale * x


def cosine_lambda(epoch, decay_max=0.0, decay_min=-1.0, loops=10):
    """The code's ``CosineDecay(decay_max, decay_min, loops).get_value(epoch)``, ``epoch`` a number or tensor.

    Args:
        epoch: the epoch (clipped to ``[0, loops]``).
        decay_max: the value at epoch 0.
        decay_min: the value at epoch ``loops`` and after.
        loops: the epochs of the decay.
    """
    epoch = ops.clip(ops.cast(epoch, "float32"), 0.0, float(loops))
    return (ops.cos(epoch * math.pi / loops) + 1.0) * 0.5 * (decay_max - decay_min) + decay_min


@term
class CTKD(DistillationTerm):
    """Curriculum temperature KD (li2023, global temperature): ``alpha * T^2 * KL`` with ``T`` learned
    adversarially (see the module docstring).

    Args:
        alpha: KD weight in [0, 1]; the cross-entropy gets ``1 - alpha``.
        t_start: the lowest temperature (the code's 1).
        t_end: the temperature range above it (the code's 20).
        decay_max: lambda at epoch 0 (the code's 0).
        decay_min: lambda from epoch ``decay_loops`` on (the code's -1).
        decay_loops: epochs of the cosine curriculum (the code's 10).
        steps_per_epoch: training steps per epoch (the curriculum counts epochs).
    """

    default_name = "ctkd"

    def __init__(self, alpha=0.9, t_start=1.0, t_end=20.0, decay_max=0.0, decay_min=-1.0, decay_loops=10,
                 steps_per_epoch=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha = check_unit_interval(alpha, "alpha")
        self.t_start = check_number(t_start, "t_start", 0, math.inf, low_open=True)
        self.t_end = check_number(t_end, "t_end", 0, math.inf)
        self.decay_max = check_number(decay_max, "decay_max", -math.inf, math.inf)
        self.decay_min = check_number(decay_min, "decay_min", -math.inf, math.inf)
        self.decay_loops = check_int(decay_loops, "decay_loops")
        if steps_per_epoch is None:
            raise ValueError("CTKD's curriculum counts epochs from training steps: pass steps_per_epoch (e.g. "
                             "len(train_dataset)). Received: steps_per_epoch=None")
        self.steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch")
        self.global_t = self.add_weight(shape=(), initializer=initializers.Constant(1.0), name="global_t")
        self.steps = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                     name="steps", aggregation="only_first_replica")

    def student_loss_weight(self):
        return 1.0 - self.alpha

    def gradient_lambda(self):
        """lambda of the current step's epoch (epochs from 1, as the code's loop)."""
        return cosine_lambda(self.steps // self.steps_per_epoch + 1, self.decay_max, self.decay_min,
                             self.decay_loops)

    def temperature(self, scale=1.0):
        """``t_start + t_end * sigmoid(g)``, ``g``'s gradient scaled by ``scale``."""
        return self.t_start + self.t_end * ops.sigmoid(scale_gradient(ops.cast(self.global_t, "float32"), scale))

    def per_example(self, student, teacher, y):
        temperature = self.temperature(self.gradient_lambda())
        self.steps.assign_add(1)
        return self.alpha * ops.square(temperature) * tempered_kl(teacher[0], student[0], temperature)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "t_start": self.t_start, "t_end": self.t_end,
                "decay_max": self.decay_max, "decay_min": self.decay_min, "decay_loops": self.decay_loops,
                "steps_per_epoch": self.steps_per_epoch}
