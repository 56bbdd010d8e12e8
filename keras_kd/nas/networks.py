"""Networks of the DARTS space (liu2019 §2.1, §3.1; the reference code's ``NetworkCIFAR`` and search
``Network``): a 3x3 conv stem of ``stem_multiplier * channels`` channels -BN, ``num_cells`` cells whose
channels double at the two reduction cells (at 1/3 and 2/3 of the depth), a global average pool and a
dense classifier.

- ``darts_network(genotype)``: the network of a discrete genotype, a functional Keras model (saves and
  loads as ``.keras``) with the taps ``stage1..3`` (the last cell at each resolution).
  ``darts_network(kd.nas.DARTS_V2, 10, channels=36, num_cells=20)`` is liu2019's CIFAR-10 evaluation
  network: 3,349,342 weights, its reference code's count ("3.3 M" in its Table 1). liu2019's auxiliary
  head (weight 0.4, after 2/3 of the cells) is part of its training recipe, not of the network, and is
  not built here.
- ``SuperNet``: the search network (every edge a ``MixedEdge`` over its candidates), whose architecture
  weights (one vector per edge of the normal and of the reduction cell, shared by all cells of that
  type, initialized ``1e-3 * N(0, 1)``) are separate from its network weights.
"""

import keras
import numpy as np
from keras import layers, ops

from keras_kd.api import register
from keras_kd.layers.chain import build_chain, run_chain
from keras_kd.layers.group_conv import GroupConv2D
from keras_kd.nas.cells import Cell, SearchCell
from keras_kd.nas.genotype import (
    DARTS_V2, Genotype, category_primitives, derive_cell, edge_count,
)
from keras_kd.nas.operations import PRIMITIVES, norm, torch_default_initializer
from keras_kd.validation import check_choice, check_int

CELL_KINDS = ("normal", "reduce")
ARCHITECTURE_PREFIX = "architecture_"  # the names of a SuperNet's architecture weights begin with it


def reduction_cells(num_cells):
    """Indices of the reduction cells: at 1/3 and 2/3 of the depth."""
    return num_cells // 3, 2 * num_cells // 3


def stem(channels):
    return [GroupConv2D(channels, 3, groups=1, padding="symmetric", kernel_initializer=torch_default_initializer(),
                        name="stem_conv"),
            norm(True, "stem_bn")]


def classifier(num_classes):
    return [layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(num_classes, kernel_initializer=torch_default_initializer(), name="logits")]


def cell_plan(channels, num_cells):
    """``(filters, reduction, reduction_prev)`` of each cell."""
    plan, filters, reduction_prev = [], channels, False
    for index in range(check_int(num_cells, "num_cells", low=3)):
        reduction = index in reduction_cells(num_cells)
        filters *= 2 if reduction else 1
        plan.append((filters, reduction, reduction_prev))
        reduction_prev = reduction
    return plan


