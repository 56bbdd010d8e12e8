"""Subnet sampling for GKT and its baselines (tang2024 Eq. 5-7, Appendix D4).

A rule draws a child subnet from a parent (Eq. 1, ``pi(N_s)``); the rule is
applied to the parent as a network of its own, so the child is always a
subnet of the parent. Two kinds of rules, each a small function in a dict:

Ordered rules (``ORDERED_RULES``) keep the "ordered residual structure"
(Ye et al. 2022c, ye2022, kept by tang2024): in every stage d the first ``k_d``
blocks run and the rest are the identity, so a subnet is a vector of kept
counts, one per stage (the main net: the stage sizes). With the parent's
counts ``l_1..l_D``, stage d draws ``k`` in ``1..l_d`` independently, with
log-weight

* ``"exponential"`` (tang2024 Eq. 5-7, the inheriting exponential decay
  rule): ``(l_d - k + 1) log u``, ``u = q^(D - d + 1)``: keeping all of the
  parent's blocks is the likeliest count and early stages (smaller u) are
  pruned less;
* ``"uniform"`` (the uniform rule of Ye et al. 2022c, tang2024 Tables 6,
  11, 12): 0, every count equally likely, i.e. "sampling all subnets with
  equal probability" (Table 11) among the parent's subnets.

Block-wise rules (``BLOCKWISE_RULES``) are the "global block-wise linear
decay (Huang et al. 2016)" and "its stage-wise variant" of Appendix D4 /
Table 12: a subnet is a 0/1 keep mask over the blocks, and each of the
parent's blocks survives independently with Huang et al.'s (huang2016) linear decay
``p = 1 - (r / R) (1 - p_L)``, where r is the block's rank among the
parent's kept blocks and R their number -- over the whole net
(``"linear"``) or within its stage (``"linear_stagewise"``). p_L is
``final_survival`` (Huang et al.: 0.5; tang2024 gives no value). These rules
do not keep the ordered structure: the paper says only the exponential rule
keeps it ("Besides, we also keep the ordered residual structure").

A mini-space (tang2024 Table 6, "UR(5~6)" .. "UR(11~12)": "we first
divide the sampling space into several mini-spaces by the layer number of
the subnet"): with ``block_range=(low, high)`` an ordered rule draws only
subnets that run ``low..high`` blocks in all, the rule's probabilities
renormalized over them (exact, over the enumerated ordered subnets).

Where the paper is silent: a block that changes the shape of its input
cannot be the identity, so it always runs; under an ordered rule a stage's
count never drops below the position of its last such block (``min_keep``;
1 for every zoo ResNet, where only a stage's first block may change shape),
the rule being renormalized over the counts left; under a block-wise rule
such a block survives with p = 1 and still counts in the ranks.

Everything is vectorized over a leading batch of independent draws, so a
test can draw many at once; the trainers draw one per step.
"""

import itertools
import numbers

import keras
import numpy as np
from keras import ops

from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_choice, check_number

# Per-stage log-weights of keeping ``counts`` blocks of a parent stage with ``parent``.
ORDERED_RULES = {
    "exponential": lambda parent, counts, log_u: (parent - counts + 1.0) * log_u,  # Eq. 6
    "uniform": lambda parent, counts, log_u: ops.zeros_like(parent + counts),
}
# The group id of each block (stage index per block given) within which ranks count.
BLOCKWISE_RULES = {
    "linear": np.zeros_like,
    "linear_stagewise": lambda stage_of_block: stage_of_block,
}
RULES = tuple(ORDERED_RULES) + tuple(BLOCKWISE_RULES)


def ordered_subnets(min_keep, sizes, low, high):
    """All kept-count vectors (S, D) with ``min_keep <= k_d <= l_d`` running ``low..high`` blocks."""
    counts = itertools.product(*(range(lo, size + 1) for lo, size in zip(min_keep, sizes)))
    return np.array([c for c in counts if low <= sum(c) <= high], dtype="int32")


