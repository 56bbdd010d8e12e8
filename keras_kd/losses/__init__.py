from keras_kd.losses.attention import (
    attention_map,
    attention_transfer_loss,
    attention_transfer_per_example,
)
from keras_kd.losses.supervised import supervised_loss, weighted_mean
from keras_kd.losses.kd import (
    kd_divergence,
    kd_loss,
    kl_divergence,
    kl_from_probabilities,
    logit_l2,
    moonshine_kd_divergence,
    softmax_l2,
)
from keras_kd.losses.terms import (
    KD,
    KL,
    AttentionTransfer,
    DistillationTerm,
    FeatureHint,
    LogitL2,
    SoftmaxL2,
)
