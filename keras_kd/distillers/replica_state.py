"""Sum-aggregated updates of per-example tables under data parallelism.

Keras' ``Variable.assign_add(delta)`` is ``assign(variable + delta)``. Under
``tf.distribute.MirroredStrategy`` with ``aggregation="sum"`` that sums
every replica's *whole new value*, so a table doubles each step (measured
with two replicas); TensorFlow's native ``assign_add`` sums the deltas only,
which is row-exact. JAX (``keras.distribution.DataParallel``, one global
program) and torch need nothing special.
"""

import keras
from keras import ops


def add_summed(variable, delta):
    """``variable += delta``; under MirroredStrategy the replicas' deltas are summed.

    Args:
        variable: a ``keras.Variable`` created with ``aggregation="sum"``.
        delta: a tensor of the variable's shape.
    """
    native = variable.value
    if keras.backend.backend() == "tensorflow" and hasattr(native, "assign_add"):
        native.assign_add(ops.cast(delta, variable.dtype))
    else:
        variable.assign_add(delta)
