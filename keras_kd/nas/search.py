"""KD-guided differentiable search of res-students (li2021 §III-B1, eq. 6-7), trained as STACNAS trains.

li2021: "We also use the knowledge distillation loss function in the search stage when using NAS" (eq. 6:
``argmin over w_S, alpha_S`` of the KD loss), "We use the same search space as that of STACNAS" and "We use
the same training strategy as that of STACNAS [60] to obtain the final suitable network". For the
res-student ``R_i`` the KD loss is the stage's, eq. 3 on the target ``T - S_{i-1}`` (a
``ResidualDistiller`` whose ``res_student`` is the ``SuperNet``).

STACNAS' strategy (li2019, and its reference code susan0199/stacnas ``search.py``, whose settings are the
defaults here where the paper's text is not among our sources):

- **one-level optimization**: every step takes one gradient of the training loss for both the network
  weights and the architecture weights, on the same batch, from all the training data ("train_ratio=1
  means we use all the 50000 training images"); DARTS' bilevel alternation on a validation split is
  not what li2019 does, and is the option ``ResStudentSearch(optimization="bilevel")`` (below);
- the network weights: ``SGD(0.025, momentum 0.9, weight decay 3e-4)``, cosine annealing to 0.001 over the
  epochs of the stage (the scheduler stepped before each epoch), gradients clipped to a global norm of 3;
- the architecture weights: ``Adam(3e-4, betas (0.5, 0.999), weight decay 1e-3)``, torch's (coupled);
- two stages of 80 epochs at batch 64, 16 channels: 14 cells over one representative per category
  (``STACNAS_STAGE1``), then 20 cells over each edge's category (``category_primitives``);
- the genotype: per node the two edges whose best non-``none`` architecture weight is largest, compared
  as raw weights (the reference's ``build_genotype_from_alpha``), not softmaxed as DARTS does.

DARTS' first-order bilevel mode (liu2019 §2.3, "the architecture gradient ... with xi = 0", and its
reference code quark0/darts ``train_search.py --unrolled False``), as an option: the training images are
split in two halves (``train_portion=0.5``), and the steps alternate: the architecture weights take a
step on a batch of the second half (``architect.step`` on the validation batch comes first), then the
network weights on a batch of the first half (``AlternatingBatches`` and
``SearchOptimizers(alternate=True)``). The optimizers stay STACNAS' (DARTS' own differ only in the
weights' gradient clip, 5 instead of 3). BatchNorm's moving statistics follow every batch of both halves,
as the reference's training-mode forward passes do.
"""

import dataclasses
import math
import os

import keras
import numpy as np
from keras import ops

from keras_kd.api import register
from keras_kd.backend.seeded_weights import seeded_weights
from keras_kd.files import read_json, write_json
from keras_kd.models.profile import profile
from keras_kd.nas.genotype import STACNAS_STAGE1, Genotype
from keras_kd.nas.networks import ARCHITECTURE_PREFIX, SuperNet, darts_network
from keras_kd.optimizers import SGD, Adam
from keras_kd.schedules import CosineAnnealing
from keras_kd.validation import check_choice, check_int, check_number


def is_architecture_weight(variable):
    """Whether a variable is a ``SuperNet``'s architecture weight (by its name)."""
    return variable.name.startswith(ARCHITECTURE_PREFIX)