class SubnetSampler:
    """Draws subnets of a ``StagedNet`` from a parent subnet.

    Args:
        model: a built ``StagedNet`` (``keras_kd.models``).
        rule: one of ``RULES`` (module docstring): ``"exponential"``
            (tang2024 Eq. 5-7), ``"uniform"``, ``"linear"`` or
            ``"linear_stagewise"``.
        q: base number q in (0, 1) of the exponential rule.
        final_survival: p_L in (0, 1) of the linear rules.
        block_range: ``None`` or ``(low, high)``: ordered rules draw only
            subnets running ``low..high`` blocks in all (Table 6's
            mini-spaces).

    A subnet is ``state``: kept counts (D,) under an ordered rule, a keep
    mask (L,) under a block-wise one; ``main`` is the main net's.

    Example:

    >>> model = kd.models.cifar_resnet(20, 10)
    >>> sampler = SubnetSampler(model, q=0.2)
    >>> keras.ops.convert_to_numpy(sampler.probabilities([3, 3, 3]))[0].round(3)  # row d: P(k_d = 1..3)
    array([[0.   , 0.008, 0.992],
           [0.002, 0.038, 0.96 ],
           [0.032, 0.161, 0.806]], dtype=float32)
    >>> counts = sampler.sample([3, 3, 3], keras.random.SeedGenerator(0))
    >>> logits = model(np.zeros((2, 32, 32, 3), "float32"), block_gates=sampler.gates(counts))
    """

    def __init__(self, model, rule="exponential", q=0.2, final_survival=0.5, block_range=None):
        if not isinstance(model, StagedNet):
            raise ValueError(
                "Subnet sampling needs a keras_kd.models StagedNet (stages of "
                f"switchable blocks). Received: model={model!r}"
            )
        check_choice(rule, "rule", RULES)
        self.rule, self.ordered = rule, rule in ORDERED_RULES
        self.q = check_number(q, "q", 0, 1, low_open=True, high_open=True)
        self.final_survival = check_number(final_survival, "final_survival", 0, 1, low_open=True, high_open=True)
        self.sizes = np.array(model.stage_sizes, dtype="int32")
        self.fixed = ~np.array(model.skippable)
        stage_fixed = np.split(self.fixed, np.cumsum(self.sizes)[:-1])
        self.min_keep = np.array([max([1, *(np.flatnonzero(f) + 1)]) for f in stage_fixed], dtype="int32")
        if np.array_equal(self.min_keep, self.sizes):
            raise ValueError(
                f"Model {model.name!r} has no block that can be skipped: every stage "
                f"must keep all its blocks (stage sizes {self.sizes.tolist()}). Received: model={model.name!r}"
            )
        self.main = self.sizes if self.ordered else np.ones(len(self.fixed), "int32")
        self.block_range = self._check_block_range(block_range)
        if self.block_range is not None:
            self.subnets = ordered_subnets(self.min_keep, self.sizes, *self.block_range)
        if self.ordered:
            main = ops.convert_to_numpy(self.probabilities(self.sizes))[0]
            self.full_probability = main[np.arange(self.num_stages), self.sizes - 1].astype("float64")
        else:
            group = BLOCKWISE_RULES[rule](np.repeat(np.arange(self.num_stages), self.sizes))
            same = group[:, None] == group[None, :]
            self.rank_matrix = (same & (np.arange(len(group))[None, :] <= np.arange(len(group))[:, None])).T
            self.group_matrix = same.T

    @property
    def num_stages(self):
        return len(self.sizes)

    def _check_block_range(self, block_range):
        """``block_range`` as a tuple (``None`` stays ``None``); ValueError unless valid."""
        if block_range is None:
            return None
        fewest, most = int(self.min_keep.sum()), int(self.sizes.sum())
        pair = isinstance(block_range, (tuple, list)) and len(block_range) == 2
        ints = pair and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in block_range)
        if not (self.ordered and ints and block_range[0] <= block_range[1]
                and block_range[1] >= fewest and block_range[0] <= most):
            raise ValueError(
                "`block_range` must be None or (low, high), ints with low <= high that meet "
                f"{fewest}..{most} (the blocks a subnet can run), with an ordered rule "
                f"{tuple(ORDERED_RULES)}. Received: block_range={block_range!r} (rule={self.rule!r})"
            )
        return tuple(int(v) for v in block_range)

    def joint_log_weights(self, parent, exclude_parent=False):
        """``block_range`` set: log-weights (batch, S) of the allowed ordered subnets
        ``subnets`` (S, D) as children of ``parent``: the sum of their stages' rule weights."""
        size = int(self.sizes.max())
        picks = (self.subnets[:, :, None] == np.arange(1, size + 1)[None, None, :]).astype("float32")
        joint = ops.einsum("bdl,sdl->bs", self.log_weights(parent), ops.convert_to_tensor(picks))
        if exclude_parent:
            parent = ops.reshape(ops.cast(parent, "int32"), (-1, 1, self.num_stages))
            same = ops.all(ops.equal(ops.convert_to_tensor(self.subnets)[None], parent), axis=-1)
            joint = ops.where(same, -1e30, joint)
        return joint

    def log_weights(self, parent, exclude_parent=False):
        """Ordered rules: unnormalized log-probabilities (batch, D, L) of counts 1..L per stage.

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
        depth = np.arange(self.num_stages, 0, -1, dtype="float32")  # D - d + 1
        log_u = ops.convert_to_tensor((depth * np.log(self.q)).astype("float32"))[None, :, None]
        return ops.where(allowed, ORDERED_RULES[self.rule](parent, counts, log_u), -1e30)

    def probabilities(self, parent, exclude_parent=False):
        """Ordered rules: chi_d of Eq. 7, (batch, D, L) probabilities of keeping 1..L blocks."""
        return ops.softmax(self.log_weights(parent, exclude_parent), axis=-1)

    def survival(self, parent):
        """Block-wise rules: (batch, L) probability that each block of the child runs.

        ``1 - (r / R)(1 - p_L)`` for the parent's blocks (r: rank among the
        parent's kept blocks of the rule's group, R: their number), 1 for a
        block that cannot be skipped, 0 for a block the parent skips.
        """
        kept = ops.cast(ops.reshape(parent, (-1, len(self.fixed))), "float32")
        rank = ops.matmul(kept, ops.convert_to_tensor(self.rank_matrix.astype("float32")))
        total = ops.matmul(kept, ops.convert_to_tensor(self.group_matrix.astype("float32")))
        linear = 1.0 - rank / ops.maximum(total, 1.0) * (1.0 - self.final_survival)
        return kept * ops.where(ops.convert_to_tensor(self.fixed), 1.0, linear)

    def sample(self, parent, seed, exclude_parent=False):
        """Child states (batch, D) or (batch, L), int32, drawn from ``parent``.

        Args:
            parent: the parent subnet(s): kept counts (ordered rules) or
                keep masks (block-wise rules).
            seed: a ``keras.random.SeedGenerator`` (or a seed accepted by
                ``keras.random``).
            exclude_parent: ordered rules: draw each stage without
                ``k = l_d`` (see ``sample_not_full``); with ``block_range``,
                draw any allowed subnet but the parent.
        """
        if not self.ordered:
            survival = self.survival(parent)
            return ops.cast(keras.random.uniform(ops.shape(survival), seed=seed) < survival, "int32")
        if self.block_range is not None:
            picked = keras.random.categorical(self.joint_log_weights(parent, exclude_parent), 1, seed=seed)
            return ops.take(ops.convert_to_tensor(self.subnets), picked[:, 0], axis=0)
        probabilities = self.probabilities(parent, exclude_parent)
        uniform = keras.random.uniform(ops.shape(probabilities)[:2] + (1,), seed=seed)
        below = ops.sum(ops.cast(ops.cumsum(probabilities, axis=-1) < uniform, "int32"), axis=-1)
        parent = ops.cast(ops.reshape(parent, (-1, self.num_stages)), "int32")
        return ops.minimum(below + 1, parent)  # the minimum guards cdf rounding

    def sample_not_full(self, seed, batch=1):
        """Ordered rules: counts (batch, D) drawn from the main net, conditioned on not all full.

        Exact: the first stage that is not full is d* with probability
        ``prod_{e<d*} a_e (1 - a_d*) / (1 - prod a)`` (``a_d``:
        ``full_probability``, P(stage d keeps all its blocks)); stages before d* are full, d* draws without
        its full count, later stages draw freely. With ``block_range``: any
        allowed subnet but the main net, by the rule's weights.
        """
        parent = ops.broadcast_to(ops.convert_to_tensor(self.sizes), (batch, self.num_stages))
        if self.block_range is not None:
            return self.sample(parent, seed, exclude_parent=True)
        full = self.full_probability
        first = np.cumprod(np.concatenate([[1.0], full[:-1]])) * (1.0 - full)
        first = ops.convert_to_tensor((first / first.sum()).astype("float32"))
        free = self.sample(parent, seed)
        restricted = self.sample(parent, seed, exclude_parent=True)
        uniform = keras.random.uniform((batch, 1), seed=seed)
        pick = ops.sum(ops.cast(ops.cumsum(first)[None, :] < uniform, "int32"), axis=-1, keepdims=True)
        pick = ops.minimum(pick, int(np.flatnonzero(full < 1.0)[-1]))  # cdf rounding
        stage = ops.arange(self.num_stages, dtype="int32")[None, :]
        return ops.where(stage < pick, parent, ops.where(stage == pick, restricted, free))

    def gates(self, state):
        """``block_gates`` for ``StagedNet.call`` from one state ((D,) / (L,) or with a batch of 1).

        Blocks that always run get ``None`` (no runtime switch); the others
        a scalar bool tensor: ``position < k_d`` (ordered) or ``mask > 0``.
        """
        if not self.ordered:
            mask = ops.reshape(state, (len(self.fixed),))
            return [None if fixed else mask[i] > 0 for i, fixed in enumerate(self.fixed)]
        counts = ops.reshape(state, (self.num_stages,))
        gates = []
        for stage, (size, lowest) in enumerate(zip(self.sizes, self.min_keep)):
            for position in range(size):
                gates.append(None if position < lowest else counts[stage] > position)
        return gates
