"""Train-step time of grouped convolutions, per backend, in one run.

For every group count g it times Keras' ``Conv2D(groups=g)`` and each
``GroupConv2D`` implementation (native, split, depthwise where possible,
dense block-diagonal) plus ``GroupConv2D(implementation="auto")``, and
reports auto's ratio to the fastest.

    python -m benchmarks.group_conv [--backends tensorflow,jax,torch]
"""

import sys

from benchmarks import common

PARAMS = {
    "batch": (64, "Batch size."),
    "size": (32, "Spatial size."),
    "channels": (64, "Input and output channels."),
    "repeats": (9, "Timed repeats per configuration."),
}


def candidates(groups, channels):
    names = ["keras_conv2d", "native", "split", "dense", "auto"]
    if groups == channels:
        names.insert(3, "depthwise")
    return names


def build_layer(name, groups, channels):
    import keras

    from keras_kd.layers import GroupConv2D

    if name == "keras_conv2d":
        return keras.layers.Conv2D(channels, 3, padding="same", groups=groups, use_bias=False)
    return GroupConv2D(channels, 3, groups=groups, padding="same", implementation=name)


def measure_backend(batch, size, channels, repeats):
    import keras
    import numpy as np

    from keras_kd.backend import group_conv_policy

    rng = np.random.default_rng(0)
    shape = (batch, size, size, channels)
    x = rng.standard_normal(shape).astype("float32")
    y = rng.standard_normal(shape).astype("float32")
    rows = []
    for groups in sorted({1, 2, 4, 16, channels}):
        steps = {
            name: common.train_step_fn(
                keras.Sequential([keras.Input(shape[1:]), build_layer(name, groups, channels)]), x, y
            )
            for name in candidates(groups, channels)
        }
        rows.append({
            "groups": groups,
            "auto_choice": group_conv_policy.choose(groups, channels),
            "ms": common.interleaved_ms(steps, repeats),
        })
    return rows


def report(results, params):
    names = ["keras_conv2d", "native", "split", "depthwise", "dense", "auto"]
    table = []
    for backend, rows in results.items():
        for row in rows:
            fastest = min(t["median"] for t in row["ms"].values())
            cells = [common.ms_cell(row["ms"][n]) if n in row["ms"] else "" for n in names]
            ratio = row["ms"]["auto"]["median"] / fastest
            table.append([backend, row["groups"], *cells, row["auto_choice"], f"{ratio:.2f}"])
    caption = (f"Train-step ms, batch {params['batch']}, {params['size']}x{params['size']}"
               f"x{params['channels']}, 3x3 (target: auto/fastest near 1)")
    header = ["backend", "g", *names, "auto chose", "auto/fastest"]
    return common.captioned_table(caption, header, table)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
