"""Logits and named feature taps of a network from one forward pass.

Zoo models (``StagedNet``) give their stage outputs (and, when a term reads
them, the stem output and the pre-activation taps ``stage<i>_preact``) from the
same pass that gives the logits. For a functional Keras model, taps are layer names: one
multi-output functional model over the same layers computes logits and taps
together. Any other model offers logits only.
"""

import keras

from keras_kd.models.deploy import image_shape
from keras_kd.models.staged import StagedNet


def check_built_model(model, name):
    """Raises ValueError naming ``name`` unless ``model`` is a built keras.Model."""
    if not isinstance(model, keras.Model):
        raise ValueError(f"`{name}` must be a keras.Model. Received: {name}={model!r}")
    if not model.built:
        raise ValueError(
            f"`{name}` must be built (call it on a batch or build it with an input "
            f"shape). Received an unbuilt model: {name}={model.name!r}"
        )


def freeze(model):
    """Makes every weight of ``model`` non-trainable (``model.trainable = False``).

    Calls the ``trainable`` setter itself: on TensorFlow, Keras' attribute
    hook skips an assignment of the value the attribute already has, so a
    model loaded with ``trainable=False`` in its config kept all its
    sublayers' weights trainable (Keras 3.15), and a reloaded distiller
    trained its teacher and mismatched its optimizer state.
    """
    keras.layers.Layer.trainable.fset(model, False)
    return model


def check_networks_by_keyword(trainer, positional, **networks):
    """Raises TypeError unless a trainer's networks were passed by keyword.

    ``keras.distillation.Distiller(teacher, student)`` takes the opposite
    order to keras_kd's former ``Distiller(student, teacher)``: a swapped
    positional call would train the teacher and freeze the student without
    a word, so the networks are keyword-only; ``None`` means not given.
    """
    missing = [name for name, value in networks.items() if value is None]
    if positional or missing:
        names = ", ".join(f"{name}=..." for name in networks)
        received = [getattr(arg, "name", type(arg).__name__) for arg in positional]
        raise TypeError(
            f"{trainer} takes its networks by keyword: {trainer}({names}) (keras.distillation's "
            f"Distiller takes (teacher, student) in that order). Received {len(positional)} positional "
            f"argument(s) {received}" + (f" and no {', '.join(missing)}" if missing else "")
        )


def logits_shape(model):
    """Output shape of a built model's logits, batch dimension included."""
    if isinstance(model, StagedNet):
        return tuple(model.output_shape_)
    shape = image_shape(model)
    if shape is None:
        raise ValueError(
            f"The input shape of model '{model.name}' is unknown: build it first, with "
            "model.build((None, height, width, channels)) or by calling it on a batch. "
            f"Received: a {type(model).__name__} never built"
        )
    return tuple(model.compute_output_spec(keras.KerasTensor((None,) + shape)).shape)


class TapExtractor:
    """``extractor(x, training) -> (logits, {tap: tensor})`` for one model.

    Args:
        model: a built Keras model.
        tap_names: the taps needed (``None``: every tap the model offers).
    """

    def __init__(self, model, tap_names=None):
        check_built_model(model, "model")
        self.model = model
        self.logits_shape = logits_shape(model)
        self.extras = False  # whether calls compute the model's extra taps (``use``)
        if isinstance(model, StagedNet):
            self.tap_shapes = {**model.tap_shapes, **model.extra_tap_shapes}
            self._multi = None
        elif tap_names and hasattr(model, "inputs") and model.inputs:
            layers = {name: model.get_layer(name) for name in tap_names}
            self.tap_shapes = {name: tuple(layer.output.shape) for name, layer in layers.items()}
            self._multi = keras.Model(
                model.inputs,
                [model.outputs[0]] + [layer.output for layer in layers.values()],
            )
        else:
            self.tap_shapes = {}
            self._multi = None

    @property
    def shapes(self):
        return self.logits_shape, self.tap_shapes

    def use(self, tap_names):
        """Declares the taps the terms read, once they are connected: a zoo model computes its
        extra taps (stem, pre-activation) only when one is read."""
        self.extras = isinstance(self.model, StagedNet) and any(name in self.model.extra_tap_shapes for name in tap_names)

    def __call__(self, x, training):
        if isinstance(self.model, StagedNet):
            return self.model.call_with_features(x, training=training, extra_taps=self.extras)
        if self._multi is not None:
            outputs = self._multi(x, training=training)
            return outputs[0], dict(zip(self.tap_shapes, outputs[1:]))
        return self.model(x, training=training), {}