@register
class SearchOptimizers(keras.optimizers.Optimizer):
    """Two optimizers as one: the architecture weights (``kd.nas.SuperNet.architecture_weights``) go to
    ``architecture_optimizer``, every other variable to ``weights_optimizer``, in one step of one gradient
    (STACNAS' one-level optimization). Compile any keras_kd trainer (or the ``SuperNet`` itself) with it.
    With ``alternate=True`` (DARTS' first-order bilevel mode, fed by ``AlternatingBatches``) the steps
    take turns: steps 0, 2, 4, ... move only the architecture weights, steps 1, 3, 5, ... only the network
    weights; the idle optimizer's variables and iterations stay as they were.

    ``learning_rate`` and ``iterations`` are the weights optimizer's (a learning-rate callback changes
    that one); both optimizers' variables are saved and restored with the trainer.

    Args:
        weights_optimizer: the network weights' optimizer (an optimizer or its config).
        architecture_optimizer: the architecture weights' optimizer.
        alternate: take turns (architecture first) instead of stepping both groups on every batch.
        name: the optimizer's name.
    """

    def __init__(self, weights_optimizer, architecture_optimizer, alternate=False, name="search_optimizers",
                 **kwargs):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        self.weights_optimizer = keras.optimizers.get(weights_optimizer)
        self.architecture_optimizer = keras.optimizers.get(architecture_optimizer)
        if not isinstance(alternate, bool):
            raise ValueError(f"`alternate` must be True or False. Received: alternate={alternate!r}")
        self.alternate = alternate

    def _split(self, values, variables):
        groups = ([], [], [], [])
        for value, variable in zip(values, variables):
            offset = 2 if is_architecture_weight(variable) else 0
            groups[offset].append(value)
            groups[offset + 1].append(variable)
        return groups

    def build(self, var_list):
        _, weights, _, architecture = self._split(var_list, var_list)
        if not architecture:
            raise ValueError("SearchOptimizers found no architecture weight among the trained variables (names "
                             f"starting with {ARCHITECTURE_PREFIX!r}): train a kd.nas.SuperNet with it. Received "
                             f"{len(var_list)} variables, e.g. {[v.name for v in var_list[:3]]}")
        super().build(var_list)
        self.weights_optimizer.build(weights)
        self.architecture_optimizer.build(architecture)

    @property
    def variables(self):
        return self._variables + self.weights_optimizer.variables + self.architecture_optimizer.variables

    def apply(self, grads, trainable_variables=None):
        variables = self._trainable_variables if trainable_variables is None else trainable_variables
        weight_grads, weights, architecture_grads, architecture = self._split(list(grads), list(variables))
        if not self.alternate:
            self.weights_optimizer.apply(weight_grads, weights)
            self.architecture_optimizer.apply(architecture_grads, architecture)
            return
        architecture_turn = ops.equal(self._iterations % 2, 0)  # the step's own counter (the base class')
        _apply_where(architecture_turn, self.architecture_optimizer, architecture_grads, architecture)
        _apply_where(ops.logical_not(architecture_turn), self.weights_optimizer, weight_grads, weights)
        self._iterations.assign_add(1)

    @property
    def iterations(self):
        return self.weights_optimizer.iterations

    @property
    def learning_rate(self):
        return self.weights_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.weights_optimizer.learning_rate = learning_rate

    def get_config(self):
        return {"name": self.name, "alternate": self.alternate,
                "weights_optimizer": keras.optimizers.serialize(self.weights_optimizer),
                "architecture_optimizer": keras.optimizers.serialize(self.architecture_optimizer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def _apply_where(condition, optimizer, grads, variables):
    """``optimizer.apply(grads, variables)`` whose effect on the variables and on the optimizer's own
    state is kept only where ``condition`` (a traced boolean) holds: one program for every step, on every
    backend (Keras' JAX optimizer selects gradient-accumulation steps the same way)."""
    state = list(variables) + list(optimizer.variables)
    before = [ops.copy(v.value) for v in state]
    optimizer.apply(grads, variables)
    for variable, old in zip(state, before):
        variable.assign(ops.where(condition, variable.value, old))


def stacnas_optimizers(epochs, steps_per_epoch, learning_rate=0.025, minimum_learning_rate=0.001,
                       momentum=0.9, weight_decay=3e-4, clipnorm=3.0, architecture_learning_rate=3e-4,
                       architecture_weight_decay=1e-3, alternate=False):
    """STACNAS' search optimizers (li2019's reference code; see the module docstring).

    Args:
        epochs: epochs of the search stage (the cosine's length).
        steps_per_epoch: optimizer steps per epoch.
        learning_rate: the weights' first rate (0.025).
        minimum_learning_rate: the weights' last rate (0.001).
        momentum: the weights' momentum (0.9).
        weight_decay: the weights' coupled L2 (3e-4).
        clipnorm: the weights' gradients' global norm bound (3).
        architecture_learning_rate: Adam's rate for the architecture weights (3e-4).
        architecture_weight_decay: Adam's coupled L2 on the architecture weights (1e-3).
        alternate: DARTS' first-order bilevel turns (``SearchOptimizers``); ``steps_per_epoch`` then counts
            the weights' steps only.
    """
    schedule = CosineAnnealing(learning_rate, epochs, steps_per_epoch, minimum=minimum_learning_rate, epoch_offset=1)
    return SearchOptimizers(
        SGD(schedule, momentum=momentum, weight_decay=weight_decay, global_clipnorm=clipnorm),
        Adam(architecture_learning_rate, beta_1=0.5, beta_2=0.999, weight_decay=architecture_weight_decay),
        alternate=alternate)


class AlternatingBatches(keras.utils.PyDataset):
    """DARTS' bilevel data (liu2019's reference ``train_search.py``): the first ``train_portion`` of the
    images train the network weights, the rest the architecture weights; batches of the second and of the
    first part come in turn (architecture first), each part reshuffled every epoch. An epoch is one pass
    over the smaller part, so ``len`` is twice its number of batches. Feed it to a trainer compiled with
    ``SearchOptimizers(alternate=True)``.

    Args:
        x: the images (numpy).
        y: the labels.
        batch_size: images per batch (DARTS: 64).
        train_portion: the weights' share of the images (DARTS: 0.5), in (0, 1).
        seed: the shuffles' seed.
    """

    def __init__(self, x, y, batch_size, train_portion=0.5, seed=0):
        super().__init__()
        self.x, self.y = np.asarray(x), np.asarray(y)
        if len(self.x) != len(self.y):
            raise ValueError(f"`x` and `y` need as many rows. Received: {len(self.x)} images, {len(self.y)} labels")
        self.batch_size = check_int(batch_size, "batch_size")
        check_number(train_portion, "train_portion", 0, 1, low_open=True, high_open=True)
        split = int(np.floor(train_portion * len(self.x)))
        if not 0 < split < len(self.x):
            raise ValueError(f"`train_portion` leaves a part empty: {len(self.x)} images. Received: "
                             f"train_portion={train_portion}")
        self.parts = (np.arange(split, len(self.x)), np.arange(split))  # (architecture, weights)
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def on_epoch_end(self):
        self.orders = [self.rng.permutation(part) for part in self.parts]

    def __len__(self):
        return 2 * min(math.ceil(len(part) / self.batch_size) for part in self.parts)

    def __getitem__(self, index):
        start = (index // 2) * self.batch_size
        rows = self.orders[index % 2][start : start + self.batch_size]
        return self.x[rows], self.y[rows]


def steps_in(train_data, batch_size):
    """Optimizer steps per epoch of ``fit(*train_data)``: an ``(x, y)`` tuple at ``batch_size``, or a
    batched dataset of known length."""
    if isinstance(train_data, tuple):
        return math.ceil(len(train_data[0]) / batch_size)
    steps = int(train_data.cardinality()) if hasattr(train_data, "cardinality") else len(train_data)
    if steps < 0:
        raise ValueError(f"The search needs the number of batches per epoch; the dataset's is unknown ({steps}). "
                         "Pass a dataset of known length (not repeated).")
    return steps


@dataclasses.dataclass
class ResStudentSearch:
    """A res-student found by search (li2021 §III-B1): give it to ``kd.distillers.train_reskd`` in place of a
    model (``res_students=[kd.nas.ResStudentSearch()]``). The stage searches with its own KD loss (eq. 3
    on ``T - S_{i-1}``), builds the genotype's network and trains it as a handcrafted res-student.

    li2021 gives R_1's size, not its depth or width: Table IV's S_1 has 0.453 / 0.485 M parameters and
    79 / 81 MFLOPs, S_0 (ResNet-20) 0.270 / 0.276 M and 41 / 41 MFLOPs on CIFAR-10 / CIFAR-100, so R_1 has
    about 0.183 / 0.209 M parameters and 38 / 40 MFLOPs. The network here has ``network_cells`` cells (8,
    the depth of DARTS' search network) and, unless ``network_channels`` is given, the most channels
    (even) whose network stays within ``params_budget`` and ``mflops_budget`` (li2021's MFLOPs,
    ``kd.models.profile(..., convention="li2021")``).

    ``optimization="one-level"`` is STACNAS' (li2021's) training; ``"bilevel"`` is DARTS' first-order
    alternation on two halves of ``(x, y)`` data (``train_portion``; the module docstring), an option
    the issue asked for and li2021 does not use.

    Args:
        epochs: epochs of the two search stages (li2019: 80, 80).
        cells: cells of the two stages' search networks (li2019: 14, 20).
        channels: channels of the search networks' first cells (16).
        nodes: intermediate nodes per cell, in the search and the res-student (4).
        batch_size: the search's batch for ``(x, y)`` data (li2019: 64); a dataset keeps its batches.
        network_cells: cells of the res-student.
        network_channels: channels of the res-student's first cells; None: from ``params_budget``.
        params_budget: the res-student's parameter budget (default 183,000, li2021 Table IV CIFAR-10).
        mflops_budget: the res-student's budget of li2021 MFLOPs (default 38, li2021 Table IV CIFAR-10);
            None: parameters only.
        pool_norm: a BatchNorm after the res-student's pools (STACNAS' network: True).
        optimizers_fn: ``(epochs, steps_per_epoch) -> optimizer`` for each stage; default
            ``stacnas_optimizers``. With ``"bilevel"`` it is called with ``alternate=True`` as well and must
            return a ``SearchOptimizers`` that alternates.
        optimization: ``"one-level"`` (STACNAS) or ``"bilevel"`` (DARTS' first order; ``(x, y)`` data).
        train_portion: with ``"bilevel"``, the network weights' share of the images (DARTS: 0.5).
        seed: seed of the initial weights of the search networks (``seed``, ``seed + 1``) and of the
            res-student (``seed + 2``): a run resumed after a kill builds them as the uninterrupted run did;
            with ``"bilevel"``, also of the two halves' shuffles.
    """

    epochs: tuple = (80, 80)
    cells: tuple = (14, 20)
    channels: int = 16
    nodes: int = 4
    batch_size: int = 64
    network_cells: int = 8
    network_channels: int = None
    params_budget: int = 183_000
    mflops_budget: float = 38.0
    pool_norm: bool = True
    optimizers_fn: object = None
    optimization: str = "one-level"
    train_portion: float = 0.5
    seed: int = 0

    def __post_init__(self):
        self.epochs = tuple(check_int(e, "epochs") for e in self.epochs)
        self.cells = tuple(check_int(c, "cells", low=3) for c in self.cells)
        if len(self.epochs) != 2 or len(self.cells) != 2:
            raise ValueError(f"`epochs` and `cells` need one value per search stage (2). Received: "
                             f"epochs={self.epochs}, cells={self.cells}")
        check_int(self.channels, "channels")
        check_int(self.nodes, "nodes")
        check_int(self.seed, "seed", low=0)
        check_int(self.batch_size, "batch_size")
        check_int(self.network_cells, "network_cells", low=3)
        if self.network_channels is not None and check_int(self.network_channels, "network_channels") % 2:
            raise ValueError(f"`network_channels` must be even. Received: network_channels={self.network_channels}")
        check_number(self.params_budget, "params_budget", 1, math.inf)
        if self.mflops_budget is not None:
            check_number(self.mflops_budget, "mflops_budget", 0, math.inf, low_open=True)
        check_choice(self.optimization, "optimization", ("one-level", "bilevel"))
        check_number(self.train_portion, "train_portion", 0, 1, low_open=True, high_open=True)

    def search(self, make_trainer, train_data, num_classes, input_shape, fit_kwargs=None, directory=None):
        """STACNAS' two stages; returns the genotype.

        Args:
            make_trainer: ``supernet -> trainer`` (uncompiled), whose loss is the stage's (eq. 6 / eq. 3).
            train_data: ``(x, y)`` or a batched dataset (``"bilevel"``: ``(x, y)`` only, split in two).
            num_classes: classes of the search networks.
            input_shape: image shape without batch.
            fit_kwargs: extra ``fit`` arguments (``callbacks``, ``shuffle``, ``verbose``); ``epochs`` and
                ``batch_size`` are the search's.
            directory: if given, the first stage's result (``search_stage1.json``) and the genotype
                (``genotype.json``) are kept there and a later call resumes after them.
        """
        if self.optimization == "bilevel" and not isinstance(train_data, tuple):
            raise ValueError("optimization='bilevel' splits `(x, y)` arrays in two (DARTS' train_portion); a "
                             f"dataset has no fixed split. Received: train_data of type {type(train_data).__name__}")
        if directory:
            os.makedirs(directory, exist_ok=True)
        genotype_path = os.path.join(directory, "genotype.json") if directory else None
        if genotype_path and os.path.exists(genotype_path):
            return Genotype.from_config(read_json(genotype_path))
        stage1_path = os.path.join(directory, "search_stage1.json") if directory else None
        if stage1_path and os.path.exists(stage1_path):
            primitives = read_json(stage1_path)
        else:
            net = self._run_stage(0, STACNAS_STAGE1, make_trainer, train_data, num_classes, input_shape, fit_kwargs)
            primitives = {kind: [list(names) for names in edges]
                          for kind, edges in net.category_primitives().items()}
            if stage1_path:
                write_json(stage1_path, primitives)
        net = self._run_stage(1, primitives, make_trainer, train_data, num_classes, input_shape, fit_kwargs)
        genotype = net.genotype(scores="alphas")
        if genotype_path:
            write_json(genotype_path, genotype.get_config())
        return genotype

    def _run_stage(self, stage, primitives, make_trainer, train_data, num_classes, input_shape, fit_kwargs):
        with seeded_weights(self.seed + stage):
            net = SuperNet(num_classes, self.channels, self.cells[stage], self.nodes, primitives, input_shape,
                           name=f"search_stage{stage + 1}")
        trainer = make_trainer(net)
        kwargs = {**(fit_kwargs or {}), "epochs": self.epochs[stage]}
        optimizers_fn = self.optimizers_fn or stacnas_optimizers
        if self.optimization == "bilevel":
            batches = AlternatingBatches(*train_data, self.batch_size, self.train_portion, seed=self.seed + stage)
            optimizer = optimizers_fn(self.epochs[stage], len(batches) // 2, alternate=True)
            if not (isinstance(optimizer, SearchOptimizers) and optimizer.alternate):
                raise ValueError("optimization='bilevel' needs `optimizers_fn(..., alternate=True)` to return a "
                                 f"kd.nas.SearchOptimizers with alternate=True. Received: {optimizer!r}")
            trainer.compile(optimizer=optimizer)
            for key in ("batch_size", "shuffle"):
                kwargs.pop(key, None)
            trainer.fit(batches, **kwargs)
            return net
        trainer.compile(optimizer=optimizers_fn(self.epochs[stage], steps_in(train_data, self.batch_size)))
        if isinstance(train_data, tuple):
            kwargs["batch_size"] = self.batch_size
            trainer.fit(*train_data, **kwargs)
        else:
            kwargs.pop("batch_size", None)
            trainer.fit(train_data, **kwargs)
        return net

    def channels_for(self, genotype, num_classes, input_shape):
        """``network_channels``, or the most (even) channels within ``params_budget`` and ``mflops_budget``."""
        if self.network_channels is not None:
            return self.network_channels
        channels = 2
        while self._within_budget(genotype, num_classes, input_shape, channels + 2):
            channels += 2
        return channels

    def _within_budget(self, genotype, num_classes, input_shape, channels):
        with seeded_weights(self.seed + 2):  # leaves Keras' global random stream as it was
            model = darts_network(genotype, num_classes, channels, self.network_cells, input_shape,
                                  pool_norm=self.pool_norm)
        counts = profile(model, convention="li2021")
        return counts["trainable_params"] <= self.params_budget and (
            self.mflops_budget is None or counts["flops"] / 1e6 <= self.mflops_budget)

    def build(self, genotype, num_classes, input_shape, name="res_student"):
        """The res-student of ``genotype``: ``darts_network`` at ``network_cells`` and ``channels_for``."""
        channels = self.channels_for(genotype, num_classes, input_shape)
        with seeded_weights(self.seed + 2):
            return darts_network(genotype, num_classes, channels, self.network_cells, input_shape,
                                 pool_norm=self.pool_norm, name=name)


def describe(model, genotype):
    """The stage record of a searched res-student: its genotype, parameters and li2021's MFLOPs."""
    counts = profile(model, convention="li2021")
    return {"genotype": genotype.get_config(), "params": counts["trainable_params"], "mflops": counts["flops"] / 1e6}
