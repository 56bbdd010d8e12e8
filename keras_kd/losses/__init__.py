"""Distillation losses: functions on logits / feature maps, and the terms a
``Distiller`` adds (``get(name)``, ``names()``; one file per method)."""

from keras_kd.losses.ab import AB, activation_boundary_loss
from keras_kd.losses.attention import (
    AttentionTransfer,
    attention_map,
    attention_transfer_loss,
    attention_transfer_per_example,
)
from keras_kd.losses.cc import CC, cc_loss
from keras_kd.losses.crd import CRD, contrast_scores, moved_rows, nce_loss
from keras_kd.losses.ctkd import CTKD, cosine_lambda, scale_gradient
from keras_kd.losses.dist import DIST, dist_loss, dist_relations
from keras_kd.losses.dkd import DKD, decoupled_kd, dkd_loss
from keras_kd.losses.feature_term import FeatureTerm
from keras_kd.losses.fsp import FSP, fsp_loss, fsp_matrix, fsp_per_example
from keras_kd.losses.ft import FT, factor_map, factor_transfer_per_example
from keras_kd.losses.hints import FeatureHint
from keras_kd.losses.kd import (
    KD,
    KL,
    kd_divergence,
    kd_loss,
    kl_divergence,
    kl_from_probabilities,
    moonshine_kd_divergence,
)
from keras_kd.losses.logit_l2 import LogitL2, logit_l2
from keras_kd.losses.nst import NST, nst_loss, nst_per_example
from keras_kd.losses.ofd import OFD, ofd_margin, ofd_margins, partial_l2
from keras_kd.losses.pkt import PKT, pkt_loss
from keras_kd.losses.registry import get, names
from keras_kd.losses.reviewkd import ReviewKD, hcl_loss, hcl_per_example
from keras_kd.losses.rkd import RKD, rkd_angle_loss, rkd_distance_loss, rkd_loss
from keras_kd.losses.softmax_l2 import SoftmaxL2, softmax_l2
from keras_kd.losses.sp import SP, sp_loss
from keras_kd.losses.standardized_kd import StandardizedKD, standardized_kd_divergence, standardized_kd_loss
from keras_kd.losses.supervised import supervised_loss, weighted_mean
from keras_kd.losses.term import DistillationTerm, Step
from keras_kd.losses.vid import VID, vid_nll
