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
