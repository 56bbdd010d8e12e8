from keras_kd.models.auxiliary import dcm_heads
from keras_kd.models.deploy import with_preprocessing
from keras_kd.models.densenet import DenseNet, densenet
from keras_kd.models.inception_v3 import InceptionV3, inception_v3
from keras_kd.models.mobilenet_v1 import MobileNetV1, mobilenet_v1
from keras_kd.models.mobilenet_v2 import MobileNetV2, mobilenet_v2, mobilenet_v2_half
from keras_kd.models.mobilenet_v3 import MobileNetV3, mobilenet_v3_large, mobilenet_v3_small
from keras_kd.models.probe import InferenceProbe
from keras_kd.models.profile import profile
from keras_kd.models.registry import get_model, list_models
from keras_kd.models.resnet import (
    ResidualNetwork, cifar_resnet, imagenet_resnet, preact_resnet, resnet18, wide_resnet,
)
from keras_kd.models.shufflenet import ShuffleNetV1, ShuffleNetV2, shufflenet_v1, shufflenet_v2, shufflenet_v2_li2021
from keras_kd.models.staged import StagedNet
from keras_kd.models.vgg import VGG, vgg, vgg_li2021
from keras_kd.models.xception import Xception, xception
