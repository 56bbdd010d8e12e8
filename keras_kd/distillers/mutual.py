"""Mutual learning: N peers trained together, each teaching the others.

Deep mutual learning (DML; Zhang et al., CVPR 2018): peer k minimizes

    CE(y, p_k) + kl_weight * sum_{j != k} T^2 * KL(p_j || p_k)

with p = softmax(logits / T) and every target p_j detached (KD_Lib's DML
leaks gradients here). The DML code sums the peer terms; ``reduction=
"mean"`` averages them. The T^2 factor keeps gradient scale at T != 1 (DML
uses T = 1, where it is 1). Because targets are detached, the gradient of
the summed loss w.r.t. peer k is that of peer k's own loss: one optimizer
over all peers equals one optimizer per peer with equal settings (tested).

Dense cross-layer mutual distillation (DCM; yao2020) adds auxiliary
classifiers C2, C3 to every peer (``keras_kd.models.auxiliary``): CE on every
classifier, and the KL above between every classifier of a peer and every
classifier of every other peer, both directions, targets detached.
"""

import keras
from keras import ops

from keras_kd.api import deserialize_fields, register, serialize
from keras_kd.distillers.fit_checks import FitChecks
from keras_kd.distillers.taps import check_built_model, logits_shape
from keras_kd.losses.kd import check_temperature, kd_divergence
from keras_kd.losses.supervised import (
    regularization_loss,
    sparse_labels,
    supervised_loss,
    weighted_mean,
)
from keras_kd.models.auxiliary import dcm_heads

REDUCTIONS = ("sum", "mean")


def mutual_losses(peer_logits, y, temperature=1.0, reduction="sum", kl_weight=1.0):
    """Per-peer ``(cross-entropy, peer KL)`` per example, each shape (batch,).

    Args:
        peer_logits: one entry per peer: its (batch, classes) logits, or the
            list of logits of all its classifiers (DCM: C1, C2, C3).
        y: integer or one-hot labels.
        temperature, reduction, kl_weight: see ``MutualDistiller``.

    Peer k's KL sums, over each of its classifiers, the KL toward every
    classifier of every other peer (``"mean"``: averaged over those).
    """
    classifiers = [list(p) if isinstance(p, (list, tuple)) else [p] for p in peer_logits]
    losses = []
    for k, own in enumerate(classifiers):
        targets = [z for j, other in enumerate(classifiers) if j != k for z in other]
        scale = kl_weight / len(targets) if reduction == "mean" else kl_weight
        ce = sum(supervised_loss(y, logits) for logits in own)
        kl = sum(kd_divergence(t, logits, temperature) for logits in own for t in targets)
        losses.append((ce, scale * kl))
    return losses


@register
class MutualDistiller(FitChecks, keras.Model):
    """Trains ``peers`` together: DML, or DCM with ``auxiliary=True``.

    Args:
        peers: two or more built Keras models with the same number of classes
            (same or different architectures), trained from scratch.
        auxiliary: add DCM's auxiliary classifiers C2, C3 to every peer
            (3-stage WRNs / CIFAR ResNets) and distil densely across them;
            they are dropped at inference (``peers[k]`` stays plain).
        temperature: softmax temperature T of the peer terms (DML: 1).
        kl_weight: weight of the peer terms.
        reduction: ``"sum"`` over the other peers (DML code) or ``"mean"``.

    ``call`` returns the list of peer logits; ``predict`` too. Logs per peer
    ``peer<k>_ce``, ``peer<k>_kl`` and ``peer<k>_accuracy``; metrics given to
    ``compile`` are computed on the first peer. ``distiller.peers[k]`` is a
    plain network to save or deploy.

    Example:

    >>> mutual = MutualDistiller([kd.models.wide_resnet(16, 2, 10),
    ...                           kd.models.cifar_resnet(20, 10)])
    >>> mutual.compile(keras.optimizers.SGD(0.1, momentum=0.9))
    >>> mutual.fit(train_ds, epochs=200)  # doctest: +SKIP
    """

    input_network_attribute = "peers"

    def __init__(self, peers, temperature=1.0, kl_weight=1.0, reduction="sum", auxiliary=False, **kwargs):
        kwargs.setdefault("name", "mutual_distiller")
        super().__init__(**kwargs)
        peers = list(peers) if isinstance(peers, (list, tuple)) else peers
        if not isinstance(peers, list) or len(peers) < 2:
            raise ValueError(f"`peers` must be a list of two or more models. Received: peers={peers!r}")
        for index, peer in enumerate(peers):
            check_built_model(peer, f"peers[{index}]")
        if len({id(peer) for peer in peers}) != len(peers):
            raise ValueError("`peers` must be distinct models. Received the same model twice.")
        classes = [logits_shape(peer)[-1] for peer in peers]
        if len(set(classes)) != 1:
            raise ValueError(f"Peers must predict the same classes. Received class counts {classes}")
        check_temperature(temperature)
        if reduction not in REDUCTIONS:
            raise ValueError(f"`reduction` must be one of {REDUCTIONS}. Received: reduction={reduction!r}")
        if isinstance(kl_weight, bool) or not isinstance(kl_weight, (int, float)) or kl_weight < 0:
            raise ValueError(f"`kl_weight` must be a non-negative number. Received: kl_weight={kl_weight!r}")
        self.peers = peers
        self.temperature, self.kl_weight, self.reduction = temperature, kl_weight, reduction
        self.auxiliary = auxiliary
        heads = [dcm_heads(peer, f"peer{k}") if auxiliary else {} for k, peer in enumerate(peers)]
        self.head_taps = [list(h) for h in heads]
        self.aux_classifiers = [head for h in heads for head in h.values()]
        self.trackers = [
            (keras.metrics.Mean(name=f"peer{k}_ce"), keras.metrics.Mean(name=f"peer{k}_kl"))
            for k in range(len(peers))
        ]
        self.accuracies = [keras.metrics.Mean(name=f"peer{k}_accuracy") for k in range(len(peers))]
        self.built = True  # every sub-model is built

    def call(self, inputs, training=None):
        """Main logits of every peer; while training DCM, of every classifier."""
        if not (training and self.auxiliary):
            return [peer(inputs, training=training) for peer in self.peers]
        outputs, heads = [], iter(self.aux_classifiers)
        for peer, head_taps in zip(self.peers, self.head_taps):
            logits, taps = peer.call_with_features(inputs, training=True)
            outputs.append([logits] + [next(heads)(taps[tap], training=True) for tap in head_taps])
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = 0.0
        parts = mutual_losses(y_pred, y, self.temperature, self.reduction, self.kl_weight)
        for peer, (ce, kl), (ce_tracker, kl_tracker) in zip(self.peers, parts, self.trackers):
            ce, kl = weighted_mean(ce, sample_weight), weighted_mean(kl, sample_weight)
            ce_tracker.update_state(ce)
            kl_tracker.update_state(kl)
            total = total + ce + kl + regularization_loss(peer)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y_pred = [z[0] if isinstance(z, (list, tuple)) else z for z in y_pred]
        for logits, tracker in zip(y_pred, self.accuracies):
            predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
            hits = ops.cast(ops.equal(predicted, sparse_labels(y, logits)), "float32")
            tracker.update_state(hits, sample_weight=sample_weight)
        return super().compute_metrics(x, y, y_pred[0], sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "peers": serialize(self.peers),
                "temperature": self.temperature,
                "kl_weight": self.kl_weight,
                "reduction": self.reduction,
                "auxiliary": self.auxiliary,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_fields(config, ("peers",)))