def darts_network(genotype=DARTS_V2, num_classes=10, channels=36, num_cells=20, input_shape=(32, 32, 3),
                  drop_path=0.0, pool_norm=False, stem_multiplier=3, seed=None, name="darts"):
    """The network of a genotype (liu2019's evaluation network).

    Args:
        genotype: a ``kd.nas.Genotype`` (or its config).
        num_classes: size of the dense head.
        channels: channels per state of the first cells (36 in liu2019's CIFAR-10 network).
        num_cells: cells (20); the ones at ``num_cells // 3`` and ``2 * num_cells // 3`` are reduction cells.
        input_shape: image shape without batch.
        drop_path: largest drop-path rate of the cells (liu2019: 0.2, raised linearly from 0 per epoch by
            ``kd.nas.DropPathSchedule``).
        pool_norm: a BatchNorm after each pool (STACNAS' network; DARTS' has none).
        stem_multiplier: the stem has ``stem_multiplier * channels`` channels (3).
        seed: seed of the drop-path draws.
        name: the model's name.

    Example:

    >>> model = kd.nas.darts_network(kd.nas.DARTS_V2, 10, channels=4, num_cells=3, input_shape=(8, 8, 3))
    >>> tuple(model(np.zeros((2, 8, 8, 3), "float32")).shape)
    (2, 10)
    """
    genotype = genotype if isinstance(genotype, Genotype) else Genotype.from_config(genotype)
    channels = check_int(channels, "channels")
    inputs = keras.Input(tuple(input_shape), name="images")
    x = inputs
    for layer in stem(check_int(stem_multiplier, "stem_multiplier") * channels):
        x = layer(x)
    earlier = previous = x
    plan = cell_plan(channels, num_cells)
    stage = 1
    for index, (filters, reduction, reduction_prev) in enumerate(plan):
        pairs, concat = genotype.cell(reduction)
        cell = Cell(pairs, concat, filters, reduction, reduction_prev, pool_norm, drop_path,
                    seed=None if seed is None else seed + index, name=f"cell{index}")
        earlier, previous = previous, cell([earlier, previous])
        if index + 1 in reduction_cells(num_cells) or index + 1 == len(plan):
            previous = layers.Identity(name=f"stage{stage}")(previous)
            stage += 1
    x = previous
    for layer in classifier(check_int(num_classes, "num_classes")):
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def edge_primitives_per_cell(primitives, nodes):
    """``{"normal": [names per edge], "reduce": [...]}`` from one sequence of names for every edge or a
    dict of per-edge sequences."""
    if isinstance(primitives, dict):
        unknown = set(primitives) - set(CELL_KINDS)
        if unknown or len(primitives) != 2:
            raise ValueError(f"`primitives` as a dict needs the keys {CELL_KINDS}. Received: {sorted(primitives)}")
        result = {kind: [tuple(names) for names in primitives[kind]] for kind in CELL_KINDS}
    else:
        result = {kind: [tuple(primitives)] * edge_count(nodes) for kind in CELL_KINDS}
    for kind, edges in result.items():
        if len(edges) != edge_count(nodes):
            raise ValueError(f"A cell of {nodes} nodes has {edge_count(nodes)} edges. Received "
                             f"{len(edges)} primitive lists for the {kind} cell")
        for names in edges:
            for name in names:
                check_choice(name, "primitive", PRIMITIVES)
    return result


