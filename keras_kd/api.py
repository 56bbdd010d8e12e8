"""Registration helper shared by every public keras_kd class."""

import keras

PACKAGE = "keras_kd"


def register(cls):
    """Registers ``cls`` for Keras serialization under the ``keras_kd`` package."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def _without_compile_state(serialized):
    """A nested network's config without its ``compile_config``: the trainer owns
    the optimizer, and a nested network compiled on load would get a fresh
    optimizer that refuses the saved one's slots ("Skipping variable loading
    for optimizer", issue 19)."""
    if isinstance(serialized, dict) and "compile_config" in serialized:
        serialized = {key: value for key, value in serialized.items() if key != "compile_config"}
    return serialized


def serialize(value):
    """Keras-serializes an object or a list of objects (nested models, terms)."""
    if isinstance(value, (list, tuple)):
        return [serialize(item) for item in value]
    return _without_compile_state(keras.saving.serialize_keras_object(value))


def deserialize_fields(config, fields):
    """A copy of ``config`` with ``fields`` deserialized (lists item by item); files
    saved before nested compile state was dropped load without it too."""
    def load(item):
        return keras.saving.deserialize_keras_object(_without_compile_state(item))

    config = dict(config)
    for field in fields:
        value = config[field]
        config[field] = [load(item) for item in value] if isinstance(value, list) else load(value)
    return config
