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

import sys

from benchmarks import common

PARAMS = {
    "depth": (28, "WRN depth (6n+4)."),
    "width": (2, "WRN width."),
    "batch": (64, "Batch size."),
    "repeats": (7, "Timed repeats per configuration."),
}
CONFIGS = ("plain", "all_taken", "half_skipped", "half_static")


def half_skipped_gates(net):
    """True for the first half of every stage, False for the rest."""
    gates = []
    for stage in net.stages:
        keep = (len(stage) + 1) // 2
        gates.extend(index < keep for index in range(len(stage)))
    return gates


def gated_model(net, gates, runtime):
    import keras

    if gates is None:
        return net
    gates = [g if block.can_skip else True for g, block in zip(gates(net), net.blocks)]

    class Gated(keras.Model):
        def __init__(self):
            super().__init__()
            self.net = net
            self.gate_values = keras.Variable([float(g) for g in gates], trainable=False)

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


def measure_backend(depth, width, batch, repeats):
    from keras_kd.models import wide_resnet

    x, y = common.random_batch(batch)
    gates = {
        "plain": (None, True),
        "all_taken": (lambda net: [True] * len(net.blocks), True),
        "half_skipped": (half_skipped_gates, True),
        "half_static": (half_skipped_gates, False),
    }
    steps = {
        name: common.classifier_step_fn(gated_model(wide_resnet(depth, width, 10), *gates[name]), x, y)
        for name in CONFIGS
    }
    return common.interleaved_ms(steps, repeats)


def report(results, params):
    rows = []
    for backend, t in results.items():
        plain = t["plain"]["median"]
        rows.append([backend, *(common.ms_cell(t[name]) for name in CONFIGS),
                     *(f"{t[name]['median'] / plain:.2f}" for name in CONFIGS[1:])])
    header = ["backend", *CONFIGS, *(f"{name}/plain" for name in CONFIGS[1:])]
    caption = (f"WRN-{params['depth']}-{params['width']}, batch {params['batch']}, "
               "train-step ms (median, ±half range)")
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
