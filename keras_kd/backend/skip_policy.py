"""Which mechanism skips a block at run time on the current backend (``skip_mode="auto"``).

Measured on CPU (``benchmarks/skip_block.py``, results in ``benchmarks/RESULTS.md``):
TensorFlow and torch run ``keras.ops.cond`` at full speed and skip the untaken
branch; on XLA (JAX) a conv inside a runtime ``cond`` runs ~55x slower and
BatchNorm inside it leaks tracers, so JAX masks (runs the block, selects its
output with ``where``).
"""

import keras


def auto_mode():
    """``"mask"`` on JAX, ``"cond"`` on TensorFlow and torch."""
    return "mask" if keras.backend.backend() == "jax" else "cond"
