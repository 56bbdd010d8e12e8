"""keras_kd.models.profile: parameter and FLOP counts and their conventions (the papers' tables of each model
family: tests/test_wide_resnet_tables.py, tests/test_zoo_tables.py)."""

import keras
import pytest

from keras_kd.models import cifar_resnet, profile, wide_resnet
from tests.helpers import li2021_mflops


def test_profile_counts_flops_of_convs_and_dense():
    model = wide_resnet(10, 1, 10, input_shape=(8, 8, 3))
    want = (
        8 * 8 * 9 * 3 * 16  # stem
        + 2 * 8 * 8 * 9 * 16 * 16  # stage 1
        + 4 * 4 * (9 * 16 * 32 + 9 * 32 * 32 + 16 * 32)  # stage 2 + shortcut
        + 2 * 2 * (9 * 32 * 64 + 9 * 64 * 64 + 32 * 64)  # stage 3 + shortcut
        + 64 * 10  # dense
    )
    assert profile(model)["flops"] == want
    assert profile(model)["trainable_params"] < profile(model)["params"]


def test_unbuilt_model_is_rejected_by_profile():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="needs a built model"):
        profile(model)


def test_li2021_mflops_are_not_the_multiply_adds():
    assert round(li2021_mflops((20, 14), 10, "macs")) == 67  # the table prints 68
    bn_outputs = 16 * 32 * 32 * 7 + 32 * 16 * 16 * 6 + 64 * 8 * 8 * 6  # ResNet-20: stem + 2 per block
    assert profile(cifar_resnet(20, 10), convention="li2021")["flops"] == (
        profile(cifar_resnet(20, 10))["flops"] + 2 * bn_outputs)


def test_profile_names_a_bad_convention():
    with pytest.raises(ValueError, match="`convention` must be one of .*Received: convention='thop'"):
        profile(cifar_resnet(8, 10), convention="thop")
