"""Trains a Distiller (KD + AT) on JAX's two CPU devices, its convolution and dense kernels sharded over the
``model`` axis of a (1, 2) mesh (``keras.distribution.ModelParallel``), or on one device; saves the student's
weights.

    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \\
        python tests/scripts/model_parallel_fit.py model_parallel|one_device OUT.npz
"""

import sys

import keras
import numpy as np


def main(kind, out):
    if kind == "model_parallel":
        mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], keras.distribution.list_devices("cpu"))
        layout = keras.distribution.LayoutMap(mesh)
        layout[".*dense.*kernel"] = (None, "model")
        layout[".*conv.*kernel"] = (None, None, None, "model")
        keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layout,
                                                                             batch_dim_name="batch"))
    import keras_kd as kd

    keras.utils.set_random_seed(0)
    student, teacher = (kd.models.wide_resnet(10, 2, 4, input_shape=(8, 8, 3), name=n) for n in ("s", "t"))
    if kind == "model_parallel":  # the layout applies: kernels split over the two devices
        assert all(len(w.value.sharding.device_set) == 2 for w in student.weights if "kernel" in w.path)
    distiller = kd.Distiller(student=student, teacher=teacher,
                             losses=[kd.losses.KD(), kd.losses.AttentionTransfer(1e3)])
    distiller.compile(keras.optimizers.SGD(0.1))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8, 8, 3)).astype("float32"), rng.integers(0, 4, 16)
    distiller.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.savez(out, *[keras.ops.convert_to_numpy(w) for w in student.weights])


if __name__ == "__main__":
    main(*sys.argv[1:])
