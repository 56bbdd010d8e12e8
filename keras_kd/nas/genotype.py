"""Discrete cells of the DARTS space (liu2019) and how they are read from architecture weights.

A cell has two inputs (the outputs of the two previous cells, states 0 and 1) and ``nodes`` intermediate
nodes; node ``j`` (state ``j + 2``) may read every earlier state, so a cell has
``nodes * (nodes + 3) / 2`` edges (14 for 4 nodes), ordered node by node and, within a node, by input.
A genotype keeps two edges per node, ``(primitive, input)``, and the states its cell concatenates.

Derivation (liu2019 §2.4, the reference code's ``genotype()``): for each node, each incoming edge is
scored by its largest weight over the primitives other than ``none``; the ``k`` best edges are kept
(ties: the lower input first) and each gets its best primitive other than ``none`` (ties: the first).
STACNAS (li2019; li2021 §III-B follows it) searches in two stages: first over one representative per
category of operations (``STACNAS_STAGE1``), then, on each edge, over the members of the category that
edge chose (``STACNAS_CATEGORIES``, ``category_primitives``), and derives the genotype from the second.
"""

import dataclasses

import numpy as np

from keras_kd.nas.operations import NONE, PRIMITIVES
from keras_kd.validation import check_choice, check_int

STACNAS_STAGE1 = ("max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3", "none")
# As the reference code (susan0199/stacnas ``genotypes.OPS_DICT``), the skip category lists the identity
# twice, so that every second-stage edge has three candidates.
STACNAS_CATEGORIES = {
    "max_pool_3x3": ("avg_pool_3x3", "max_pool_3x3", "none"),
    "skip_connect": ("skip_connect", "skip_connect", "none"),
    "sep_conv_3x3": ("sep_conv_3x3", "sep_conv_5x5", "none"),
    "dil_conv_3x3": ("dil_conv_3x3", "dil_conv_5x5", "none"),
}


def edge_count(nodes):
    """Edges of a cell with ``nodes`` intermediate nodes: ``2 + 3 + ... + (nodes + 1)``.

    Args:
        nodes: intermediate nodes of the cell.
    """
    return nodes * (nodes + 3) // 2


def edge_inputs(nodes):
    """``[(node, input state)]`` for every edge, in the edge order.

    Args:
        nodes: intermediate nodes of the cell.
    """
    return [(node, state) for node in range(nodes) for state in range(node + 2)]


def _check_cell(pairs, concat, kind):
    pairs = tuple((str(primitive), int(state)) for primitive, state in pairs)
    if not pairs or len(pairs) % 2:
        raise ValueError(f"A genotype's {kind} cell needs two (primitive, input) pairs per node. "
                         f"Received {len(pairs)} pairs: {kind}={pairs}")
    for index, (primitive, state) in enumerate(pairs):
        check_choice(primitive, f"{kind}[{index}] primitive", tuple(p for p in PRIMITIVES if p != NONE))
        if not 0 <= state < index // 2 + 2:
            raise ValueError(f"Node {index // 2} of the {kind} cell can read states 0..{index // 2 + 1}. "
                             f"Received: {kind}[{index}]={(primitive, state)}")
    states = len(pairs) // 2 + 2
    concat = tuple(int(state) for state in concat)
    if not concat or any(not 0 <= state < states for state in concat):
        raise ValueError(f"`{kind}_concat` must name states 0..{states - 1}. Received: {kind}_concat={concat}")
    return pairs, concat


