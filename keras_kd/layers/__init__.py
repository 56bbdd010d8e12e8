from keras_kd.layers.batch_norm import BatchNormalization
from keras_kd.layers.block_spec import BlockSpec, parse_block
from keras_kd.layers.dense_block import DenseLayer, Transition
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.layers.inception import InceptionModule
from keras_kd.layers.inverted_residual import InvertedResidualBlock
from keras_kd.layers.mobilenet_v3_block import MobileNetV3Block
from keras_kd.layers.plain_conv import PlainConvBlock
from keras_kd.layers.residual_block import SwitchableResidualBlock
from keras_kd.layers.separable_conv import SeparableConvBlock
from keras_kd.layers.shuffle_units import ShuffleV1Unit, ShuffleV2Unit, channel_shuffle
from keras_kd.layers.xception_block import XceptionBlock, XceptionSeparable
