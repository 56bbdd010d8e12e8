"""Ordered-subnet sampling for GKT and its baselines (tang2024 Eq. 5-7).

A subnet of a ``StagedNet`` keeps, in every stage d, the first ``k_d``
blocks and turns the rest into the identity (the "ordered residual
structure" of Ye et al. 2022 that tang2024 keeps). A subnet is therefore a
vector of kept-block counts, one per stage; the main net is the vector of
stage sizes.

Rules for drawing a child from a parent with counts ``l_1..l_D``:

* ``"exponential"`` -- tang2024's inheriting exponential decay rule: stage
  d draws ``k`` in ``1..l_d`` with probability proportional to
  ``u^(l_d - k + 1)``, ``u = q^(D - d + 1)`` (Eq. 5-7), so keeping all of
  the parent's blocks is the likeliest outcome and early stages (smaller
  u) are pruned less.
* ``"uniform"`` -- every count in ``1..l_d`` equally likely (the uniform
  rule of stimulative training, Ye et al. 2022, used per stage here).

Stages are drawn independently. Where the paper is silent: a block that
changes the shape of its input cannot be the identity, so a stage's count
never drops below the position of its last such block (``min_keep``; 1 for
every zoo ResNet, where only a stage's first block may change shape), and
the rule is renormalized over the counts left.

Everything is vectorized over a leading batch of independent draws, so a
test can draw many at once; the trainers draw one per step.
"""

import keras
import numpy as np
from keras import ops

from keras_kd.models.staged import StagedNet

RULES = ("exponential", "uniform")


