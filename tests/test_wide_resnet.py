import keras
import numpy as np
import pytest
from keras import ops

import keras_kd
from keras_kd.models import ResidualNetwork, profile, wide_resnet
from tests.helpers import OTHER_BACKENDS, predictions_under

BLOCKS = ["S", "S-2x2", "G(4)", "G(N/4)", "B(2)", "BG(2,2)", "BG(2,M/4)"]


def tiny(block="S", residual=True, **kwargs):
    return wide_resnet(10, 2, 5, block=block, residual=residual, input_shape=(8, 8, 3), **kwargs)


def images(rng, n=2, size=8):
    return rng.standard_normal((n, size, size, 3)).astype("float32")


def test_one_pass_gives_logits_and_stage_taps(rng):
    model = wide_resnet(16, 2, 7, input_shape=(16, 16, 3))
    x = images(rng, size=16)
    logits, taps = model.call_with_features(x)
    assert list(taps) == ["stage1", "stage2", "stage3", "embedding"]
    assert [tuple(t.shape) for t in taps.values()] == [
        (2, 16, 16, 32), (2, 8, 8, 64), (2, 4, 4, 128), (2, 128)
    ]
    assert model.tap_shapes["embedding"] == (None, 128)
    pooled = ops.mean(model.get_layer("head_relu")(model.get_layer("head_bn")(taps["stage3"])), axis=(1, 2))
    np.testing.assert_allclose(ops.convert_to_numpy(taps["embedding"]), ops.convert_to_numpy(pooled), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(logits), ops.convert_to_numpy(model(x)), rtol=1e-6)
    assert [len(stage) for stage in model.stages] == [2, 2, 2]
    assert model.skippable == [False, True, False, True, False, True]


def test_width_one_first_block_keeps_identity_shortcut():
    model = wide_resnet(16, 1, 10)
    assert model.skippable == [True, True, False, True, False, True]


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("residual", [True, False])
def test_keras_round_trip_with_safe_mode(rng, tmp_path, block, residual):
    model = tiny(block, residual)
    x = images(rng)
    path = tmp_path / "wrn.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(restored, ResidualNetwork)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(
        ops.convert_to_numpy(restored(x)), ops.convert_to_numpy(model(x))
    )


def test_one_training_step_on_this_backend(rng):
    model = tiny("G(2)", dropout=0.3)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images(rng, 8), rng.integers(0, 5, 8), epochs=2, verbose=0)
    assert all(np.isfinite(history.history["loss"]))




@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_model_saved_here_predicts_identically_under_another_backend(rng, tmp_path, backend):
    model = tiny("G(N/4)")
    x = images(rng)
    model.save(tmp_path / "wrn.keras")
    theirs = predictions_under(backend, x, [tmp_path / "wrn.keras"], tmp_path)[str(tmp_path / "wrn.keras")]
    np.testing.assert_allclose(theirs, ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 18}, "depth=18"),
        ({"depth": 4}, "depth=4"),
        ({"depth": "16"}, "depth='16'"),
        ({"width": 0}, "width=0"),
        ({"num_classes": 0}, "num_classes=0"),
        ({"block": "G(3)"}, "groups=3"),
        ({"block": "Z(2)"}, "block='Z(2)'"),
        ({"block": "B(3)"}, "bottleneck=3"),
        ({"dropout": 1.5}, "dropout=1.5"),
        ({"skip_mode": "maybe"}, "skip_mode='maybe'"),
    ],
)
def test_bad_arguments_name_argument_and_value(kwargs, message):
    args = {"depth": 16, "width": 2, "num_classes": 10, "input_shape": (8, 8, 3)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        wide_resnet(**args)


def test_public_names():
    assert keras_kd.layers.GroupConv2D is keras_kd.layers.group_conv.GroupConv2D
    assert keras_kd.models.wide_resnet is wide_resnet
    assert keras_kd.models.profile is profile
