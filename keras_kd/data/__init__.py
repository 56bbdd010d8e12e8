"""Datasets as tf.data pipelines: tfds names, image folders / tar.gz, Tiny-ImageNet, idx files, arrays;
ImageNet-size images decoded per step (``image_size=``).

It imports TensorFlow (tf.data feeds ``fit`` on every backend) lazily, inside
the functions; elsewhere on JAX and torch only ``GKT.fit`` does, to check the
index of a ``tf.data`` dataset (``distillers.tf_data_checks``).
"""

from keras_kd.data.idx import FASHION_MNIST_DIR, load_idx_split, read_idx
from keras_kd.data.pipeline import (
    GRADAUG_CIFAR_SCALES,
    channel_statistics,
    list_split,
    load,
    load_arrays,
    num_examples,
    statistics,
)
from keras_kd.data.sources import list_examples, read_source