class SubnetSampler:
    """Draws ordered subnets of a ``StagedNet``.

    Args:
        model: a built ``StagedNet`` (``keras_kd.models``).
        rule: ``"exponential"`` (tang2024 Eq. 5-7) or ``"uniform"``.
        q: base number q in (0, 1) of the exponential rule.

    Example:

    >>> sampler = SubnetSampler(kd.models.cifar_resnet(20, 10), q=0.2)
    >>> sampler.probabilities([3, 3, 3])  # row d: P(k_d = 1..3)
    >>> counts = sampler.sample([3, 3, 3], keras.random.SeedGenerator(0))
    >>> logits = model(x, block_gates=sampler.gates(counts))
    """

    def __init__(self, model, rule="exponential", q=0.2):
        if not isinstance(model, StagedNet):
            raise ValueError(
                "Subnet sampling needs a keras_kd.models StagedNet (stages of "
                f"switchable blocks). Received: model={model!r}"
            )
        if rule not in RULES:
            raise ValueError(f"`rule` must be one of {RULES}. Received: rule={rule!r}")
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise ValueError(f"`q` must be a number in (0, 1). Received: q={q!r}")
        self.rule, self.q = rule, float(q)
        self.sizes = np.array(model.stage_sizes, dtype="int32")
        skippable, start, self.min_keep = model.skippable, 0, []
        for size in self.sizes:
            fixed = [i for i in range(size) if not skippable[start + i]]
            self.min_keep.append(max([1] + [i + 1 for i in fixed]))
            start += size
        self.min_keep = np.array(self.min_keep, dtype="int32")
        if np.array_equal(self.min_keep, self.sizes):
            raise ValueError(
                f"Model {model.name!r} has no block that can be skipped: every stage "
                f"must keep all its blocks (stage sizes {self.sizes.tolist()})."
            )
        main = ops.convert_to_numpy(self.probabilities(self.sizes))[0]
        self.full_probability = main[np.arange(self.num_stages), self.sizes - 1].astype("float64")

    @property
    def num_stages(self):
        return len(self.sizes)

    def log_weights(self, parent, exclude_parent=False):
        """Unnormalized log-probabilities (batch, D, L) of counts 1..L per stage.

        ``L`` is the largest stage; counts outside ``min_keep..l_d`` get
        ``-inf``-like weight. ``exclude_parent`` also removes ``k = l_d`` in
        stages that have another choice.
        """
        parent = ops.cast(ops.reshape(parent, (-1, self.num_stages, 1)), "float32")
        counts = ops.arange(1, int(self.sizes.max()) + 1, dtype="float32")[None, None, :]
        lowest = ops.convert_to_tensor(self.min_keep.astype("float32"))[None, :, None]
        allowed = ops.logical_and(counts >= lowest, counts <= parent)
        if exclude_parent:
            allowed = ops.logical_and(allowed, ops.logical_or(counts < parent, parent <= lowest))
        if self.rule == "exponential":
            depth = np.arange(self.num_stages, 0, -1, dtype="float32")  # D - d + 1
            log_u = ops.convert_to_tensor((depth * np.log(self.q)).astype("float32"))[None, :, None]
            weights = (parent - counts + 1.0) * log_u  # log u^(l_d - k + 1), Eq. 6
        else:
            weights = ops.zeros_like(counts + parent)
        return ops.where(allowed, weights, -1e30)

    def probabilities(self, parent, exclude_parent=False):
        """chi_d of Eq. 7: (batch, D, L) probabilities of keeping 1..L blocks."""
        return ops.softmax(self.log_weights(parent, exclude_parent), axis=-1)

    def sample(self, parent, seed, exclude_parent=False):
        """Child counts (batch, D) int32 drawn from ``parent`` (batch, D).

        Args:
            parent: kept-block counts of the parent subnet(s).
            seed: a ``keras.random.SeedGenerator`` (or a seed accepted by
                ``keras.random``).
            exclude_parent: draw each stage without ``k = l_d`` (see
                ``sample_not_full``).
        """
        probabilities = self.probabilities(parent, exclude_parent)
        uniform = keras.random.uniform(ops.shape(probabilities)[:2] + (1,), seed=seed)
        return self._inverse_cdf(probabilities, uniform, parent)

    def _inverse_cdf(self, probabilities, uniform, parent):
        below = ops.sum(ops.cast(ops.cumsum(probabilities, axis=-1) < uniform, "int32"), axis=-1)
        parent = ops.cast(ops.reshape(parent, (-1, self.num_stages)), "int32")
        return ops.minimum(below + 1, parent)  # the minimum guards cdf rounding

    def sample_not_full(self, seed, batch=1):
        """Counts (batch, D) drawn from the main net, conditioned on not all full.

        Exact: the first stage that is not full is d* with probability
        ``prod_{e<d*} a_e (1 - a_d*) / (1 - prod a)`` (``a_d``:
        ``full_probability``, P(stage d keeps all its blocks)); stages before d* are full, d* draws without
        its full count, later stages draw freely.
        """
        full = self.full_probability
        first = np.cumprod(np.concatenate([[1.0], full[:-1]])) * (1.0 - full)
        first = ops.convert_to_tensor((first / first.sum()).astype("float32"))
        parent = ops.broadcast_to(ops.convert_to_tensor(self.sizes), (batch, self.num_stages))
        free = self.sample(parent, seed)
        restricted = self.sample(parent, seed, exclude_parent=True)
        uniform = keras.random.uniform((batch, 1), seed=seed)
        pick = ops.sum(ops.cast(ops.cumsum(first)[None, :] < uniform, "int32"), axis=-1, keepdims=True)
        pick = ops.minimum(pick, int(np.flatnonzero(full < 1.0)[-1]))  # cdf rounding
        stage = ops.arange(self.num_stages, dtype="int32")[None, :]
        return ops.where(stage < pick, parent, ops.where(stage == pick, restricted, free))

    def gates(self, counts):
        """``block_gates`` for ``StagedNet.call`` from counts (D,) or (1, D).

        Blocks a stage always keeps get ``None`` (run, no runtime switch);
        the others a scalar bool tensor ``position < k_d``.
        """
        counts = ops.reshape(counts, (self.num_stages,))
        gates = []
        for stage, (size, lowest) in enumerate(zip(self.sizes, self.min_keep)):
            for position in range(size):
                gates.append(None if position < lowest else counts[stage] > position)
        return gates
