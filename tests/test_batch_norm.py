"""``keras_kd.layers.BatchNorm`` (fused on torch) against numpy and Keras' layer."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_kd.layers import BatchNormalization as BatchNorm

EPSILON, MOMENTUM = 1e-5, 0.9


def numpy(x):
    return ops.convert_to_numpy(x)


def built_pair(rng, channels):
    """A ``BatchNorm`` and a Keras ``BatchNormalization`` with the same random weights."""
    layers = [
        cls(momentum=MOMENTUM, epsilon=EPSILON) for cls in (BatchNorm, keras.layers.BatchNormalization)
    ]
    weights = [
        rng.standard_normal(channels).astype("float32"),  # gamma
        rng.standard_normal(channels).astype("float32"),  # beta
        rng.standard_normal(channels).astype("float32"),  # moving mean
        rng.uniform(0.5, 2.0, channels).astype("float32"),  # moving variance
    ]
    for layer in layers:
        layer.build((None, 5, 5, channels))
        layer.set_weights(weights)
    return layers, weights


def test_training_output_and_moving_statistics_equal_numpy(rng):
    scale = np.array([2.0, 1.0, 0.3, 0.1, 0.03, 0.01])  # variances down to 1e-4 ~ 10 epsilon
    x = (3.0 + scale * rng.standard_normal((4, 5, 5, 6))).astype("float32")
    (layer, _), (gamma, beta, moving_mean, moving_variance) = built_pair(rng, 6)
    y = numpy(layer(x, training=True))
    mean, variance = x.astype("float64").mean(axis=(0, 1, 2)), x.astype("float64").var(axis=(0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(variance + EPSILON) * gamma + beta, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(numpy(layer.moving_mean), MOMENTUM * moving_mean + (1 - MOMENTUM) * mean, rtol=1e-5)
    np.testing.assert_allclose(
        numpy(layer.moving_variance), MOMENTUM * moving_variance + (1 - MOMENTUM) * variance, rtol=1e-5
    )
    batch_variance = (numpy(layer.moving_variance) - MOMENTUM * moving_variance) / (1 - MOMENTUM)
    np.testing.assert_allclose(batch_variance, variance, rtol=1e-2, atol=2e-6)  # biased, no epsilon


def test_inference_uses_the_moving_statistics_and_updates_nothing(rng):
    x = rng.standard_normal((3, 4, 4, 5)).astype("float32")
    (layer, _), (gamma, beta, moving_mean, moving_variance) = built_pair(rng, 5)
    y = numpy(layer(x, training=False))
    expected = (x - moving_mean) / np.sqrt(moving_variance + EPSILON) * gamma + beta
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(numpy(layer.moving_mean), moving_mean)
    np.testing.assert_array_equal(numpy(layer.moving_variance), moving_variance)


def tiny_net(norm):
    return keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            keras.layers.Conv2D(4, 3, padding="same", use_bias=False),
            norm(momentum=MOMENTUM, epsilon=EPSILON),
            keras.layers.ReLU(),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )


def test_training_matches_keras_batch_normalization(rng):
    """Gradients through the batch statistics: two SGD steps give the same weights."""
    ours, reference = tiny_net(BatchNorm), tiny_net(keras.layers.BatchNormalization)
    reference.set_weights(ours.get_weights())
    x = rng.standard_normal((8, 6, 6, 3)).astype("float32")
    y = rng.integers(0, 3, 8)
    for net in (ours, reference):
        net.compile(keras.optimizers.SGD(0.5), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        for _ in range(2):
            net.train_on_batch(x, y)
    for mine, theirs in zip(ours.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(numpy(ours(x, training=False)), numpy(reference(x, training=False)), rtol=1e-4, atol=1e-5)


def test_half_precision_inputs_give_half_precision_outputs(rng):
    layer = BatchNorm(momentum=MOMENTUM, epsilon=EPSILON, dtype="mixed_float16")
    x = ops.cast(rng.standard_normal((2, 3, 3, 4)), "float16")
    for training in (True, False):
        y = layer(x, training=training)
        assert keras.backend.standardize_dtype(y.dtype) == "float16"
        assert np.isfinite(numpy(y).astype("float32")).all()


@pytest.mark.parametrize("axis", [1, -1])
def test_serialization_round_trip_keeps_the_layer(axis):
    layer = BatchNorm(axis=axis, momentum=MOMENTUM, epsilon=EPSILON)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, BatchNorm)
    assert restored.get_config() == layer.get_config()


def test_channels_first_axis_falls_back_to_keras(rng):
    """axis=1 is not the fused layout: Keras' own computation, same numbers."""
    x = rng.standard_normal((4, 3, 5, 5)).astype("float32")
    layer = BatchNorm(axis=1, momentum=MOMENTUM, epsilon=EPSILON)
    y = numpy(layer(x, training=True))
    mean, variance = x.mean(axis=(0, 2, 3), keepdims=True), x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(variance + EPSILON), rtol=1e-4, atol=1e-4)


def test_a_model_saved_with_keras_batch_normalization_loads(tmp_path, rng, monkeypatch):
    """Zoo models saved before keras_kd had its own layer load, same weights and outputs."""
    from keras_kd.layers import residual_block
    from keras_kd.models import cifar_resnet, resnet

    def keras_norm(name):
        return keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=EPSILON, name=name)

    with monkeypatch.context() as patch:
        patch.setattr(residual_block, "batch_norm", keras_norm)
        patch.setattr(resnet, "batch_norm", keras_norm)
        old = cifar_resnet(8, 10)
    assert not any(isinstance(layer, BatchNorm) for layer in old._flatten_layers())
    x = rng.standard_normal((2, 32, 32, 3)).astype("float32")
    old(x, training=True)  # moves the moving statistics away from their initial values
    path = str(tmp_path / "old.keras")
    old.save(path)
    loaded = keras.saving.load_model(path)
    assert any(isinstance(layer, BatchNorm) for layer in loaded._flatten_layers())
    for saved, restored in zip(old.weights, loaded.weights):
        np.testing.assert_array_equal(numpy(restored), numpy(saved))
    np.testing.assert_allclose(numpy(loaded(x)), numpy(old(x)), rtol=1e-5, atol=1e-6)
