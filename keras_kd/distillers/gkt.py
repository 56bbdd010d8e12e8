"""``GKT``: group knowledge based training of a residual network (tang2024).

Algorithm 1 of tang2024, one training step per group t = 1..M, cycling:

1. subnet-in-subnet sampling (Eq. 1): at t = 1 draw a subnet from the main
   net, at t > 1 from the previous step's subnet, with the inheriting
   exponential decay rule (Eq. 5-7, ``gkt_sampler``);
2. forward the subnet: ``p = softmax(z / T)``;
3. loss ``CE(y, z) + beta * T^2 * KL(K_s[I] || p)`` (Eq. 4) with
   ``s = t - 1``, or ``s = 1`` at t = 1 (the largest group learns from its
   own knowledge), read *before* this step's update; the KL is 0 for an
   example whose ``K_s`` does not exist yet (``SUPERVISION`` holds the
   ablations' other sources of Appendix D3 / E);
4. update the group knowledge ``K_t[I] = ema * p + (1 - ema) * K_t[I]``
   (Eq. 2), or ``K_t[I] = p`` the first time (Algorithm 1, line 8).

The knowledge ``K`` and its exists mark are non-trainable variables of the
trainer with one row per (group, example), row ``(t - 1) * N + index`` ((M * N,
classes) and (M * N,)), updated inside ``compute_loss`` on the batch's rows
only (``replica_state.add_to_rows``): a step costs the same whatever N, and
the update is row-exact under ``tf.distribute.MirroredStrategy`` and
``keras.distribution.DataParallel``.
"""

import keras
import numpy as np
from keras import ops

from keras_kd.api import register
from keras_kd.distillers.gkt_sampler import ORDERED_RULES, RULES, SubnetSampler
from keras_kd.backend.replica_state import add_to_rows
from keras_kd.distillers.subnet import SubnetTrainer
from keras_kd.distillers.index_checks import check_index_spec, indexed_inputs, no_index
from keras_kd.losses.kd import check_temperature, kl_from_probabilities
from keras_kd.losses.supervised import weighted_mean
from keras_kd.validation import check_choice, check_int, check_number

KNOWLEDGE_DTYPES = ("float32", "float16")
# Group (0-based) whose knowledge supervises a step of group ``t`` (0-based);
# "main_net" reads no table: the main net's output on the batch.
SUPERVISION = {
    "hierarchical": lambda t: ops.maximum(t - 1, 0),  # Eq. 3-4, HG
    "largest_group": lambda t: ops.zeros_like(t),  # LG (Table 10, Fig. 5, 7)
    "self_group": lambda t: t,  # SG (Table 10)
    "main_net": None,  # Main (Fig. 5, 7)
}


