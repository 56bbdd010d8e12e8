"""keras_kd: knowledge distillation of image classifiers for Keras 3."""

from keras_kd import data, layers, losses, models
from keras_kd.distillers import Distiller, MutualDistiller, ResidualDistiller, ResidualEnsemble

__version__ = "0.1.0"
