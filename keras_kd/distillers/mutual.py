"""Mutual learning: N peers trained together, each teaching the others.

Deep mutual learning (DML; Zhang et al., CVPR 2018, zhang2018): peer k minimizes

    CE(y, p_k) + kl_weight * sum_{j != k} T^2 * KL(p_j || p_k)

with p = softmax(logits / T) and every target p_j detached (KD_Lib's DML
leaks gradients here). The DML code sums the peer terms; ``reduction=
"mean"`` averages them. The T^2 factor keeps gradient scale at T != 1 (DML
uses T = 1, where it is 1). DML's Algorithm 1 updates the peers in turn on
each mini-batch, recomputing an updated peer's predictions before the next
peer's step (``update="sequential"``, DML's default); DCM's code takes one
step on the summed loss (``update="simultaneous"``, DCM's default). What one
shared optimizer equals in each mode: see ``MutualDistiller``.

Dense cross-layer mutual distillation (DCM; yao2020) adds auxiliary
classifiers C2, C3 to every peer (``keras_kd.models.auxiliary``): CE on every
classifier, and the KL above between every classifier of a peer and every
classifier of every other peer, both directions, targets detached.
"""

import keras
from keras import ops

from keras_kd.api import register
from keras_kd.distillers.base import Trainer
from keras_kd.backend.peer_steps import apply_gradients, value_and_grad, without_state_updates
from keras_kd.backend.replica_state import replica_share
from keras_kd.distillers.taps import logits_shape
from keras_kd.losses.kd import check_temperature, kd_divergence
from keras_kd.losses.supervised import sparse_labels, supervised_loss, weighted_mean
from keras_kd.models.auxiliary import dcm_heads
from keras_kd.validation import check_choice, check_non_negative

REDUCTIONS = ("sum", "mean")
UPDATES = ("sequential", "simultaneous")


def mutual_losses(peer_logits, y, temperature=1.0, reduction="sum", kl_weight=1.0):
    """Per-peer ``(cross-entropy, peer KL)`` per example, each shape (batch,).

    Args:
        peer_logits: one entry per peer: its (batch, classes) logits, or the
            list of logits of all its classifiers (DCM: C1, C2, C3).
        y: integer or one-hot labels.
        temperature: see ``MutualDistiller``.
        reduction: see ``MutualDistiller``.
        kl_weight: see ``MutualDistiller``.

    Peer k's KL sums, over each of its classifiers, the KL toward every
    classifier of every other peer (``"mean"``: averaged over those).
    """
    return [
        peer_losses(k, peer_logits, y, temperature, reduction, kl_weight) for k in range(len(peer_logits))
    ]


def peer_losses(k, peer_logits, y, temperature=1.0, reduction="sum", kl_weight=1.0):
    """Peer ``k``'s ``(cross-entropy, peer KL)`` of ``mutual_losses``; the other
    entries of ``peer_logits`` are only targets."""
    classifiers = [list(p) if isinstance(p, (list, tuple)) else [p] for p in peer_logits]
    own = classifiers[k]
    targets = [z for j, other in enumerate(classifiers) if j != k for z in other]
    scale = kl_weight / len(targets) if reduction == "mean" else kl_weight
    ce = sum(supervised_loss(y, logits) for logits in own)
    kl = sum(kd_divergence(t, logits, temperature) for logits in own for t in targets)
    return ce, scale * kl


