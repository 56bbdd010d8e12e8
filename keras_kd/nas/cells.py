"""Cells of the DARTS space (liu2019 §2.1-2.2): the search cell whose edges mix every candidate
(li2021 eq. 7) and the discrete cell a genotype describes.

Both take the outputs of the two previous cells, bring them to the cell's channels (a 1x1
``ReLUConvBN``, or ``FactorizedReduce`` when the previous cell halved the map), and compute ``nodes``
states, each the sum of operations on earlier states; an operation on a cell input has stride 2 in a
reduction cell. The output concatenates the chosen states along the channels.
"""

import keras
from keras import layers, ops

from keras_kd.api import register
from keras_kd.nas.genotype import edge_count, edge_inputs
from keras_kd.layers.residual_block import subsampled_shape
from keras_kd.nas.operations import FactorizedReduce, ReLUConvBN, operation
from keras_kd.validation import check_choice, check_int, check_number


def preprocessing(filters, reduction_prev, affine):
    """The layers that bring the two cell inputs to ``filters`` channels at the cell's input size."""
    first = FactorizedReduce(filters, affine, name="preprocess0") if reduction_prev else ReLUConvBN(
        filters, affine, name="preprocess0")
    return [first, ReLUConvBN(filters, affine, name="preprocess1")]


def input_strides(reduction, state):
    return 2 if reduction and state < 2 else 1


@register
class MixedEdge(layers.Layer):
    """One edge of the search cell: ``sum_k w_k o_k(x)`` over its candidate operations (li2021 eq. 7, the
    inner sum), with the weights ``w`` given per call (the softmax of the edge's architecture weights).

    The candidates are built as the search network's: BatchNorms without affine parameters, a
    BatchNorm after each pool (the reference code's ``MixedOp``).

    Args:
        primitives: the candidate operations' names (``kd.nas.PRIMITIVES``); a name may repeat.
        filters: channels of the input and the output.
        strides: 1, or 2 on a reduction cell's input.
    """

    def __init__(self, primitives, filters, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.primitives = tuple(primitives)
        if not self.primitives:
            raise ValueError(f"A mixed edge needs at least one primitive. Received: primitives={primitives!r}")
        self.filters = check_int(filters, "filters")
        self.strides = check_choice(strides, "strides", (1, 2))
        self.candidates = [operation(name, self.filters, self.strides, affine=False, pool_norm=True,
                                     name=f"op{index}_{name}") for index, name in enumerate(self.primitives)]

    def build(self, input_shape):
        for candidate in self.candidates:
            candidate.build(input_shape)

    def call(self, inputs, mixing, training=None):
        """``mixing``: one weight per primitive (a vector)."""
        return sum(mixing[index] * candidate(inputs, training=training)
                   for index, candidate in enumerate(self.candidates))

    def compute_output_shape(self, input_shape):
        return self.candidates[0].compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "primitives": list(self.primitives), "filters": self.filters,
                "strides": self.strides}


def concat_shape(input_shapes, filters, reduction, states):
    """The shape of ``states`` concatenated states of ``filters`` channels, at the later input's size (halved
    in a reduction cell)."""
    return subsampled_shape(tuple(input_shapes[1][:-1]) + (filters * states,), 2 if reduction else 1)


def build_states(preprocess, input_shapes, filters, reduction, nodes):
    """Builds the preprocessing layers; returns the shapes of every state of the cell."""
    for layer, shape in zip(preprocess, input_shapes):
        layer.build(shape)
    return [layer.compute_output_shape(shape) for layer, shape in zip(preprocess, input_shapes)] + [
        concat_shape(input_shapes, filters, reduction, 1)] * nodes


