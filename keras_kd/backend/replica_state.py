"""In-place row updates of per-example tables, exact under data parallelism.

A per-example table (GKT's group knowledge, tang2024) is updated on the
batch's rows only: the cost of a step is O(batch x row size) whatever the
table's size (a dense delta of the whole table made a GKT step on torch
30% slower at CIFAR-100 size and would not fit at ImageNet size).

* TensorFlow: ``tf.Variable.scatter_add`` with ``IndexedSlices``, in place.
  Under ``tf.distribute.MirroredStrategy`` with ``aggregation="sum"`` the
  replicas' slices are summed and every replica applies all of them, so
  each row is updated exactly once (a per-row ``scatter_update`` there loses
  rows, as measured with TF 2.21; Keras' ``assign_add`` sums whole new values and
  doubles the table).
* JAX: a scatter in the one global program (``keras.distribution.
  DataParallel`` included), in place because Keras donates the train state.
* torch: ``index_add_`` on the variable's tensor.
"""

import keras
from keras import ops


def add_to_rows(variable, rows, delta):
    """``variable[rows] += delta``, touching only those rows.

    Args:
        variable: a ``keras.Variable`` (rows along axis 0), created with
            ``aggregation="sum"`` when it may be mirrored.
        rows: 1-D integer tensor of row numbers, distinct across the global
            batch.
        delta: tensor of shape ``(len(rows),) + variable.shape[1:]``.
    """
    delta = ops.cast(delta, variable.dtype)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variable.value.scatter_add(tf.IndexedSlices(delta, rows))
    elif backend == "torch":
        variable.value.index_add_(0, rows, delta)
    else:
        variable.assign(ops.scatter_update(variable.value, rows[:, None], delta, reduction="add"))


def _tf_replica():
    """``(replica id, replicas in sync)`` of TensorFlow's current replica context, else ``(0, 1)``."""
    if keras.backend.backend() != "tensorflow":
        return 0, 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    return (0, 1) if context is None else (context.replica_id_in_sync_group, context.num_replicas_in_sync)


def replica_share(loss):
    """``loss`` divided by the replicas in sync under ``tf.distribute`` (TensorFlow), else ``loss``.

    Each replica's gradients are summed across replicas, so each replica's loss, a mean over its part of
    the batch, must count for its share of the global mean, as Keras' own losses do
    (``keras.losses.Loss``); a trainer's loss built from its parts needs it too, else two replicas take
    twice the step of one device. ``keras.distribution`` (JAX) runs one global program: nothing to do.
    """
    replicas = _tf_replica()[1]
    return loss if replicas == 1 else loss * (1.0 / replicas)


def replica_whole(loss):
    """The inverse of ``replica_share``: a Keras loss' value (already divided by the replicas) made whole."""
    replicas = _tf_replica()[1]
    return loss if replicas == 1 else loss * float(replicas)


def replica_uniform(shape, seed_generator, dtype="float32", maxval=1):
    """``keras.random.uniform`` (floats in [0, 1)) or ``randint`` (``dtype`` int32, in [0, maxval)) drawn
    from ``seed_generator``, distinct on each replica of ``tf.distribute``, where every replica would
    otherwise read the same generator state and draw the same numbers for its examples."""
    replica, replicas = _tf_replica()
    if replicas == 1:
        if dtype == "int32":
            return keras.random.randint(shape, 0, maxval, dtype="int32", seed=seed_generator)
        return keras.random.uniform(shape, dtype=dtype, seed=seed_generator)
    import tensorflow as tf

    seed = tf.cast(seed_generator.next(), "int32") + tf.stack([0, tf.cast(replica, "int32")])
    if dtype == "int32":
        return tf.random.stateless_uniform(shape, seed, minval=0, maxval=maxval, dtype="int32")
    return tf.random.stateless_uniform(shape, seed, dtype=dtype)
