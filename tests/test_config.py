"""Runtime settings (keras_kd.config): they steer the computation and never enter a file."""

import json

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.layers import GroupConv2D, skip


def test_settings_default_to_auto_and_the_context_restores_them():
    assert (kd.config.skip_mode(), kd.config.group_conv_implementation()) == ("auto", "auto")
    with kd.config.settings(skip_mode="mask", group_conv_implementation="dense"):
        assert (kd.config.skip_mode(), kd.config.group_conv_implementation()) == ("mask", "dense")
        assert skip.resolve_mode() == "mask"
    assert (kd.config.skip_mode(), kd.config.group_conv_implementation()) == ("auto", "auto")
    kd.config.set_skip_mode("cond")
    try:
        assert skip.resolve_mode() == "cond" and skip.resolve_mode("mask") == "mask"
    finally:
        kd.config.set_skip_mode("auto")


@pytest.mark.parametrize("call, message", [
    (lambda: kd.config.set_skip_mode("maybe"), "skip_mode='maybe'"),
    (lambda: kd.config.set_group_conv_implementation("fast"), "group_conv_implementation='fast'"),
    (lambda: kd.config.settings(skip="mask").__enter__(), "skip='mask'"),
    (lambda: kd.config.settings(skip_mode=1).__enter__(), "skip_mode=1"),
])
def test_bad_settings_are_named(call, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        call()
    assert kd.config.skip_mode() == "auto"


def test_a_group_conv_built_under_a_setting_uses_it_with_the_same_numbers(rng):
    x = rng.standard_normal((2, 6, 6, 8)).astype("float32")
    default = GroupConv2D(8, 3, groups=4)
    default.build(x.shape)
    with kd.config.settings(group_conv_implementation="dense"):
        dense = GroupConv2D(8, 3, groups=4)
        dense.build(x.shape)
    explicit = GroupConv2D(8, 3, groups=4, implementation="split")
    explicit.build(x.shape)
    assert dense._conv.__name__ == "_conv_dense" and explicit._conv.__name__ == "_conv_split"
    dense.set_weights(default.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(dense(x)), keras.ops.convert_to_numpy(default(x)),
                               rtol=1e-5, atol=1e-5)


def serialized_keys(value):
    """Every key of a nested serialized config."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in serialized_keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in serialized_keys(item)}
    return set()


def test_files_carry_no_runtime_choice_and_old_configs_with_them_load(rng):
    model = kd.models.get_model("wrn-10-2", 5, block="G(2)", input_shape=(8, 8, 3), skip_mode="mask")
    assert model.skip_mode == "mask" and model.blocks[0].skip_mode == "mask"
    config = keras.saving.serialize_keras_object(model)
    assert not {"skip_mode", "implementation"} & serialized_keys(config)
    old = json.loads(json.dumps(config))  # as a file before runtime settings wrote it
    old["config"]["skip_mode"] = "auto"
    for layer_config in old["config"].get("layers", []):
        layer_config.setdefault("config", {})["skip_mode"] = "auto"
    restored = keras.saving.deserialize_keras_object(old)
    restored.set_weights(model.get_weights())
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)),
                               rtol=1e-5, atol=1e-5)
    conv = keras.saving.deserialize_keras_object(
        {**keras.saving.serialize_keras_object(GroupConv2D(8, 3, groups=2)),
         "config": {**GroupConv2D(8, 3, groups=2).get_config(), "implementation": "split"}})
    assert conv.implementation == "split"