@register
class GKT(SubnetTrainer):
    """Group knowledge based training (tang2024, Algorithm 1, Eq. 1-7).

    Trains ``model`` through sampled subnets supervised by the labels and by
    the per-example knowledge of the neighbouring larger subnet group.
    Batches are ``((images, index), labels)`` with each example's position
    in the training set, as given by ``keras_kd.data.load(...,
    with_index=True)`` or ``fit(x=(images, np.arange(n)), y=labels)``.
    Indices must be in ``[0, num_examples)`` and distinct within a batch.

    Args:
        model: a built ``keras_kd.models`` network (``StagedNet``); it is
            trained in place and ``gkt.model`` is what to save and deploy.
        num_examples: N, the size of the training set the indices refer to.
        num_groups: M, the number of groups (steps per sampling loop).
        beta: weight of the group-knowledge KL (paper: 2, ImageNet 0.5).
        ema: EMA coefficient alpha of Eq. 2 (paper: 0.5). ``ema=1.0`` turns
            the EMA off (Table 5's "SL-EMA" removed): ``K_t[I] = p`` at
            every update, the latest output of the group.
        q: base number of the exponential decay rule, Eq. 5 (paper: 0.2).
        temperature: softmax temperature T of the stored knowledge and the
            KL, which is scaled by T^2 (Hinton, hinton2015). The paper is silent; its
            ``p`` is the plain softmax, so the default is 1.
        rule: the sampling rule ``pi`` of Eq. 1 (``gkt_sampler``), for
            Table 12, Table 11's GKT-UR and Table 6 (with ``block_range``;
            Table 11's GKT-ABAC is not offered): ``"exponential"``
            (default, Eq. 5-7),
            ``"uniform"`` (every ordered subnet of the parent equally
            likely, "GKT-UR" / "UR(1~12)"), ``"linear"`` (Huang et al.'s
            global block-wise linear decay, huang2016, each of the parent's blocks
            kept independently with ``1 - (r / R)(1 - final_survival)``, r
            its rank among the parent's R blocks) or ``"linear_stagewise"``
            (the same within each stage: "its stage-wise variant",
            Appendix D4).
        final_survival: p_L of the linear rules (Huang et al. 2016: 0.5;
            tang2024 gives none); unused by the other rules.
        block_range: ``None`` (default: all subnets) or ``(low, high)``:
            an ordered rule draws only subnets running ``low..high`` blocks
            in all, Table 6's mini-spaces ("UR(9~10)": ``rule="uniform",
            block_range=(9, 10)``).
        supervision: where the KL's target comes from (Appendix D3, E):
            ``"hierarchical"`` (default, HG: ``K_{t-1}``, ``K_1`` at t = 1),
            ``"largest_group"`` (LG: ``K_1`` for every group),
            ``"self_group"`` (SG: ``K_t``, read before this step's update) or
            ``"main_net"`` ("Main": the main net's softmax on the batch,
            from a second, full forward pass in training mode with no
            gradient, as stimulative training's main pass (Eq. 9); its
            BatchNorm statistics move too, and a step costs the full net
            on top of the subnet). The knowledge table is kept in every case.
        include_full: whether the subnet drawn from the main net (t = 1)
            may be the main net itself. The default ``True`` follows Eq. 7
            as printed, which keeps every block of a stage with probability
            ``chi_d[l_d]``: at q = 0.2 it draws the main net with P = 0.76
            on ResNet-20, and over a sampling loop (M = 3) 60% of the steps
            run the full net, 66% the last block of the last stage.
            ``False`` (an option, not the paper's equation) draws from Eq. 7
            conditioned on at least one skipped block, after the appendix's
            descriptions "only one subnet with lower FLOPs forwards and
            backwards at each iteration" (Appendix F) and "SIS sampling
            starts from the main net and drops some layers to obtain the
            sub-net" (B2): no step then runs the full net and only 12-14%
            run the last block of the last stage, so a step is cheaper
            (ResNet-32: 89.5% of the multiply-adds instead of 95.8%) but
            the large subnets, which the paper finds most useful, are
            trained less. Ordered rules only.
        knowledge_dtype: storage of ``K``: ``"float32"`` or ``"float16"``
            (half the memory; the update is then rounded to float16).
        seed: int seed of the sampling (``None``: random).

    tang2024 contradicts itself on q: the text uses q = 0.2 (Appendix A1,
    D1), but its Table 7 group statistics (tiny / medium / large shares of
    each group's subnets on WRN-28-10) are what Eq. 5-7 give at q = 0.5
    with the main net drawable, not at 0.2. The default follows the text
    (q = 0.2); ``q=0.5`` reproduces Table 7 (tested).

    Choices where the paper is silent, fixed here:

    * the KD term is averaged over the batch, with 0 for examples without
      knowledge yet (Algorithm 1 tests existence per mini-batch; with
      per-example knowledge the test is per example);
    * a stage keeps at least one block, and any block that changes shape
      (the first of a stage in the zoo ResNets) always runs;
    * a skipped block is the identity in the forward pass and its
      BatchNorm statistics are untouched (updating them would need the
      compute that skipping saves);
    * evaluation, prediction and export use the full main net, unchanged.

    Compute: on TensorFlow and torch a skipped block is not computed
    (``keras.ops.cond``), so a step costs the sampled subnet. On JAX the
    gate is a mask (a runtime ``cond`` runs convs ~55x slower on XLA CPU,
    ``keras_kd.layers.skip``): the full net is computed every step and GKT saves no
    time there; static-subnet compilation is not implemented yet. At the
    paper's q = 0.2 Eq. 7 keeps most blocks: the sampled subnets run 95.8%
    of a ResNet-32's multiply-adds and 94.8% of a WRN-28-10's (89.5% and
    86.5% with ``include_full=False``), which bounds the saving
    (``benchmarks/gkt_epoch.py`` reports the measured epoch time; tang2024
    Table 13: 0.92x plain on GPUs). Narrow nets save less time than
    multiply-adds: their early-stage blocks, which GKT seldom drops, carry
    most of the elementwise work.

    The knowledge table takes ``knowledge_bytes`` (M * N * classes * bytes)
    plus the M * N exists mark (variables ``knowledge`` and ``exists``, row
    ``(t - 1) * N + index``; ``group_knowledge()`` reads them per group). A
    step updates only its batch's rows. The table is saved with the trainer
    (to resume), never with ``gkt.model``.

    Logs ``ce_loss`` (subnet cross-entropy) and ``gk_loss`` (the weighted
    KL), besides ``loss`` and compiled metrics; compiled metrics are on the
    subnet's logits while training, on the full net in ``evaluate``.

    Example:

    >>> model = kd.models.wide_resnet(28, 10, num_classes=100)
    >>> train = kd.data.load("cifar100", "train", with_index=True)  # doctest: +SKIP
    >>> gkt = kd.GKT(model, num_examples=45000, seed=0)
    >>> gkt.compile(keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
    >>> gkt.fit(train, epochs=200)  # doctest: +SKIP
    >>> gkt.model.save("wrn.keras")  # doctest: +SKIP
    >>> ur = kd.GKT(model, num_examples=45000, rule="uniform")  # Table 11's GKT-UR
    """

    def __init__(
        self,
        model,
        num_examples,
        num_groups=3,
        beta=2.0,
        ema=0.5,
        q=0.2,
        temperature=1.0,
        include_full=True,
        knowledge_dtype="float32",
        rule="exponential",
        final_survival=0.5,
        supervision="hierarchical",
        block_range=None,
        seed=None,
        **kwargs,
    ):
        kwargs.setdefault("name", "gkt")
        super().__init__(model, seed=seed, **kwargs)
        self.num_examples = check_int(num_examples, "num_examples")
        self.num_groups = check_int(num_groups, "num_groups")
        self.beta = check_number(beta, "beta", 0, np.inf)
        self.ema = check_number(ema, "ema", 0, 1, low_open=True)
        self.temperature = check_temperature(temperature)
        if not isinstance(include_full, bool):
            raise ValueError(f"`include_full` must be a bool. Received: include_full={include_full!r}")
        check_choice(supervision, "supervision", SUPERVISION)
        if not include_full and rule in RULES and rule not in ORDERED_RULES:
            raise ValueError(
                f"`include_full=False` needs an ordered rule {tuple(ORDERED_RULES)}. "
                f"Received: rule={rule!r}"
            )
        check_choice(knowledge_dtype, "knowledge_dtype", KNOWLEDGE_DTYPES)
        self.include_full, self.knowledge_dtype, self.supervision = include_full, knowledge_dtype, supervision
        self.sampler = SubnetSampler(model, rule, q, final_survival, block_range)
        self.rule, self.q, self.final_survival = rule, self.sampler.q, self.sampler.final_survival
        self.block_range = self.sampler.block_range
        if not include_full and block_range is not None and self.block_range[0] >= self.sampler.sizes.sum():
            raise ValueError(
                "`include_full=False` needs a `block_range` with a subnet smaller than the main net. "
                f"Received: block_range={block_range!r}"
            )
        self.num_classes = int(model.output_shape_[-1])
        rows = self.num_groups * self.num_examples
        state = dict(trainable=False, initializer="zeros", autocast=False)
        self.knowledge = self.add_weight(
            shape=(rows, self.num_classes), dtype=knowledge_dtype, aggregation="sum", name="knowledge", **state
        )
        self.exists = self.add_weight(
            shape=(rows,), dtype=knowledge_dtype, aggregation="sum", name="knowledge_exists", **state
        )
        replicated = dict(dtype="int32", aggregation="only_first_replica", **state)
        self.group = self.add_weight(shape=(), name="group", **replicated)
        self.subnet = self.add_weight(shape=self.sampler.main.shape, name="subnet", **replicated)
        self.subnet.assign(self.sampler.main)
        self.track_parts(["ce_loss", "gk_loss"], labelled=["ce_loss"])
        self.built = True

    @property
    def knowledge_bytes(self):
        """Bytes of the group knowledge K: M * N * classes * bytes per value."""
        return self.num_groups * self.num_examples * self.num_classes * np.dtype(self.knowledge_dtype).itemsize

    def group_knowledge(self):
        """``(K, exists)`` as NumPy arrays of shapes (M, N, classes) and (M, N)."""
        groups = (self.num_groups, self.num_examples)
        knowledge = ops.convert_to_numpy(self.knowledge).reshape(groups + (self.num_classes,))
        return knowledge, ops.convert_to_numpy(self.exists).reshape(groups)

    def next_subnet(self):
        """Draws this step's subnet (Eq. 1, Algorithm 1 line 3) into ``self.subnet``."""
        first = ops.equal(self.group.value, 0)
        parent = ops.where(first, self.sampler.main, self.subnet.value)
        counts = self.sampler.sample(parent, self.seed_generator)[0]
        if not self.include_full:
            fresh = self.sampler.sample_not_full(self.seed_generator)[0]
            counts = ops.where(first, fresh, counts)
        self.subnet.assign(counts)
        return counts

    def train_outputs(self, images, index):
        if index is None:
            raise ValueError(no_index("GKT") + f"Received images only: x={images!r}")
        check_index_spec(index.shape, index.dtype)
        counts = self.next_subnet()
        logits = self.run_subnet(images, self.sampler.gates(counts))
        if self.supervision != "main_net":
            return logits
        return {"logits": logits, "main_logits": ops.stop_gradient(self.model(images, training=True))}

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``; checks that batches carry a valid index."""
        with indexed_inputs(x, self.num_examples, "GKT") as checked:
            return super().fit(checked, y, *args, **kwargs)

    def _rows(self, group, index):
        """Rows ``group * N + index`` of the (M * N, ...) tables."""
        return group * self.num_examples + ops.cast(index, "int32")

    def supervising_knowledge(self, group, index, y_pred):
        """Target probabilities of the KL for this step's batch and which examples have one:
        the rows ``K_s[I]`` of the table, ``s`` given by ``supervision``; from the
        main net: ``softmax(main logits / T)``."""
        if self.supervision == "main_net":
            main = ops.cast(y_pred["main_logits"], "float32") / self.temperature
            return ops.softmax(main, axis=-1), ops.ones_like(index, dtype="bool")
        source = self._rows(SUPERVISION[self.supervision](group), index)
        target = ops.take(self.knowledge.value, source, axis=0)
        have = ops.take(self.exists.value, source, axis=0) > 0.5
        return target, have

    def subnet_loss_parts(self, x, y, y_pred, sample_weight):
        _, index = x
        group = self.group.value
        logits = y_pred["logits"] if isinstance(y_pred, dict) else y_pred
        target, have = self.supervising_knowledge(group, index, y_pred)
        temperature = self.temperature
        # T^2 KL(K_s[I] || softmax(z / T)) (Eq. 4), 0 without knowledge
        kl = ops.where(have, temperature**2 * kl_from_probabilities(target, logits, temperature), 0.0)
        ce = self.supervised_loss(y, logits, sample_weight)
        gk = self.beta * weighted_mean(kl, sample_weight)
        probabilities = ops.softmax(ops.cast(logits, "float32") / temperature, axis=-1)
        self.update_knowledge(group, index, ops.stop_gradient(probabilities))
        self.group.assign((group + 1) % self.num_groups)
        return {"ce_loss": (ce, 1.0), "gk_loss": (gk, 1.0)}

    def update_knowledge(self, group, index, probabilities):
        """Eq. 2 for group ``group`` (0-based) at ``index``, on those rows only."""
        rows = self._rows(group, index)
        old = ops.cast(ops.take(self.knowledge.value, rows, axis=0), "float32")
        seen = ops.take(self.exists.value, rows, axis=0)
        rate = ops.where(seen > 0.5, self.ema, 1.0)[:, None]
        add_to_rows(self.knowledge, rows, rate * (probabilities - old))
        add_to_rows(self.exists, rows, 1.0 - ops.cast(seen, "float32"))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_examples": self.num_examples,
                "num_groups": self.num_groups,
                "beta": self.beta,
                "ema": self.ema,
                "q": self.q,
                "temperature": self.temperature,
                "include_full": self.include_full,
                "knowledge_dtype": self.knowledge_dtype,
                "rule": self.rule,
                "final_survival": self.final_survival,
                "supervision": self.supervision,
                "block_range": None if self.block_range is None else list(self.block_range),
            }
        )
        return config
