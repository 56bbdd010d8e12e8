"""Datasets as tf.data pipelines: tfds names, image folders / tar.gz, idx files, arrays.

The only part of keras_kd that imports TensorFlow (tf.data feeds ``fit`` on
every backend); it does so lazily, inside the functions.
"""

from keras_kd.data.idx import FASHION_MNIST_DIR, load_idx_split, read_idx
from keras_kd.data.pipeline import channel_statistics, load, load_arrays, num_examples, statistics
from keras_kd.data.sources import read_source
