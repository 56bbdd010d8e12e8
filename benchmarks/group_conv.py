"""Train-step time of grouped convolutions, per backend, in one run.

For every group count g it times Keras' ``Conv2D(groups=g)`` and each
``GroupConv2D`` implementation (native, split, depthwise where possible,
dense block-diagonal) plus ``GroupConv2D(implementation="auto")``, and
reports auto's ratio to the fastest.

    python -m benchmarks.group_conv [--backends tensorflow,jax,torch]
"""

import json

from absl import app, flags

from benchmarks import common

flags.DEFINE_list("backends", list(common.BACKENDS), "Backends to measure.")
flags.DEFINE_bool("worker", False, "Internal: measure the current backend.")
flags.DEFINE_integer("batch", 64, "Batch size.")
flags.DEFINE_integer("size", 32, "Spatial size.")
flags.DEFINE_integer("channels", 64, "Input and output channels.")
flags.DEFINE_integer("repeats", 9, "Timed repeats per configuration.")
FLAGS = flags.FLAGS


def candidates(groups, channels):
    names = ["keras_conv2d", "native", "split", "dense", "auto"]
    if groups == channels:
        names.insert(3, "depthwise")
    return names


def build_layer(name, groups):
    import keras

    from keras_kd.layers import GroupConv2D

    if name == "keras_conv2d":
        return keras.layers.Conv2D(
            FLAGS.channels, 3, padding="same", groups=groups, use_bias=False
        )
    return GroupConv2D(
        FLAGS.channels, 3, groups=groups, padding="same", implementation=name
    )


def measure_backend():
    import keras
    import numpy as np

    from keras_kd.layers import group_conv_policy

    rng = np.random.default_rng(0)
    shape = (FLAGS.batch, FLAGS.size, FLAGS.size, FLAGS.channels)
    x = rng.standard_normal(shape).astype("float32")
    y = rng.standard_normal(shape).astype("float32")
    rows = []
    for groups in sorted({1, 2, 4, 16, FLAGS.channels}):
        steps = {
            name: common.train_step_fn(
                keras.Sequential([keras.Input(shape[1:]), build_layer(name, groups)]),
                x,
                y,
            )
            for name in candidates(groups, FLAGS.channels)
        }
        timings = common.interleaved_ms(steps, FLAGS.repeats)
        row = {"groups": groups}
        row.update({name: t[0] for name, t in timings.items()})
        row["auto_choice"] = group_conv_policy.choose(groups, FLAGS.channels)
        rows.append(row)
    return rows


def report(results):
    lines = []
    for backend, rows in results.items():
        lines.append(f"\n## {backend}: train-step ms, batch {FLAGS.batch}, "
                     f"{FLAGS.size}x{FLAGS.size}x{FLAGS.channels}, 3x3")
        for row in rows:
            timings = {k: v for k, v in row.items() if k not in ("groups", "auto_choice")}
            fastest = min(timings.values())
            cells = "  ".join(f"{k}={v:.1f}" for k, v in timings.items())
            lines.append(
                f"g={row['groups']:<3d} {cells}  auto->{row['auto_choice']} "
                f"auto/fastest={timings['auto'] / fastest:.2f}"
            )
    return "\n".join(lines)


def main(_):
    if FLAGS.worker:
        print(json.dumps(measure_backend()))
        return
    extra = common.forwarded_flags(FLAGS, ("batch", "size", "channels", "repeats"))
    results = common.run_per_backend("benchmarks.group_conv", FLAGS.backends, extra)
    print(report(results))


if __name__ == "__main__":
    app.run(main)
