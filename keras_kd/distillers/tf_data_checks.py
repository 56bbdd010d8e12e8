"""Checks that run inside a ``tf.data`` pipeline, as its batches are read.

A check in the training step cannot raise on JAX (a jitted step has no
runtime errors: an out-of-range ``take`` clamps) and on TF and torch raises
only in some cases; tf.data feeds ``fit`` on every backend, so an
assertion there raises the same ``InvalidArgumentError`` everywhere. Only
reached for a ``tf.data`` dataset, so TensorFlow is imported here lazily
(the one TensorFlow module outside ``keras_kd.data``, which sits above the
distillers).
"""


def with_index_checks(dataset, num_examples):
    """``dataset`` of ``((images, index), labels[, weights])`` batches that
    raises, when a batch is read, unless its indices are in
    ``[0, num_examples)`` and distinct (GKT updates one knowledge row per
    example: two updates of one row in a step would be summed)."""
    import tensorflow as tf

    def check(features, *rest):
        images, index = features
        index64 = tf.cast(index, tf.int64)
        outside = (index64 < 0) | (index64 >= num_examples)
        assertions = [
            tf.debugging.Assert(
                tf.logical_not(tf.reduce_any(outside)),
                [f"Every index must be in [0, num_examples={num_examples}). Received: index=",
                 tf.boolean_mask(index64, outside)[:1]],
            ),
            tf.debugging.Assert(
                tf.equal(tf.size(tf.unique(index64).y), tf.size(index64)),
                ["The indices of a batch must be distinct. Received: index=", index64],
                summarize=64,
            ),
        ]
        with tf.control_dependencies(assertions):
            index = tf.identity(index)
        return ((images, index), *rest)

    return dataset.map(check)
