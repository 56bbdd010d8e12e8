"""liu2019's drop-path schedule: the rate grows linearly from 0 to the cells' ``drop_path`` over training
(the reference code sets ``drop_path_prob * epoch / epochs`` before each epoch)."""

import keras

from keras_kd.nas.cells import Cell
from keras_kd.validation import check_int


def cells_with_drop_path(model):
    """Every ``kd.nas.Cell`` with a drop path in ``model`` (a network, or a trainer holding networks)."""
    return [layer for layer in model._flatten_layers(include_self=True, recursive=True)
            if isinstance(layer, Cell) and layer.drop_path]


class DropPathSchedule(keras.callbacks.Callback):
    """Sets each cell's drop-path rate to ``drop_path * epoch / epochs`` before every epoch.

    Args:
        epochs: the length of training (the rate reaches ``drop_path * (epochs - 1) / epochs``).
    """

    def __init__(self, epochs):
        super().__init__()
        self.epochs = check_int(epochs, "epochs")

    def on_epoch_begin(self, epoch, logs=None):
        for cell in cells_with_drop_path(self.model):
            cell.drop_rate.assign(cell.drop_path * epoch / self.epochs)
