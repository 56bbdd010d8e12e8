"""keras_kd: knowledge distillation of image classifiers for Keras 3."""

from keras_kd import layers, models

__version__ = "0.1.0"
