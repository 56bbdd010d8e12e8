"""From a user's raw images to correct predictions: the normalization travels with the model.

``keras_kd.data.load`` feeds training with images scaled to [0, 1] and
normalized per channel by the training split's statistics
(``keras_kd.data.statistics``). A trained network therefore expects those
inputs; ``with_preprocessing`` returns it with the same scaling and
normalization as its first layers, so the saved deployable model takes
raw 0-255 images (uint8 or float) on every backend.

Example:

>>> mean, std = kd.data.statistics("path/to/cifar10-jpg.tar.gz")  # doctest: +SKIP
>>> deployable = kd.models.with_preprocessing(distiller.student, mean, std)  # doctest: +SKIP
>>> deployable.predict(raw_uint8_images)  # doctest: +SKIP
>>> deployable.save("student_raw.keras")  # doctest: +SKIP
"""

import keras
import numpy as np

from keras_kd.models.staged import StagedNet


def image_shape(model):
    """``(height, width, channels)`` a built model takes, or None if unknown."""
    if isinstance(model, StagedNet):
        return tuple(model.input_shape_arg)
    try:
        return tuple(model.input_shape[1:])
    except (AttributeError, ValueError):  # a subclassed model: the shape it was built with
        built = model.get_build_config() if hasattr(model, "get_build_config") else None
        shape = (built or {}).get("input_shape")
        return None if shape is None else tuple(shape[1:])


def shapes_agree(shape, expected):
    """Whether two shapes have the same rank and agree wherever both sizes are known."""
    return len(shape) == len(expected) and all(a is None or b is None or a == b for a, b in zip(shape, expected))


def takes_raw_images(model):
    """Whether ``model`` begins with ``with_preprocessing``'s ``x / 255``."""
    first = next((layer for layer in getattr(model, "layers", []) if not isinstance(layer, keras.layers.InputLayer)),
                 None)
    return isinstance(first, keras.layers.Rescaling) and np.isclose(float(first.scale), 1.0 / 255.0)


def with_preprocessing(model, mean, std, name=None):
    """``model`` behind ``x / 255`` and ``(x - mean) / std``: a functional model
    taking raw 0-255 images of ``model``'s input shape (any numeric dtype).

    Args:
        model: a built network trained on ``keras_kd.data.load`` batches.
        mean: per-channel means in [0, 1] units, as returned by
            ``keras_kd.data.statistics`` (the training split's).
        std: per-channel standard deviations, likewise.
        name: the new model's name (default ``<model name>_raw``).
    """
    shape = image_shape(model)
    if shape is None or None in shape:
        raise ValueError(
            f"`model` needs a known input shape to take raw images. Received: model={model.name!r}"
        )
    mean, std = np.asarray(mean, "float32").reshape(-1), np.asarray(std, "float32").reshape(-1)
    if mean.shape != (shape[-1],) or std.shape != (shape[-1],) or not np.all(std > 0):
        raise ValueError(
            f"`mean` and `std` must hold {shape[-1]} values (one per channel, std > 0). "
            f"Received: mean={mean.tolist()}, std={std.tolist()}"
        )
    inputs = keras.Input(shape)
    scaled = keras.layers.Rescaling(1.0 / 255.0)(inputs)
    normalized = keras.layers.Normalization(mean=mean, variance=np.square(std))(scaled)
    return keras.Model(inputs, model(normalized), name=name or f"{model.name}_raw")
