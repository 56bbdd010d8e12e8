"""``BatchNormalization``: Keras' layer, with torch's fused kernel on torch.

Keras 3 normalizes on torch with ~6 elementwise ops per call (moments as
mean(x) and mean(x^2), then subtract / multiply / rsqrt / add), each a pass
over the activation and a node of the autograd graph. On torch this layer
runs one ``torch.native_batch_norm`` call instead
(``keras_kd.backend.torch_batch_norm``), with Keras' rule for the moving
statistics, so a model trains, saves and loads the same on every backend;
TensorFlow and JAX run Keras' own code. The class
keeps Keras' name because ``.keras`` files locate weights by the snake-case
class name of each layer in a list: models saved with Keras' layer load
into this one and back.
"""

import keras

from keras_kd.api import register
from keras_kd.backend import torch_batch_norm


@register
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` over the last axis, fused on torch.

    Same arguments, weights and results; on torch (no mask, no renorm,
    channels last) one ``torch.native_batch_norm`` call per step.
    """

    def call(self, inputs, training=None, mask=None):
        if keras.backend.backend() != "torch" or not torch_batch_norm.can_fuse(self, inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        return torch_batch_norm.fused_call(self, inputs, training)