@register
class SearchCell(layers.Layer):
    """The search network's cell: every state reads every earlier state through a ``MixedEdge``; the
    output concatenates the last ``multiplier`` states.

    Args:
        edge_primitives: one sequence of candidate names per edge (``edge_count(nodes)`` edges, node by
            node, each node's inputs in order).
        filters: the cell's channels per state.
        nodes: intermediate nodes (4).
        multiplier: states concatenated as the output (the last ``multiplier``; 4).
        reduction: the cell halves the map (stride 2 on its inputs' edges).
        reduction_prev: the previous cell halved the map (its earlier input is reduced here).
    """

    def __init__(self, edge_primitives, filters, nodes=4, multiplier=4, reduction=False, reduction_prev=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.nodes, self.filters = check_int(nodes, "nodes"), check_int(filters, "filters")
        self.multiplier = check_int(multiplier, "multiplier")
        if self.multiplier > self.nodes:
            raise ValueError(f"`multiplier` cannot exceed `nodes` ({self.nodes}). Received: multiplier={multiplier}")
        self.edge_primitives = [tuple(names) for names in edge_primitives]
        if len(self.edge_primitives) != edge_count(self.nodes):
            raise ValueError(f"A cell of {self.nodes} nodes has {edge_count(self.nodes)} edges. Received "
                             f"{len(self.edge_primitives)} primitive lists")
        self.reduction = check_choice(reduction, "reduction", (True, False))
        self.reduction_prev = check_choice(reduction_prev, "reduction_prev", (True, False))
        self.preprocess = preprocessing(self.filters, self.reduction_prev, affine=False)
        self.edges = [MixedEdge(names, self.filters, input_strides(self.reduction, state), name=f"edge{index}")
                      for index, ((_, state), names) in enumerate(zip(edge_inputs(self.nodes), self.edge_primitives))]

    def build(self, input_shape):
        states = build_states(self.preprocess, input_shape, self.filters, self.reduction, self.nodes)
        for edge, (_, state) in zip(self.edges, edge_inputs(self.nodes)):
            edge.build(states[state])

    def call(self, inputs, mixing, training=None):
        """``inputs``: the two previous cells' outputs; ``mixing``: one weight vector per edge."""
        states = [layer(x, training=training) for layer, x in zip(self.preprocess, inputs)]
        index = 0
        for node in range(self.nodes):
            states.append(sum(self.edges[index + state](states[state], mixing[index + state], training=training)
                              for state in range(node + 2)))
            index += node + 2
        return ops.concatenate(states[-self.multiplier:], axis=-1)

    def compute_output_shape(self, input_shape):
        return concat_shape(input_shape, self.filters, self.reduction, self.multiplier)

    def get_config(self):
        return {**super().get_config(), "edge_primitives": [list(names) for names in self.edge_primitives],
                "filters": self.filters, "nodes": self.nodes, "multiplier": self.multiplier,
                "reduction": self.reduction, "reduction_prev": self.reduction_prev}


@register
class Cell(layers.Layer):
    """A discrete cell: each node sums two operations on earlier states (a genotype's pairs).

    Drop path (the reference code's ``drop_path``, in training only): each operation other than the
    identity is zeroed per example with probability ``drop_rate`` and the kept ones divided by
    ``1 - drop_rate``. ``drop_rate`` is a variable: ``kd.nas.DropPathSchedule`` raises it to
    ``drop_path`` over training, as the reference code does per epoch.

    Args:
        pairs: ``(primitive, input state)`` pairs, two per node.
        concat: the states concatenated as the output.
        filters: the cell's channels per state.
        reduction: the cell halves the map.
        reduction_prev: the previous cell halved the map.
        pool_norm: a BatchNorm (with affine parameters) after each pool (STACNAS; DARTS has none).
        drop_path: the largest drop-path rate (0: none).
        seed: seed of the drop-path draws.
    """

    def __init__(self, pairs, concat, filters, reduction=False, reduction_prev=False, pool_norm=False,
                 drop_path=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.pairs = [(str(primitive), int(state)) for primitive, state in pairs]
        self.concat = [int(state) for state in concat]
        self.filters = check_int(filters, "filters")
        self.reduction = check_choice(reduction, "reduction", (True, False))
        self.reduction_prev = check_choice(reduction_prev, "reduction_prev", (True, False))
        self.pool_norm = check_choice(pool_norm, "pool_norm", (True, False))
        self.drop_path = check_number(drop_path, "drop_path", 0.0, 1.0, high_open=True)
        self.seed = seed
        self.preprocess = preprocessing(self.filters, self.reduction_prev, affine=True)
        self.operations = [
            operation(primitive, self.filters, input_strides(self.reduction, state), affine=True,
                      pool_norm=self.pool_norm, name=f"node{index // 2}_{primitive}_from{state}")
            for index, (primitive, state) in enumerate(self.pairs)]
        if self.drop_path:
            self.drop_rate = self.add_weight(shape=(), initializer="zeros", trainable=False, name="drop_rate")
            self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        states = build_states(self.preprocess, input_shape, self.filters, self.reduction, len(self.pairs) // 2)
        for (_, state), layer in zip(self.pairs, self.operations):
            layer.build(states[state])

    def _dropped(self, x, layer, training):
        if not (training and self.drop_path) or isinstance(layer, layers.Identity):
            return x
        keep = 1.0 - ops.cast(self.drop_rate, x.dtype)
        draw = keras.random.uniform((ops.shape(x)[0], 1, 1, 1), seed=self.seed_generator, dtype=x.dtype)
        return x / keep * ops.floor(keep + draw)

    def call(self, inputs, training=None):
        states = [layer(x, training=training) for layer, x in zip(self.preprocess, inputs)]
        for node in range(len(self.pairs) // 2):
            states.append(sum(self._dropped(layer(states[state], training=training), layer, training)
                              for (_, state), layer in zip(self.pairs[2 * node:2 * node + 2],
                                                           self.operations[2 * node:2 * node + 2])))
        return ops.concatenate([states[state] for state in self.concat], axis=-1)

    def compute_output_shape(self, input_shape):
        return concat_shape(input_shape, self.filters, self.reduction, len(self.concat))

    def get_config(self):
        return {**super().get_config(), "pairs": [list(pair) for pair in self.pairs], "concat": self.concat,
                "filters": self.filters, "reduction": self.reduction, "reduction_prev": self.reduction_prev,
                "pool_norm": self.pool_norm, "drop_path": self.drop_path, "seed": self.seed}
