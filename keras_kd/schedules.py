"""Learning-rate schedules that change once per epoch, as the papers' code does.

The seed papers step PyTorch's schedulers once per epoch
(``MultiStepLR(milestones, gamma)``, ``CosineAnnealingLR(T_max=epochs)``,
``ExponentialLR(gamma)``); Keras schedules are functions of the optimizer's
step. These take ``steps_per_epoch`` and hold the rate constant within an
epoch: at step ``s`` the epoch is ``e = s // steps_per_epoch`` (0-based)
and the rate is the PyTorch scheduler's after ``e`` epochs.

Keras' ``PiecewiseConstantDecay(boundaries, values)`` switches *after* a
boundary step (``step <= boundary`` keeps the old value): one step later
than ``MultiStepLR``. ``keras.optimizers.schedules.ExponentialDecay(lr,
steps_per_epoch, gamma, staircase=True)`` is exactly ``ExponentialLR``
stepped per epoch and is used as it is.
"""

import math

import keras
from keras import ops

from keras_kd.api import register
from keras_kd.validation import check_int, check_number


def _epoch(step, steps_per_epoch):
    return ops.floor(ops.cast(step, "float32") / steps_per_epoch)


@register
class MultiStepDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial_learning_rate * factor ** (number of milestones <= epoch)``.

    PyTorch's ``MultiStepLR(milestones, gamma=factor)`` stepped once per
    epoch: with milestones (60, 120, 160), epochs 0-59 train at the initial
    rate and epoch 60 is the first at ``initial * factor``.

    Args:
        initial_learning_rate: the rate of epoch 0.
        milestones: increasing epochs (ints) at whose start the rate is multiplied by ``factor``.
        factor: the multiplier, in (0, 1] (``0.2``: "reduced by a factor of 5").
        steps_per_epoch: optimizer steps per epoch.
    """

    def __init__(self, initial_learning_rate, milestones, factor, steps_per_epoch):
        self.initial_learning_rate = check_number(initial_learning_rate, "initial_learning_rate", 0, math.inf)
        if not isinstance(milestones, (list, tuple)):
            raise ValueError(f"`milestones` must be a list of epochs. Received: milestones={milestones!r}")
        self.milestones = [check_int(m, "milestones", low=1) for m in milestones]
        if self.milestones != sorted(set(self.milestones)):
            raise ValueError(f"`milestones` must increase. Received: milestones={milestones!r}")
        self.factor = check_number(factor, "factor", 0, 1, low_open=True)
        self.steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch")

    def __call__(self, step):
        epoch = _epoch(step, self.steps_per_epoch)
        passed = sum(ops.cast(epoch >= milestone, "float32") for milestone in self.milestones)
        return self.initial_learning_rate * ops.power(self.factor, passed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "milestones": self.milestones,
            "factor": self.factor,
            "steps_per_epoch": self.steps_per_epoch,
        }


@register
class CosineAnnealing(keras.optimizers.schedules.LearningRateSchedule):
    """``minimum + (initial - minimum) * (1 + cos(pi * epoch / epochs)) / 2``, constant within an epoch.

    PyTorch's ``CosineAnnealingLR(T_max=epochs, eta_min=minimum)`` stepped once per
    epoch (tang2024: "the initial learning rate is 0.1 with cosine decay
    schedule"). Keras' ``CosineDecay`` decays every step instead.

    ``epoch_offset=1`` is the schedule of code that steps the scheduler at the *start* of each epoch,
    before training on it (DARTS' and STACNAS' search scripts, liu2019 / li2019): epoch ``e`` trains at
    the rate of ``e + 1``, and the last epoch at ``minimum``.

    Args:
        initial_learning_rate: the rate of epoch 0.
        epochs: T_max, the epochs of training (the rate reaches ``minimum`` there).
        steps_per_epoch: optimizer steps per epoch.
        minimum: eta_min, the last rate (0).
        epoch_offset: epochs added to the optimizer's epoch before the rate is read (0 or 1).
    """

    def __init__(self, initial_learning_rate, epochs, steps_per_epoch, minimum=0.0, epoch_offset=0):
        self.initial_learning_rate = check_number(initial_learning_rate, "initial_learning_rate", 0, math.inf)
        self.epochs = check_int(epochs, "epochs")
        self.steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch")
        self.minimum = check_number(minimum, "minimum", 0, self.initial_learning_rate)
        self.epoch_offset = check_int(epoch_offset, "epoch_offset", low=0)

    def __call__(self, step):
        epoch = ops.minimum(_epoch(step, self.steps_per_epoch) + self.epoch_offset, self.epochs)
        decayed = 0.5 * (1.0 + ops.cos(math.pi * epoch / self.epochs))
        return self.minimum + (self.initial_learning_rate - self.minimum) * decayed

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "minimum": self.minimum,
            "epoch_offset": self.epoch_offset,
        }
