"""One of two TensorFlow workers (``TF_CONFIG`` set by the caller) that builds a Distiller under
``tf.distribute.MultiWorkerMirroredStrategy`` and calls ``fit``: prints the error it gets.

    KERAS_BACKEND=tensorflow TF_CONFIG=... python tests/scripts/multi_worker_fit.py
"""

import os

os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd as kd  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    distiller = kd.Distiller(student=kd.models.wide_resnet(10, 1, 3, input_shape=(8, 8, 3)),
                             teacher=kd.models.wide_resnet(10, 1, 3, input_shape=(8, 8, 3)))
    distiller.compile(optimizer="sgd")
try:
    distiller.fit(np.zeros((4, 8, 8, 3), "float32"), np.zeros(4, "int64"), epochs=1, verbose=0)
except RuntimeError as error:
    print(f"RuntimeError: {error}", flush=True)