@register
class MutualDistiller(Trainer):
    """Trains ``peers`` together: DML (zhang2018), or DCM (yao2020) with ``auxiliary=True``.

    Args:
        peers: two or more built Keras models with the same number of classes
            (same or different architectures), trained from scratch.
        auxiliary: add DCM's auxiliary classifiers C2, C3 to every peer
            (the backbones of ``keras_kd.models.dcm_heads``) and distil densely across them;
            they are dropped at inference (``peers[k]`` stays plain).
        temperature: softmax temperature T of the peer terms (DML: 1).
        kl_weight: weight of the peer terms.
        reduction: ``"sum"`` over the other peers (DML code) or ``"mean"``.
        update: the order of the peers' optimizer steps on a batch.
            ``"sequential"`` is DML's Algorithm 1: between the updates of
            Theta_1 and Theta_2 it says "Update the predictions p1 and p2 of
            the current mini-batch". Peer k steps against the predictions of
            peers 0..k-1 recomputed with their new weights and the current
            predictions of the others; each peer's step is a separate
            gradient. ``"simultaneous"``: one step on the summed loss, every
            peer against the others' predictions before the step (DCM's
            code; yao2020's supplementary names no order, only "jointly
            training two CNNs from scratch", §1.1). ``None`` (default): the
            paper's, ``"sequential"`` for DML and ``"simultaneous"`` with
            ``auxiliary=True``.

    Optimizer: the compiled optimizer serves every peer. ``"simultaneous"``
    applies it once to all peers' variables; since every target is
    detached, the gradient w.r.t. peer k is that of peer k's own loss, so
    this equals one optimizer per peer with equal settings, except settings
    that couple variables (``global_clipnorm`` clips the norm over all
    peers). ``"sequential"`` applies it to each peer's variables in turn;
    its iteration count (learning-rate schedule, Adam's bias correction)
    advances once per batch and its slots (momentum) are per variable, so it
    equals one optimizer per peer with equal settings (the DML code has one
    Adam per network), ``global_clipnorm`` included (per peer). It rejects
    optimizers with ``use_ema`` or ``gradient_accumulation_steps``, and on
    JAX a ``LossScaleOptimizer`` (``mixed_float16``).

    In ``"sequential"`` each peer's batch-norm statistics move once per
    batch, in its own step; the forwards that recompute its predictions as
    targets use batch statistics and leave the statistics (and dropout
    seeds) as they are, as in the DML code, whose update ops run with each
    network's own train op. That code runs each network's train op in its
    own ``session.run``, which dequeues a new batch per network; Algorithm 1
    samples one mini-batch per iteration, which this follows. With K peers a
    sequential step runs 3K - 2 peer forwards (K with gradient, K
    backwards), a simultaneous one K.

    ``call`` returns the list of peer logits; ``predict`` too. Logs per peer
    ``peer<k>_ce``, ``peer<k>_kl`` (those of peer k's own step) and
    ``peer<k>_accuracy`` (training-mode predictions before the peer's
    update); ``loss`` is the sum of the peers' losses; metrics given to
    ``compile`` are computed on the first peer. ``distiller.peers[k]`` is a
    plain network to save or deploy.

    Example:

    >>> mutual = MutualDistiller([kd.models.wide_resnet(16, 2, 10),
    ...                           kd.models.cifar_resnet(20, 10)])
    >>> mutual.compile(keras.optimizers.SGD(0.1, momentum=0.9))
    >>> mutual.fit(train_ds, epochs=200)  # doctest: +SKIP
    """

    networks = {"peers": "trained"}
    parts_in_evaluation = True  # evaluate logs each peer's CE and KL on the validation data

    def __init__(
        self, peers, temperature=1.0, kl_weight=1.0, reduction="sum", auxiliary=False, update=None, **kwargs
    ):
        kwargs.setdefault("name", "mutual_distiller")
        super().__init__(**kwargs)
        peers = list(peers) if isinstance(peers, (list, tuple)) else peers
        if not isinstance(peers, list) or len(peers) < 2:
            raise ValueError(f"`peers` must be a list of two or more models. Received: peers={peers!r}")
        if len({id(peer) for peer in peers}) != len(peers):
            raise ValueError("`peers` must be distinct models. Received the same model twice.")
        self.declare_networks(peers=peers)
        classes = [logits_shape(peer)[-1] for peer in peers]
        if len(set(classes)) != 1:
            raise ValueError(f"Peers must predict the same classes. Received class counts {classes}")
        temperature = check_temperature(temperature)
        check_choice(reduction, "reduction", REDUCTIONS)
        kl_weight = check_non_negative(kl_weight, "kl_weight")
        check_choice(update, "update", UPDATES, allow_none=True)
        self.temperature, self.kl_weight, self.reduction = temperature, kl_weight, reduction
        self.auxiliary = auxiliary
        self.update = update or ("simultaneous" if auxiliary else "sequential")
        heads = [dcm_heads(peer, f"peer{k}") if auxiliary else {} for k, peer in enumerate(peers)]
        self.head_taps = [list(h) for h in heads]
        self.aux_classifiers = [head for h in heads for head in h.values()]
        self.track_parts([f"peer{k}_{part}" for k in range(len(peers)) for part in ("ce", "kl")])
        self.accuracies = [keras.metrics.Mean(name=f"peer{k}_accuracy") for k in range(len(peers))]
        self.built = True  # every sub-model is built

    def peer_heads(self, k):
        """Peer ``k``'s auxiliary classifiers (DCM), in ``head_taps[k]`` order."""
        start = sum(len(taps) for taps in self.head_taps[:k])
        return self.aux_classifiers[start : start + len(self.head_taps[k])]

    def peer_outputs(self, k, inputs, training=None):
        """Peer ``k``'s main logits; while training DCM, those of all its classifiers."""
        peer = self.peers[k]
        if not (training and self.auxiliary):
            return peer(inputs, training=training)
        logits, taps = peer.call_with_features(inputs, training=True)
        return [logits] + [head(taps[tap], training=True) for head, tap in zip(self.peer_heads(k), self.head_taps[k])]

    def inference_logits(self, images, training=None):
        """Main logits of every peer."""
        return [self.peer_outputs(k, images, training) for k in range(len(self.peers))]

    def train_outputs(self, images, index):
        """Logits of every peer; with DCM, of every classifier."""
        return self.inference_logits(images, training=True)

    def peer_parts(self, k, y_pred, y, sample_weight=None):
        """Peer ``k``'s ``peer<k>_ce`` and ``peer<k>_kl`` against the other entries of ``y_pred``."""
        ce, kl = peer_losses(k, y_pred, y, self.temperature, self.reduction, self.kl_weight)
        return {f"peer{k}_ce": (weighted_mean(ce, sample_weight), 1.0),
                f"peer{k}_kl": (weighted_mean(kl, sample_weight), 1.0)}

    def loss_parts(self, x, y, y_pred, sample_weight):
        return {name: part for k in range(len(self.peers)) for name, part in
                self.peer_parts(k, y_pred, y, sample_weight).items()}

    def peer_loss(self, k, y_pred, y, sample_weight=None):
        """Peer ``k``'s batch loss (CE + peer KL + its regularization), logging its parts."""
        parts = self.peer_parts(k, y_pred, y, sample_weight)
        return self.add_parts(parts, keras.tree.flatten(y_pred)[0]) + self.regularization([self.peers[k]])

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y_pred = [z[0] if isinstance(z, (list, tuple)) else z for z in y_pred]
        for logits, tracker in zip(y_pred, self.accuracies):
            predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
            hits = ops.cast(ops.equal(predicted, sparse_labels(y, logits)), "float32")
            tracker.update_state(hits, sample_weight=sample_weight)
        return super().compute_metrics(x, y, y_pred[0], sample_weight)

    def custom_step(self):
        """Keras' step for ``"simultaneous"``; DML's Algorithm 1 for ``"sequential"``."""
        if self.update == "simultaneous":
            return None
        check_stepwise_optimizer(self.optimizer)
        if not self.optimizer.built:  # as Keras' first apply does, on all peers
            self.optimizer.build(self.trainable_variables)
        return self.sequential_step

    def sequential_step(self, data):
        """One batch of DML's Algorithm 1: each peer in turn takes its optimizer
        step, then its predictions are recomputed for the peers after it."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        count = len(self.peers)
        targets = [None] + [self.target_prediction(j, x) for j in range(1, count)]
        iterations = self.optimizer.iterations
        start = ops.copy(iterations)
        outputs, total = [], 0.0
        for k in range(count):

            def peer_step_loss(k=k):
                own = self.peer_outputs(k, x, training=True)
                loss = self.peer_loss(k, targets[:k] + [own] + targets[k + 1 :], y, sample_weight)
                return self.optimizer.scale_loss(replica_share(loss)), (loss, own)

            variables = [v for layer in self.peer_layers(k) for v in layer.trainable_variables]
            (loss, own), grads = value_and_grad(peer_step_loss, variables, self)
            if k:
                iterations.assign(start)  # one optimizer iteration per batch
            apply_gradients(self.optimizer, grads, variables)
            if k + 1 < count:
                targets[k] = self.target_prediction(k, x)
            outputs.append(own)
            total = total + loss
        self._loss_tracker.update_state(total, sample_weight=ops.shape(keras.tree.flatten(x)[0])[0])
        return self.compute_metrics(x, y, outputs, sample_weight)

    def peer_layers(self, k):
        """Peer ``k`` and its auxiliary classifiers: what its step trains."""
        return [self.peers[k]] + self.peer_heads(k)

    def target_prediction(self, k, x):
        """Peer ``k``'s training-mode outputs on ``x`` as detached targets, with its
        state (batch-norm statistics, seeds) left unchanged."""
        return without_state_updates(lambda: self.peer_outputs(k, x, training=True), self.peer_layers(k))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "temperature": self.temperature,
                "kl_weight": self.kl_weight,
                "reduction": self.reduction,
                "auxiliary": self.auxiliary,
                "update": self.update,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        """A config saved before ``update`` existed was trained simultaneously
        (the only order then): it loads as ``update="simultaneous"``."""
        return super().from_config({"update": "simultaneous", **config})


def check_stepwise_optimizer(optimizer):
    """Raises ValueError for optimizers ``update="sequential"`` cannot step per peer."""
    if keras.backend.backend() == "jax" and isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        raise ValueError(
            "`update='sequential'` cannot step a LossScaleOptimizer (mixed_float16) per peer on JAX "
            "(its stateful apply branches with `ops.cond`); use update='simultaneous' or "
            f"mixed_bfloat16. Received: optimizer={optimizer.name!r}"
        )
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    for name in ("use_ema", "gradient_accumulation_steps"):
        if getattr(inner, name, None):
            raise ValueError(
                f"`update='sequential'` steps the optimizer once per peer and cannot use an "
                f"optimizer with `{name}`; compile with another optimizer or use "
                f"update='simultaneous'. Received: {name}={getattr(inner, name)!r}"
            )
