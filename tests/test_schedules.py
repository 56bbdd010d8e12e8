"""keras_kd.schedules: MultiStepDecay and CosineAnnealing against PyTorch's schedulers, serialization, errors."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd


def test_schedules_match_torch_schedulers_stepped_per_epoch():
    """MultiStepLR and CosineAnnealingLR as written in PyTorch's docs, per epoch."""
    multistep = kd.schedules.MultiStepDecay(0.1, [2, 5], 0.1, steps_per_epoch=3)
    cosine = kd.schedules.CosineAnnealing(0.1, 6, steps_per_epoch=3)
    for step in range(24):
        epoch = step // 3
        assert float(multistep(step)) == pytest.approx(0.1 * 0.1 ** ((epoch >= 2) + (epoch >= 5)))
        assert float(cosine(step)) == pytest.approx(0.05 * (1 + np.cos(np.pi * min(epoch, 6) / 6)), abs=1e-7)


def test_cosine_annealing_with_a_minimum_and_the_scheduler_stepped_before_each_epoch():
    """``CosineAnnealingLR(T_max=4, eta_min=0.001)`` stepped at the start of each epoch (DARTS' and
    STACNAS' search scripts): epoch e trains at the rate of e + 1."""
    cosine = kd.schedules.CosineAnnealing(0.025, 4, steps_per_epoch=2, minimum=0.001, epoch_offset=1)
    for step in range(10):
        epoch = min(step // 2 + 1, 4)
        expected = 0.001 + 0.024 * 0.5 * (1 + np.cos(np.pi * epoch / 4))
        assert float(cosine(step)) == pytest.approx(expected, abs=1e-7)
    assert float(cosine(7)) == pytest.approx(0.001)


def test_schedules_serialize():
    for schedule in (kd.schedules.MultiStepDecay(0.1, [2, 5], 0.2, 3), kd.schedules.CosineAnnealing(0.1, 6, 3),
                     kd.schedules.CosineAnnealing(0.1, 6, 3, minimum=0.01, epoch_offset=1)):
        restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
        assert restored.get_config() == schedule.get_config()


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: kd.schedules.MultiStepDecay(0.1, [5, 2], 0.2, 3),
         "`milestones` must increase. Received: milestones=[5, 2]"),
        (lambda: kd.schedules.MultiStepDecay(0.1, 60, 0.2, 3),
         "`milestones` must be a list of epochs. Received: milestones=60"),
        (lambda: kd.schedules.MultiStepDecay(0.1, [60], 1.5, 3),
         "`factor` must be a number in (0, 1]. Received: factor=1.5"),
        (lambda: kd.schedules.CosineAnnealing(0.1, 0, 3), "`epochs` must be an int >= 1. Received: epochs=0"),
        (lambda: kd.schedules.CosineAnnealing(0.1, 10, 3, minimum=0.2),
         "`minimum` must be a number in [0, 0.1]. Received: minimum=0.2"),
        (lambda: kd.schedules.CosineAnnealing(0.1, 10, 2.5),
         "`steps_per_epoch` must be an int >= 1. Received: steps_per_epoch=2.5"),
    ],
)
def test_bad_schedule_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()
