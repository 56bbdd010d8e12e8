"""The convolutional regressor RepDistiller puts between a student's and a teacher's feature maps
(its ``models/util.py`` ``ConvReg``; AB's connectors are ConvRegs without the ReLU).

From a student map of height ``H_s`` to a teacher map of ``H_t`` and ``C_t`` channels, a conv
(with bias) then batch norm: a 3x3 conv, stride 2, zero padding 1 where ``H_s = 2 H_t``; a 4x4
transposed conv, stride 2, cropping 1 per side (torch's ``padding=1``) where ``2 H_s = H_t``; a
valid ``(1 + H_s - H_t) x (1 + W_s - W_t)`` conv where ``H_s >= H_t`` (1x1 at equal sizes). Other
sizes are refused, as there.
"""

from keras import layers

from keras_kd.layers.chain import build_chain
from keras_kd.layers.residual_block import batch_norm


class Crop(layers.Layer):
    """Drops ``amount`` pixels from each side of the height and width (torch's transposed-conv padding)."""

    def __init__(self, amount, **kwargs):
        super().__init__(**kwargs)
        self.amount = amount

    def call(self, x):
        return x[:, self.amount:-self.amount, self.amount:-self.amount, :]

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (batch, height - 2 * self.amount, width - 2 * self.amount, channels)


def conv_regressor(student_shape, teacher_shape, name, relu=True):
    """The built layers of a ConvReg from ``student_shape`` to ``teacher_shape`` (both NHWC), applied
    in order (``run_chain``); ``relu``: end with a ReLU, as FitNets' ConvReg (AB's has none)."""
    (_, s_height, s_width, _), (_, t_height, t_width, t_channels) = student_shape, teacher_shape
    if s_height == 2 * t_height:
        convs = [layers.ZeroPadding2D(1, name=f"{name}_pad"),
                 layers.Conv2D(t_channels, 3, strides=2, name=f"{name}_conv")]
    elif 2 * s_height == t_height:
        convs = [layers.Conv2DTranspose(t_channels, 4, strides=2, name=f"{name}_conv"), Crop(1, name=f"{name}_crop")]
    elif s_height >= t_height and s_width >= t_width:
        convs = [layers.Conv2D(t_channels, (1 + s_height - t_height, 1 + s_width - t_width), name=f"{name}_conv")]
    else:
        raise ValueError(
            f"A conv regressor maps a student map to a teacher map of twice, half, or at most its size: student "
            f"{tuple(student_shape)}, teacher {tuple(teacher_shape)}. Received: these tap shapes")
    chain = convs + [batch_norm(f"{name}_bn")]
    chain += [layers.ReLU(name=f"{name}_relu")] if relu else []
    build_chain(chain, student_shape)
    return chain


def chain_weights(chains):
    """The trainable weights of the layers of several chains."""
    return [weight for chain in chains for layer in chain for weight in layer.trainable_weights]

