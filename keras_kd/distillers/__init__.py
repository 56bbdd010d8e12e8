from keras_kd.distillers.distiller import Distiller
from keras_kd.distillers.mutual import MutualDistiller, mutual_losses
from keras_kd.distillers.reskd import (
    ResidualDistiller,
    ResidualEnsemble,
    dataset_energy,
    energy,
    train_reskd,
)