@dataclasses.dataclass(frozen=True)
class Genotype:
    """A discrete DARTS architecture: the normal and the reduction cell.

    Args:
        normal: ``(primitive, input state)`` pairs of the normal cell, two per node, node by node.
        normal_concat: the states the normal cell concatenates as its output.
        reduce: the reduction cell's pairs.
        reduce_concat: the states the reduction cell concatenates.

    Example:

    >>> kd.nas.DARTS_V2.nodes
    4
    >>> kd.nas.Genotype.from_config(kd.nas.DARTS_V2.get_config()) == kd.nas.DARTS_V2
    True
    """

    normal: tuple
    normal_concat: tuple
    reduce: tuple
    reduce_concat: tuple

    def __post_init__(self):
        for kind in ("normal", "reduce"):
            pairs, concat = _check_cell(getattr(self, kind), getattr(self, f"{kind}_concat"), kind)
            object.__setattr__(self, kind, pairs)
            object.__setattr__(self, f"{kind}_concat", concat)
        if len(self.normal) != len(self.reduce):
            raise ValueError("The normal and reduction cells need as many nodes. "
                             f"Received {len(self.normal) // 2} and {len(self.reduce) // 2}")

    @property
    def nodes(self):
        return len(self.normal) // 2

    def cell(self, reduction):
        """``(pairs, concat)`` of the reduction (``True``) or normal cell."""
        return (self.reduce, self.reduce_concat) if reduction else (self.normal, self.normal_concat)

    def get_config(self):
        return {field.name: [list(item) if isinstance(item, tuple) else item for item in getattr(self, field.name)]
                for field in dataclasses.fields(self)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


# liu2019's CIFAR-10 cells from the second-order search (its Fig. 4 and 5; the reference code's DARTS_V2).
DARTS_V2 = Genotype(
    normal=(("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
            ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)),
    normal_concat=(2, 3, 4, 5),
    reduce=(("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
            ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)),
    reduce_concat=(2, 3, 4, 5),
)


def _check_edges(edge_weights, edge_primitives, nodes):
    if len(edge_weights) != edge_count(nodes) or len(edge_primitives) != edge_count(nodes):
        raise ValueError(f"A cell of {nodes} nodes has {edge_count(nodes)} edges. Received "
                         f"{len(edge_weights)} weight vectors and {len(edge_primitives)} primitive lists")
    weights = [np.asarray(w, dtype="float64").reshape(-1) for w in edge_weights]
    for index, (w, names) in enumerate(zip(weights, edge_primitives)):
        if len(w) != len(names):
            raise ValueError(f"Edge {index} has {len(names)} primitives {tuple(names)} and {len(w)} weights")
        if all(name == NONE for name in names):
            raise ValueError(f"Edge {index} offers only {NONE!r}: nothing to choose. Received: {tuple(names)}")
    return weights


def best_primitive(weights, primitives):
    """``(index, weight)`` of the largest weight whose primitive is not ``none`` (ties: the first)."""
    index = max((i for i, name in enumerate(primitives) if name != NONE), key=lambda i: (weights[i], -i))
    return index, weights[index]


def derive_cell(edge_weights, edge_primitives, nodes, k=2):
    """The ``(primitive, input)`` pairs of one cell: per node, the ``k`` strongest edges, strongest first.

    Args:
        edge_weights: one vector per edge (edge order of ``edge_inputs``): the softmaxed architecture
            weights over that edge's primitives.
        edge_primitives: one sequence of primitive names per edge.
        nodes: intermediate nodes of the cell.
        k: edges kept per node (2 in DARTS and STACNAS).
    """
    nodes, k = check_int(nodes, "nodes"), check_int(k, "k")
    weights = _check_edges(edge_weights, edge_primitives, nodes)
    pairs, start = [], 0
    for node in range(nodes):
        best = [best_primitive(weights[start + state], edge_primitives[start + state]) for state in range(node + 2)]
        if k > node + 2:
            raise ValueError(f"Node {node} has {node + 2} inputs, fewer than k. Received: k={k}")
        strongest = sorted(range(node + 2), key=lambda state: (-best[state][1], state))[:k]
        pairs += [(edge_primitives[start + state][best[state][0]], state) for state in strongest]
        start += node + 2
    return tuple(pairs)


def category_primitives(edge_weights, edge_primitives, nodes, categories=None):
    """STACNAS' second-stage candidates: on each edge, the members of the category whose representative
    has the largest first-stage weight (``none`` left out).

    Args:
        edge_weights: the first stage's softmaxed weights, one vector per edge.
        edge_primitives: the first stage's primitives per edge (representatives of ``categories``).
        nodes: intermediate nodes of the cell.
        categories: ``{representative: members}``; default ``STACNAS_CATEGORIES``.
    """
    categories = STACNAS_CATEGORIES if categories is None else categories
    weights = _check_edges(edge_weights, edge_primitives, check_int(nodes, "nodes"))
    chosen = [names[best_primitive(w, names)[0]] for w, names in zip(weights, edge_primitives)]
    for index, name in enumerate(chosen):
        if name not in categories:
            raise ValueError(f"Edge {index} chose {name!r}, which represents no category of "
                             f"{sorted(categories)}")
    return [tuple(categories[name]) for name in chosen]
