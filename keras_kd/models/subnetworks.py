"""Parts of a model an initialization stage trains: its feature layers (RepDistiller's
``get_feat_modules``), or the layers up to a tap (FitNets' stage 1)."""

import keras

from keras_kd.models.staged import EMBEDDING, PREACT_SUFFIX, STEM, StagedNet


def classifier_layer(model):
    """The layer producing a model's logits: a zoo model's last head layer, a functional model's
    output layer."""
    if isinstance(model, StagedNet):
        return model.head[-1]
    outputs = getattr(model, "outputs", None)
    if outputs:
        return outputs[0]._keras_history.operation
    raise ValueError(
        "The student's classifier (the layer giving its logits) is found in zoo models and functional "
        f"models only. Received: a {type(model).__name__} ({model.name!r})")


def feature_variables(model):
    """RepDistiller's ``get_feat_modules``: a zoo model's stem and stages (its head, batch norm and
    classifier, left out), another model's trainable variables but its classifier's."""
    if isinstance(model, StagedNet):
        return [v for layer in list(model.stem) + list(model.blocks) for v in layer.trainable_weights]
    classifier = {id(v) for v in classifier_layer(model).weights}
    return [v for v in model.trainable_variables if id(v) not in classifier]


def variables_up_to(model, taps):
    """The trainable variables of the layers ``taps`` (tap names) depend on: on a zoo model the stem and
    the blocks of the stages up to the deepest tap (``"embedding"``: all but the classifier), on a
    functional model those of the sub-model from its inputs to the tapped layers."""
    if isinstance(model, StagedNet):
        if EMBEDDING in taps:
            classifier = {id(v) for v in model.head[-1].weights}
            return [v for v in model.trainable_variables if id(v) not in classifier]
        stages = [int(name.removesuffix(PREACT_SUFFIX)[len("stage"):]) for name in taps if name != STEM]
        blocks = model.blocks[:sum(model.stage_sizes[:max(stages, default=0)])]
        return [v for layer in list(model.stem) + blocks for v in layer.trainable_weights]
    outputs = [model.get_layer(name).output for name in taps]
    return keras.Model(model.inputs, outputs).trainable_weights
