"""KerasTuner searches over distillation, optimizer and student-architecture knobs.

Needs the ``tuning`` extra (``pip install "keras-kd[tuning]"``: keras-tuner,
and tensorboard, which keras-tuner imports on the TensorFlow backend).
``import keras_kd`` does not import this package; ``keras_kd.tuning`` or
``from keras_kd import tuning`` does.
"""

try:
    import keras_tuner  # noqa: F401
except ImportError as error:
    raise ImportError(
        'keras_kd.tuning needs keras-tuner: pip install "keras-kd[tuning]"'
    ) from error

from keras_kd.tuning.hypermodels import HyperDistiller, HyperMutual, NetworkSource, StudentHyperModel
from keras_kd.tuning.reskd import HyperResStudent
from keras_kd.tuning.results import pareto_front, trial_records
from keras_kd.tuning.space import ArchitectureSpace, Range
