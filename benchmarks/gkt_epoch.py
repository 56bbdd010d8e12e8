"""Epoch wall time of GKT training against plain training of the same net.

Per backend, in one process, interleaved: an "epoch" of ``steps`` SGD
train steps (``train_on_batch`` over distinct batches of random 32x32 data,
each with its dataset index) of the same CIFAR ResNet trained

* ``plain``: cross-entropy, no gates;
* ``gkt``: ``keras_kd.GKT`` at the paper's defaults (M = 3, q = 0.2), whose
  step runs the sampled subnet;
* optionally ``stodepth`` (``keras_kd.StochasticDepth``, p_L = 0.8) and
  ``st`` (``keras_kd.StimulativeTraining``, two passes per step).

``steps`` should be a multiple of M so every epoch covers whole sampling
loops. Also reported: the skip mechanism of the backend
(``keras_kd.layers.skip``: ``cond`` skips the compute, ``mask`` does not)
and the mean fraction of blocks GKT's sampling runs per step, the ratio's
floor if only the blocks cost time.

Target (issue "GKT", tang2024 Table 13 reports 3.3 h / 3.6 h = 0.92):
gkt / plain <= 0.90 on TensorFlow and torch; on JAX reported with its
mechanism.

    python -m benchmarks.gkt_epoch [--backends ...] [--model resnet-32] [--steps 12]
"""

import sys

from benchmarks import common

PARAMS = {
    "model": ("resnet-32", "Network (keras_kd registry name)."),
    "batch": (64, "Batch size."),
    "steps": (12, "Train steps per timed epoch (a multiple of GKT's M = 3)."),
    "repeats": (3, "Timed epochs per method."),
    "methods": (["plain", "gkt"], "Methods: plain, gkt, stodepth, st."),
}
TRAINERS = ("gkt", "stodepth", "st")


def trainer(method, model, num_examples):
    """The model (plain) or the trainer of ``method`` around it, seeded."""
    import keras_kd as kd

    if method == "plain":
        return model
    if method == "gkt":
        return kd.GKT(model, num_examples, seed=0)
    if method == "stodepth":
        return kd.StochasticDepth(model, seed=0)
    if method == "st":
        return kd.StimulativeTraining(model, seed=0)
    raise ValueError(f"`methods` entries must be plain or one of {TRAINERS}. Received: {method!r}")


def epoch_fn(method, name, batch, steps):
    """A compiled ``method`` and a no-arg callable running one epoch of ``steps``."""
    import keras
    import numpy as np

    import keras_kd as kd

    x, y = common.random_batch(batch * steps)
    index = np.arange(batch * steps)
    model = trainer(method, kd.models.get_model(name, 10), batch * steps)
    loss = None if method in TRAINERS else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(common.sgd(), loss=loss)
    batches = [slice(k * batch, (k + 1) * batch) for k in range(steps)]

    def epoch():
        for rows in batches:
            model.train_on_batch((x[rows], index[rows]) if method in TRAINERS else x[rows], y[rows])

    return epoch


def gkt_block_fraction(name, draws=4000):
    """Mean fraction of blocks a GKT step runs (M = 3 groups of Eq. 1, q = 0.2)."""
    import keras
    import numpy as np

    import keras_kd as kd

    model = kd.models.get_model(name, 10)
    sampler, seed = kd.SubnetSampler(model, q=0.2), keras.random.SeedGenerator(0)
    parent, kept = np.tile(sampler.sizes, (draws, 1)), []
    for _ in range(3):
        parent = keras.ops.convert_to_numpy(sampler.sample(parent, seed))
        kept.append(parent.sum(-1).mean())
    return float(np.mean(kept) / len(model.blocks))


def measure_backend(model, batch, steps, repeats, methods):
    from keras_kd.layers import skip

    if "plain" not in methods:
        raise ValueError(f"`methods` must include 'plain' (the reference). Received: methods={methods}")
    epochs = {method: epoch_fn(method, model, batch, steps) for method in methods}
    return {
        "ms": common.interleaved_ms(epochs, repeats, warmup=1),
        "mechanism": skip.resolve_mode("auto"),
        "gkt_block_fraction": gkt_block_fraction(model),
    }


def report(results, params):
    methods = params["methods"]
    rows = []
    for backend, result in results.items():
        t = result["ms"]
        rows.append([
            backend, result["mechanism"], *(common.ms_cell(t[m]) for m in methods),
            *(f"{t[m]['median'] / t['plain']['median']:.2f}" for m in methods if m != "plain"),
            f"{result['gkt_block_fraction']:.2f}",
        ])
    header = ["backend", "skip mechanism", *(f"{m} ms/epoch" for m in methods),
              *(f"{m}/plain" + (" (≤0.90 TF, torch)" if m == "gkt" else "") for m in methods if m != "plain"),
              "blocks run by GKT"]
    caption = (f"{params['model']}, batch {params['batch']}, {params['steps']}-step epochs of random "
               "32x32 data, ms per epoch (median, ±half range over interleaved repeats)")
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    common.suite_main(sys.modules[__name__])
