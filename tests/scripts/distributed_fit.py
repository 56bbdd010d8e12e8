"""Fits a KD+AT Distiller under a data-parallel setup over two CPU devices.

    KERAS_BACKEND=tensorflow python tests/scripts/distributed_fit.py mirrored
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/scripts/distributed_fit.py data_parallel

Prints one JSON line: the final loss and whether the teacher was untouched.
"""

import contextlib
import json
import sys

import keras
import numpy as np


def setup(kind):
    if kind == "mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope()
    devices = keras.distribution.list_devices("cpu")
    assert len(devices) == 2, devices
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return contextlib.nullcontext()


def main(kind):
    scope = setup(kind)
    import keras_kd as kd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 5, 32)
    with scope:
        teacher = kd.models.wide_resnet(16, 2, 5, input_shape=(8, 8, 3))
        student = kd.models.wide_resnet(16, 1, 5, input_shape=(8, 8, 3))
        before = [keras.ops.convert_to_numpy(w).copy() for w in teacher.weights]
        distiller = kd.Distiller(student, teacher, losses=[
            kd.losses.KD(4.0, 0.9), kd.losses.AttentionTransfer(1e3)])
        distiller.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=8, epochs=2, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in teacher.weights]
    print(json.dumps({
        "loss": history.history["loss"][-1],
        "kd_loss": history.history["kd_loss"][-1],
        "teacher_unchanged": all(np.array_equal(a, b) for a, b in zip(before, after)),
    }))


if __name__ == "__main__":
    main(sys.argv[1])
