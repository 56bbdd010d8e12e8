"""A model's classifier (the layer giving its logits) and the variables of the rest: what the
initialization stages train (RepDistiller's ``get_feat_modules``)."""

from keras_kd.models.staged import StagedNet


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
    """The trainable variables of a model but its classifier's (RepDistiller's ``get_feat_modules``)."""
    classifier = {id(v) for v in classifier_layer(model).weights}
    return [v for v in model.trainable_variables if id(v) not in classifier]
