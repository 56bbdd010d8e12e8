"""torch: ``keras_kd.layers.BatchNormalization``'s fused kernel.

One ``torch.native_batch_norm`` call on the channels-last NCHW view of the
NHWC activation (no copy) instead of Keras' ~6 elementwise ops, each a pass
over the activation and a node of the autograd graph. The moving statistics
follow Keras' rule (``moving = momentum * moving + (1 - momentum) * batch``,
biased batch variance), so a layer trains the same on every backend.
"""

from keras import ops


def can_fuse(layer, inputs, mask):
    """Whether ``layer`` (a Keras BatchNormalization) may run fused on ``inputs``:
    no mask, no renorm, the channels on the last axis of a rank >= 3 input."""
    rank = len(inputs.shape)
    return mask is None and not layer.renorm and rank >= 3 and layer.axis in (-1, rank - 1)


def fused_call(layer, inputs, training):
    """``layer(inputs, training)`` in one kernel; updates the moving statistics in training."""
    import torch

    x = ops.cast(inputs, "float32")
    channels_first = x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))
    gamma = ops.cast(layer.gamma, "float32") if layer.scale else None
    beta = ops.cast(layer.beta, "float32") if layer.center else None
    if training and layer.trainable:
        outputs, mean, inverse_std = torch.native_batch_norm(
            channels_first, gamma, beta, None, None, True, 0.0, layer.epsilon
        )
        with torch.no_grad():
            variance = inverse_std.pow(-2) - layer.epsilon
            _update_moving(layer.moving_mean, mean, layer.momentum)
            _update_moving(layer.moving_variance, variance, layer.momentum)
    else:
        outputs = torch.nn.functional.batch_norm(
            channels_first,
            ops.cast(layer.moving_mean, "float32"),
            ops.cast(layer.moving_variance, "float32"),
            gamma,
            beta,
            False,
            0.0,
            layer.epsilon,
        )
    outputs = outputs.permute(0, *range(2, x.ndim), 1)
    return ops.cast(outputs, layer.compute_dtype)


def _update_moving(variable, batch_value, momentum):
    value = ops.cast(variable, "float32")
    variable.assign(value * momentum + batch_value * (1.0 - momentum))
