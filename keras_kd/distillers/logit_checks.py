"""Every keras_kd trainer works on logits: refuse what would silently not be.

Two traps a Keras user falls into, both silent otherwise:

* a network ending in a softmax (``Dense(10, activation="softmax")``,
  ``keras.applications``' default ``classifier_activation="softmax"``): the
  KD term then treats probabilities as logits (kd_loss 0.028 instead of 0.99
  for the same teacher) and the student trains as if from labels alone;
* ``compile(loss="sparse_categorical_crossentropy")``: Keras resolves the
  name with ``from_logits=False`` and applies it to the student's logits
  (student_loss 4.94 instead of 2.25).
"""

import keras
import numpy as np

from keras_kd.distillers.taps import check_built_model
from keras_kd.models.deploy import image_shape
from keras_kd.models.staged import StagedNet

CROSS_ENTROPIES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
}
KERAS_IO_COMPILE_ARGS = ("student_loss_fn", "distillation_loss_fn", "alpha", "temperature")


def _probe_outputs(model):
    """The model's outputs on 4 seeded random inputs (None if its input shape is unknown)."""
    shape = image_shape(model)
    if not shape or None in shape:
        return None
    x = np.random.default_rng(0).standard_normal((4, *shape)).astype("float32")
    outputs = model(x, training=False)
    outputs = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
    return keras.ops.convert_to_numpy(outputs).astype("float64")


def check_outputs_logits(model, name):
    """Raises ValueError naming ``name`` if ``model`` outputs probabilities.

    Zoo models (``StagedNet``) output logits by construction; any other model
    is probed once: rows in [0, 1] that sum to 1 are a softmax's.
    """
    if isinstance(model, StagedNet):
        return
    outputs = _probe_outputs(model)
    if outputs is None or outputs.ndim != 2:
        return
    if outputs.min() >= 0 and outputs.max() <= 1 and np.allclose(outputs.sum(-1), 1.0, atol=1e-4):
        raise ValueError(
            f"`{name}` outputs probabilities (each row sums to 1), but distillation needs logits: "
            "the KD terms apply their own softmax. Rebuild it without the final softmax "
            "(keras.applications: `classifier_activation=None`; your own model: "
            "`Dense(classes)` with no activation). "
            f"Received: {name}={model.name!r}"
        )


def check_logits_model(model, name):
    """``check_built_model`` and ``check_outputs_logits``: what every trainer's networks must pass."""
    check_built_model(model, name)
    check_outputs_logits(model, name)


def logits_loss(loss):
    """``compile``'s ``loss`` for a student that outputs logits.

    Keras' cross-entropy names resolve with ``from_logits=True``; a
    cross-entropy instance built with ``from_logits=False`` raises.
    """
    if isinstance(loss, str) and loss in CROSS_ENTROPIES:
        return CROSS_ENTROPIES[loss](from_logits=True)
    if isinstance(loss, tuple(CROSS_ENTROPIES.values())) and not loss.get_config().get("from_logits"):
        raise ValueError(
            "The student outputs logits: build the cross-entropy with `from_logits=True`. "
            f"Received: loss={type(loss).__name__}(from_logits=False)"
        )
    return loss


def check_compile_arguments(kwargs):
    """Raises TypeError for ``keras.io``'s ``Distiller.compile`` arguments, with the mapping."""
    given = [name for name in KERAS_IO_COMPILE_ARGS if name in kwargs]
    if given:
        raise TypeError(
            f"keras_kd's Distiller takes the distillation settings in its constructor, not in "
            f"compile(). Received: compile({', '.join(f'{n}=...' for n in given)}). Use "
            "kd.Distiller(student=..., teacher=..., losses=[kd.losses.KD(temperature=T, alpha=A)]) "
            "and compile(optimizer, metrics=...): `alpha` there is the weight of the KD term "
            "(keras.io's `alpha` weighs the cross-entropy: use 1 - alpha), and a custom student "
            "loss goes to compile(loss=...)."
        )
