"""``BatchNormalization``: Keras' layer, with torch's fused kernel on torch.

Keras 3 normalizes on torch with ~6 elementwise ops per call (moments as
mean(x) and mean(x^2), then subtract / multiply / rsqrt / add), each a pass
over the activation and a node of the autograd graph. On torch this layer
runs ``torch.native_batch_norm`` instead, on the channels-last NCHW view of
the NHWC activation (no copy): one pass forward, one backward. The moving
statistics follow Keras' rule (``moving = momentum * moving + (1 - momentum)
* batch``, biased batch variance), so a model trains, saves and loads the
same on every backend; TensorFlow and JAX run Keras' own code. The class
keeps Keras' name because ``.keras`` files locate weights by the snake-case
class name of each layer in a list: models saved with Keras' layer load
into this one and back.
"""

import keras
from keras import ops

from keras_kd.api import register


@register
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` over the last axis, fused on torch.

    Same arguments, weights and results; on torch (no mask, no renorm,
    channels last) one ``torch.native_batch_norm`` call per step.
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fused_on_torch(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import torch

        x = ops.cast(inputs, "float32")
        channels_first = x.permute(0, x.ndim - 1, *range(1, x.ndim - 1))
        gamma, beta = self._affine()
        if training and self.trainable:
            outputs, mean, inverse_std = torch.native_batch_norm(
                channels_first, gamma, beta, None, None, True, 0.0, self.epsilon
            )
            with torch.no_grad():
                variance = inverse_std.pow(-2) - self.epsilon
                self._update_moving(self.moving_mean, mean)
                self._update_moving(self.moving_variance, variance)
        else:
            outputs = torch.nn.functional.batch_norm(
                channels_first,
                ops.cast(self.moving_mean, "float32"),
                ops.cast(self.moving_variance, "float32"),
                gamma,
                beta,
                False,
                0.0,
                self.epsilon,
            )
        outputs = outputs.permute(0, *range(2, x.ndim), 1)
        return ops.cast(outputs, self.compute_dtype)

    def _fused_on_torch(self, inputs, mask):
        rank = len(inputs.shape)
        return (
            keras.backend.backend() == "torch"
            and mask is None
            and not self.renorm
            and rank >= 3
            and self.axis in (-1, rank - 1)
        )

    def _affine(self):
        gamma = ops.cast(self.gamma, "float32") if self.scale else None
        beta = ops.cast(self.beta, "float32") if self.center else None
        return gamma, beta

    def _update_moving(self, variable, batch_value):
        value = ops.cast(variable, "float32")
        variable.assign(value * self.momentum + batch_value * (1.0 - self.momentum))
