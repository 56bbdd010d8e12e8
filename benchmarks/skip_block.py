"""Cost of the skip switch of ``SwitchableResidualBlock``, per backend.

Times one compiled SGD train step of the same WRN (default WRN-28-2, batch
64, 32x32) four ways, interleaved in one process per backend:

* ``plain``: no gates;
* ``all_taken``: runtime (tensor) gates, every block on;
* ``half_skipped``: runtime gates, the last half of every stage off;
* ``half_static``: Python-bool gates, same blocks off (a separately
  compiled subnet, the way to save compute under JAX's masking).

    python -m benchmarks.skip_block [--backends ...] [--depth 28]
"""

import json

from absl import app, flags

from benchmarks import common

flags.DEFINE_list("backends", list(common.BACKENDS), "Backends to measure.")
flags.DEFINE_bool("worker", False, "Internal: measure the current backend.")
flags.DEFINE_integer("depth", 28, "WRN depth (6n+4).")
flags.DEFINE_integer("width", 2, "WRN width.")
flags.DEFINE_integer("batch", 64, "Batch size.")
flags.DEFINE_integer("repeats", 7, "Timed repeats per configuration.")
FLAGS = flags.FLAGS


def half_skipped_gates(net):
    """True for the first half of every stage, False for the rest."""
    gates = []
    for stage in net.stages:
        keep = (len(stage) + 1) // 2
        gates.extend(index < keep for index in range(len(stage)))
    return gates


def gated_model(gates, runtime):
    import keras

    from keras_kd.models import wide_resnet

    net = wide_resnet(FLAGS.depth, FLAGS.width, 10)
    if gates is None:
        return net
    gates = [g if block.can_skip else True for g, block in zip(gates(net), net.blocks)]

    class Gated(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = net
            self.gate_values = keras.Variable(
                [float(g) for g in gates], trainable=False
            )

        def call(self, x, training=None):
            if runtime:
                block_gates = [
                    self.gate_values[i] > 0.5 if block.can_skip else None
                    for i, block in enumerate(self.net.blocks)
                ]
            else:
                block_gates = gates
            return self.net(x, training=training, block_gates=block_gates)

    return Gated()


def measure_backend():
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((FLAGS.batch, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, FLAGS.batch), 10)
    configs = {
        "plain": (None, True),
        "all_taken": (lambda net: [True] * len(net.blocks), True),
        "half_skipped": (half_skipped_gates, True),
        "half_static": (half_skipped_gates, False),
    }
    steps = {
        name: common.train_step_fn(gated_model(gates, runtime), x, y)
        for name, (gates, runtime) in configs.items()
    }
    timings = common.interleaved_ms(steps, FLAGS.repeats)
    return {name: t[0] for name, t in timings.items()}


def report(results):
    lines = [f"WRN-{FLAGS.depth}-{FLAGS.width}, batch {FLAGS.batch}, train-step ms (median)"]
    for backend, t in results.items():
        lines.append(
            f"{backend:10s} plain={t['plain']:.0f} all_taken={t['all_taken']:.0f} "
            f"half_skipped={t['half_skipped']:.0f} half_static={t['half_static']:.0f}  "
            f"all_taken/plain={t['all_taken'] / t['plain']:.2f} "
            f"half_skipped/plain={t['half_skipped'] / t['plain']:.2f} "
            f"half_static/plain={t['half_static'] / t['plain']:.2f}"
        )
    return "\n".join(lines)


def main(_):
    if FLAGS.worker:
        print(json.dumps(measure_backend()))
        return
    extra = common.forwarded_flags(FLAGS, ("depth", "width", "batch", "repeats"))
    print(report(common.run_per_backend("benchmarks.skip_block", FLAGS.backends, extra)))


if __name__ == "__main__":
    app.run(main)