@register
class SuperNet(keras.Model):
    """The search network of the DARTS space (li2021 eq. 7 in every cell).

    ``architecture_weights`` are the edges' variables (softmaxed per edge in the forward pass);
    ``network_weights`` are all other trainable weights. ``genotype()`` reads the discrete cells.

    Args:
        num_classes: size of the dense head.
        channels: channels per state of the first cells (16 in liu2019's and li2019's search).
        num_cells: cells (liu2019: 8; li2019: 14 in its first stage, 20 in its second).
        nodes: intermediate nodes per cell (4).
        primitives: the candidates of every edge (``kd.nas.PRIMITIVES``), or
            ``{"normal": [...], "reduce": [...]}`` with one sequence per edge (STACNAS' second stage).
        input_shape: image shape without batch.
        stem_multiplier: the stem has ``stem_multiplier * channels`` channels (3).

    Example:

    >>> net = kd.nas.SuperNet(10, channels=4, num_cells=3, input_shape=(8, 8, 3))
    >>> len(net.architecture_weights), tuple(net.architecture_weights[0].shape)
    (28, (8,))
    >>> net.genotype().nodes
    4
    """

    def __init__(self, num_classes=10, channels=16, num_cells=8, nodes=4, primitives=PRIMITIVES,
                 input_shape=(32, 32, 3), stem_multiplier=3, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.channels = check_int(num_classes, "num_classes"), check_int(channels, "channels")
        self.num_cells, self.nodes = check_int(num_cells, "num_cells", low=3), check_int(nodes, "nodes")
        self.stem_multiplier = check_int(stem_multiplier, "stem_multiplier")
        self.edge_primitives = edge_primitives_per_cell(primitives, self.nodes)
        self.input_shape_arg = tuple(input_shape)
        self.stem = stem(self.stem_multiplier * self.channels)
        self.cells = [
            SearchCell(self.edge_primitives[CELL_KINDS[reduction]], filters, self.nodes, self.nodes, reduction,
                       reduction_prev, name=f"cell{index}")
            for index, (filters, reduction, reduction_prev) in enumerate(cell_plan(self.channels, self.num_cells))]
        self.head = classifier(self.num_classes)
        self.alphas = {
            kind: [self.add_weight(shape=(len(names),), initializer=keras.initializers.RandomNormal(stddev=1e-3),
                                   name=f"{ARCHITECTURE_PREFIX}{kind}_{index}") for index, names in enumerate(edges)]
            for kind, edges in self.edge_primitives.items()}
        self.build((None,) + self.input_shape_arg)

    def build(self, input_shape):
        earlier = previous = build_chain(self.stem, tuple(input_shape))
        for cell in self.cells:
            cell.build([earlier, previous])
            earlier, previous = previous, cell.compute_output_shape([earlier, previous])
        build_chain(self.head, previous)
        self.built = True

    @property
    def architecture_weights(self):
        """The architecture variables: the normal cell's edges, then the reduction cell's."""
        return [alpha for kind in CELL_KINDS for alpha in self.alphas[kind]]

    @property
    def network_weights(self):
        """The trainable weights other than the architecture variables."""
        architecture = {id(alpha) for alpha in self.architecture_weights}
        return [weight for weight in self.trainable_weights if id(weight) not in architecture]

    def mixing(self, kind):
        """The softmaxed weights of each edge of the ``"normal"`` or ``"reduce"`` cell."""
        return [ops.softmax(alpha) for alpha in self.alphas[kind]]

    def call(self, inputs, training=None):
        mixing = {kind: self.mixing(kind) for kind in CELL_KINDS}
        earlier = previous = run_chain(self.stem, inputs, training)
        for cell in self.cells:
            earlier, previous = previous, cell([earlier, previous], mixing[CELL_KINDS[cell.reduction]],
                                               training=training)
        return run_chain(self.head, previous, training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def edge_weights(self, kind, scores="softmax"):
        """Each edge's weights of a cell kind as numpy float64 vectors: softmaxed (``"softmax"``) or the raw
        architecture weights (``"alphas"``)."""
        check_choice(scores, "scores", ("softmax", "alphas"))
        weights = self.mixing(kind) if scores == "softmax" else self.alphas[kind]
        return [np.asarray(ops.convert_to_numpy(w), dtype="float64") for w in weights]

    def genotype(self, k=2, scores="softmax"):
        """The discrete cells the architecture weights choose (``kd.nas.derive_cell``); each cell
        concatenates all its intermediate nodes.

        Args:
            k: edges kept per node (2).
            scores: what ranks the edges: the softmaxed weights (``"softmax"``, liu2019's reference
                code) or the raw architecture weights (``"alphas"``, li2019's); the best primitive
                per edge is the same either way.
        """
        cells = {kind: derive_cell(self.edge_weights(kind, scores), self.edge_primitives[kind], self.nodes, k)
                 for kind in CELL_KINDS}
        concat = tuple(range(2, self.nodes + 2))
        return Genotype(cells["normal"], concat, cells["reduce"], concat)

    def category_primitives(self, categories=None):
        """STACNAS' second-stage candidates per edge (``kd.nas.category_primitives``), for
        ``SuperNet(primitives=...)``."""
        return {kind: category_primitives(self.edge_weights(kind), self.edge_primitives[kind], self.nodes,
                                          categories) for kind in CELL_KINDS}

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "channels": self.channels,
                "num_cells": self.num_cells, "nodes": self.nodes,
                "primitives": {kind: [list(names) for names in edges] for kind, edges in self.edge_primitives.items()},
                "input_shape": self.input_shape_arg, "stem_multiplier": self.stem_multiplier}
