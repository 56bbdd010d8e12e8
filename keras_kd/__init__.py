"""keras_kd: knowledge distillation of image classifiers for Keras 3."""

from keras_kd import config, data, files, layers, losses, models, nas, optimizers, recipes, references, schedules
from keras_kd.distillers import Distiller, InitStage, MultiTeacherDistiller, MutualDistiller, ResidualDistiller, ResidualEnsemble
from keras_kd.distillers import GKT, StimulativeTraining, StochasticDepth, SubnetSampler

__version__ = "0.1.0"


def __getattr__(name):
    """``keras_kd.tuning`` is imported on first use (keras-tuner stays optional)."""
    if name == "tuning":
        import importlib

        return importlib.import_module("keras_kd.tuning")
    raise AttributeError(f"module 'keras_kd' has no attribute {name!r}")
