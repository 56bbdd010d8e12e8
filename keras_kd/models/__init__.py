from keras_kd.models.profile import profile
from keras_kd.models.staged import StagedNet
from keras_kd.models.wide_resnet import WideResNet, wide_resnet
