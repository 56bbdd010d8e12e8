"""Running a block or its identity, chosen per training step.

``gated(run_block, x, gate, state)`` returns ``run_block()`` where ``gate``
is true and ``x`` where it is false. ``gate`` may be a Python bool (resolved
while tracing: the untaken path is never built) or a scalar boolean tensor
(resolved at run time). For tensors the mechanism is per backend, chosen by
measurement on CPU (DESIGN.md §4; ``benchmarks/skip_block.py``):

* ``"cond"`` (TensorFlow, torch): ``keras.ops.cond`` -- the untaken branch
  costs nothing and the taken one runs at full speed;
* ``"mask"`` (JAX): on XLA a conv inside a runtime ``cond`` runs ~55x slower
  and BatchNorm inside it leaks tracers, so the block always runs and its
  output and moving statistics are selected with ``where``. Skipping saves
  no compute there; a trainer that needs the saving compiles a few static
  subnets with Python-bool gates instead.
"""

import keras
from keras import ops

MODES = ("auto", "cond", "mask")


def resolve_mode(mode):
    """The mechanism ``"auto"`` stands for on the current backend."""
    if mode not in MODES:
        raise ValueError(f"`skip_mode` must be one of {MODES}. Received: skip_mode={mode!r}")
    if mode != "auto":
        return mode
    return "mask" if keras.backend.backend() == "jax" else "cond"


def gated(run_block, x, gate, state, mode="auto"):
    """``run_block()`` where ``gate`` holds, else ``x``.

    Args:
        run_block: no-argument callable computing the block on ``x``.
        x: the block input, returned unchanged when the block is skipped.
        gate: ``None``/``True`` (run), ``False`` (skip) or a scalar bool tensor.
        state: the block's non-trainable variables (BatchNorm statistics),
            left untouched when the block is skipped.
        mode: ``"auto"``, ``"cond"`` or ``"mask"``.
    """
    if gate is None or gate is True:
        return run_block()
    if gate is False:
        return x
    gate = ops.cast(ops.reshape(gate, ()), "bool")
    if resolve_mode(mode) == "cond":
        return ops.cond(gate, run_block, lambda: x)
    before = [ops.convert_to_tensor(v.value) for v in state]
    y = run_block()
    for variable, old in zip(state, before):
        variable.assign(ops.where(gate, variable.value, old))
    return ops.where(gate, y, x)


class GatedBlock(keras.layers.Layer):
    """Base of blocks a trainer can turn into the identity for a step.

    Subclasses set ``self.filters`` and ``self.strides``, set
    ``self.can_skip`` in ``build`` and implement ``_run(inputs, training)``;
    ``skip_mode`` is ``"auto"``, ``"cond"`` or ``"mask"``.
    """

    def __init__(self, skip_mode="auto", **kwargs):
        super().__init__(**kwargs)
        resolve_mode(skip_mode)
        self.skip_mode = skip_mode

    def call(self, inputs, training=None, gate=None):
        if gate is not None and gate is not True and not self.can_skip:
            raise ValueError(
                f"Block {self.name!r} changes the shape of its input and cannot "
                f"be skipped. Received: gate={gate}"
            )
        return gated(
            lambda: self._run(inputs, training),
            inputs,
            gate,
            self.non_trainable_variables,
            self.skip_mode,
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides > 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        return (batch, height, width, self.filters)

    def get_config(self):
        return {**super().get_config(), "skip_mode": self.skip_mode}
