"""Registration helper shared by every public keras_kd class."""

import keras

PACKAGE = "keras_kd"


def register(cls):
    """Registers ``cls`` for Keras serialization under the ``keras_kd`` package."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)
