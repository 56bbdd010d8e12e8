"""The supervised part of every distiller's loss, and sample weighting."""

import keras
from keras import ops


def supervised_loss(y, logits):
    """Per-example cross-entropy from logits; sparse or one-hot by label rank.

    Args:
        y: sparse labels (batch,) or (batch, 1), or one-hot labels (batch, classes).
        logits: the logits (batch, classes).
    """
    logits = ops.cast(logits, "float32")
    if len(y.shape) == len(logits.shape) and y.shape[-1] == logits.shape[-1] and y.shape[-1] != 1:
        return keras.losses.categorical_crossentropy(y, logits, from_logits=True)
    return keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)


def sparse_labels(y, logits):
    """Integer labels (batch,) from integer or one-hot ``y``."""
    if len(y.shape) == len(logits.shape) and y.shape[-1] == logits.shape[-1] and y.shape[-1] != 1:
        return ops.cast(ops.argmax(y, axis=-1), "int32")
    return ops.cast(ops.reshape(y, (-1,)), "int32")


def weighted_mean(per_example, sample_weight=None):
    """Batch mean of ``sample_weight * per_example`` (Keras' sum over batch size).

    Args:
        per_example: per-example losses (batch,).
        sample_weight: per-example weights, or ``None`` for equal ones.
    """
    per_example = ops.cast(per_example, "float32")
    if sample_weight is not None:
        per_example = per_example * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
    return ops.mean(per_example)


def regularization_loss(model):
    """Sum of ``model``'s regularization losses (0.0 when it has none)."""
    return ops.sum(ops.stack(model.losses)) if model.losses else 0.0
