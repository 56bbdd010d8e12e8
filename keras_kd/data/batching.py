"""How ``load`` batches a split, and what it does with the examples left over after the last full batch.

With one process the last batch may be smaller (``remainder="keep"``). Data-parallel training over
several processes (``keras.distribution.initialize`` + ``DataParallel`` on JAX) splits each global
batch between the processes (Keras' ``distribute_dataset``: re-batch to ``batch_size / num_processes``,
then shard), so a smaller last batch leaves them with unequal batches: one process waits in a collective
the others never join (a hang), or they run steps on different amounts of data and silently diverge.
There every batch must be full:

* ``"drop"``: the last incomplete batch is left out (a different set of examples each epoch when the split
  is reshuffled) - the default for ``"train"`` in several processes;
* ``"pad"`` (evaluation splits only): the last batch is filled up to ``batch_size`` with repeats of its own
  examples at sample weight 0, and every batch carries sample weights - the default for ``"validation"``
  and ``"test"`` in several processes, where dropping examples would bias the metrics. The real examples
  weigh ``padded count / real count`` (e.g. 10,240 / 10,000 for CIFAR's test split at batch 512), so that
  Keras' evaluation loss (each batch's weighted sum over its size, batches weighed by size) and every
  weighted metric (``compile(weighted_metrics=[...])``) equal those of the real examples alone. Metrics
  compiled as ``metrics=`` ignore sample weights in Keras and count the repeats; terms relating the
  examples of a batch (CC, PKT, RKD, SP) see them in the last batch.
"""

from keras_kd.backend.processes import process_count
from keras_kd.validation import check_choice

REMAINDERS = ("keep", "drop", "pad")


def resolve_remainder(remainder, split):
    """``remainder`` checked, or its default: ``"keep"`` in one process; ``"drop"`` for the ``"train"``
    split and ``"pad"`` for the others in several."""
    check_choice(remainder, "remainder", REMAINDERS, allow_none=True)
    training = split == "train"
    processes = process_count()
    if remainder is None:
        remainder = "keep" if processes == 1 else "drop" if training else "pad"
    if remainder == "keep" and processes > 1:
        raise ValueError(
            f"remainder='keep' leaves the {processes} processes of this job with unequal last batches (a hang "
            "or silently different updates): use remainder='drop' (training) or 'pad' (evaluation: zero "
            "sample weights). Received: remainder='keep'")
    if remainder == "pad" and training:
        raise ValueError(
            "remainder='pad' is for evaluation: in training the repeats would enter batch statistics and the "
            "per-example state of GKT and CRD, and the weights would rescale the steps. Train with "
            f"remainder='drop'. Received: remainder='pad', split={split!r}")
    return remainder


def batch_examples(dataset, batch_size, remainder, num_examples):
    """``dataset`` of ``num_examples`` ``(features, label)`` examples in batches of ``batch_size`` with
    ``remainder``'s policy (see the module); ``"pad"`` adds float32 sample weights to every batch."""
    import tensorflow as tf

    if remainder != "pad":
        return dataset.batch(batch_size, drop_remainder=remainder == "drop")
    padded_count = -(-num_examples // batch_size) * batch_size
    real_weight = padded_count / num_examples

    def fill(features, labels):
        count = tf.shape(labels)[0]
        positions = tf.range(batch_size)
        rows = positions % count  # the batch's own examples again, in order
        features, labels = tf.nest.map_structure(lambda t: tf.gather(t, rows), (features, labels))
        return features, labels, tf.where(positions < count, real_weight, 0.0)

    return dataset.batch(batch_size).map(fill, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
