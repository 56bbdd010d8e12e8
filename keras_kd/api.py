"""Registration helper shared by every public keras_kd class."""

import keras

PACKAGE = "keras_kd"


def register(cls):
    """Registers ``cls`` for Keras serialization under the ``keras_kd`` package."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)


def serialize(value):
    """Keras-serializes an object or a list of objects (nested models, terms)."""
    if isinstance(value, (list, tuple)):
        return [keras.saving.serialize_keras_object(item) for item in value]
    return keras.saving.serialize_keras_object(value)


def deserialize_fields(config, fields):
    """A copy of ``config`` with ``fields`` deserialized (lists item by item)."""
    config = dict(config)
    for field in fields:
        value = config[field]
        if isinstance(value, list):
            config[field] = [keras.saving.deserialize_keras_object(item) for item in value]
        else:
            config[field] = keras.saving.deserialize_keras_object(value)
    return config
