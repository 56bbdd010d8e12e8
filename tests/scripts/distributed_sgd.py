"""Fits a linear model with keras_kd.optimizers.SGD over two CPU devices.

    KERAS_BACKEND=tensorflow python tests/scripts/distributed_sgd.py mirrored
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/scripts/distributed_sgd.py data_parallel

Prints one JSON line: the data, the initial and the final weights, for the
test to compare with its numpy replay (tests/test_optimizers.py).
"""

import json
import sys

import keras
import numpy as np
from distributed_fit import setup


def main(kind):
    scope = setup(kind)
    import keras_kd as kd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 4)).astype("float32")
    y = (x @ rng.standard_normal((4, 3))).astype("float32")
    with scope:
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        initial = [keras.ops.convert_to_numpy(w).tolist() for w in model.weights]
        optimizer = kd.optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)
        model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    final = [keras.ops.convert_to_numpy(w).tolist() for w in model.weights]
    print(json.dumps({"x": x.tolist(), "y": y.tolist(), "initial": initial, "final": final}))


if __name__ == "__main__":
    main(sys.argv[1])
