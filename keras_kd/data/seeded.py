"""The per-example map both pipelines share: examples with their index and a per-example seed."""

import numpy as np


def seeded_map(items, labels, prepare, shuffle, seed):
    """``tf.data`` of ``prepare(item, label, index, element_seed)`` over the examples, reshuffled every epoch if
    ``shuffle``; ``element_seed`` is a stateless seed pair drawn per example and re-drawn every epoch."""
    import tensorflow as tf

    indices = np.arange(len(labels), dtype=np.int64)
    dataset = tf.data.Dataset.from_tensor_slices((items, labels, indices))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip((dataset, seeds)).map(
        lambda example, element_seed: prepare(*example, element_seed),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
