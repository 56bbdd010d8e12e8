"""tang2024 (GKT): plain training vs stochastic depth vs stimulative training vs GKT.

Trains the same CIFAR ResNet from scratch four ways with the same budget,
once per seed: plain cross-entropy, stochastic depth (Huang et al. 2016, huang2016,
linear decay to p_L = 0.8), stimulative training (Ye et al. 2022, ye2022, main-net
KL on a uniformly sampled subnet) and group knowledge training (tang2024,
Algorithm 1). Writes a table of test accuracy (mean ± std over seeds) and
wall time per epoch (the first epoch, which compiles, apart), and a plot of
accuracy against epoch time, to ``--output_dir``.

    python examples/gkt.py --output_dir gkt_results \\
        [--model resnet-20] [--methods plain,stodepth,st,gkt] \\
        [--train_size 10000] [--epochs 4] [--seeds 0,1]

Defaults are CPU-sized (estimated 25 min on 2 quiet cores with the CIFAR-10
JPEGs). Times are measured on the backend you run: skipped blocks save
compute on TensorFlow and torch, not on JAX (``keras_kd.layers.skip``).
Training follows tang2024's recipe for the model's family
(``keras_kd.recipes``, ``--print_recipe``); ``--preset=paper`` runs it as
printed: for CIFAR ResNets (from Ye et al. 2022) all images, 500 epochs,
batch 64, lr 0.05 with per-epoch cosine decay, coupled weight decay 3e-4;
for WRNs 200 epochs, batch 128, lr 0.1 cosine, weight decay 5e-4, Nesterov.
GKT beta = 2, alpha = 0.5, M = 3, q = 0.2 (the flag defaults). Both recipes
have the paper's "random scale transformation" (GradAug's, yang2020): every
method's training batches are resized to 32, 28 or 24 pixels
(``keras_kd.data.load(..., random_scale=...)``).
"""

import time

import keras
import numpy as np
from absl import app, flags

import common
import keras_kd as kd

flags.adopt_module_key_flags(common)  # --help lists the shared flags too
METHODS = ("plain", "stodepth", "st", "gkt")
LABELS = {"plain": "plain CE", "stodepth": "StoDepth", "st": "ST", "gkt": "GKT"}

flags.DEFINE_string("model", "resnet-20", "Network (registry name; a residual zoo model).")
flags.DEFINE_list("methods", list(METHODS), f"Training methods, among {', '.join(METHODS)}.")
flags.DEFINE_float("final_survival", 0.8, "StoDepth: survival probability p_L of the last block.")
flags.DEFINE_float("kl_weight", 1.0, "ST: weight lambda of the main-to-subnet KL.")
flags.DEFINE_float("beta", 2.0, "GKT: weight of the group-knowledge KL.")
flags.DEFINE_float("ema", 0.5, "GKT: EMA coefficient alpha of the group knowledge.")
flags.DEFINE_float("q", 0.2, "GKT: base number q of the exponential decay rule.")
flags.DEFINE_integer("num_groups", 3, "GKT: number of groups M.")
FLAGS = flags.FLAGS
common.set_defaults(train_size=10000, epochs=4)

PAPER = {"train_size": 0}


class EpochTimes(keras.callbacks.Callback):
    """Wall-clock seconds of each training epoch (``self.seconds``)."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def trainer(method, model, seed, num_examples):
    """The model itself (plain) or the trainer of ``method`` around it."""
    if method == "plain":
        return model
    if method == "stodepth":
        return kd.StochasticDepth(model, final_survival=FLAGS.final_survival, seed=seed)
    if method == "st":
        return kd.StimulativeTraining(model, kl_weight=FLAGS.kl_weight, seed=seed)
    return kd.GKT(model, num_examples, num_groups=FLAGS.num_groups, beta=FLAGS.beta, ema=FLAGS.ema,
                  q=FLAGS.q, seed=seed)


def run(method, seed, train, test, info):
    """Test accuracy and per-epoch seconds of one method and seed."""
    keras.utils.set_random_seed(seed)
    model = common.network(FLAGS.model, info)
    data = train.map(lambda features, labels: (features[0], labels)) if method == "plain" else train
    times = EpochTimes()
    common.train(trainer(method, model, seed, info["train_examples"]), data, callbacks=[times])
    return common.accuracy(model, test), times.seconds


def later_epochs(seconds):
    """Mean seconds of the epochs after the first (the only one if there is one)."""
    return float(np.mean(seconds[1:] or seconds))


def plot(rows, path):
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for row in rows:
        accuracy = 100 * np.asarray(row["accuracy"])
        spread = accuracy.std(ddof=1) if len(accuracy) > 1 else 0.0
        axis.errorbar(row["epoch_seconds"], accuracy.mean(), yerr=spread, fmt="o", capsize=4,
                      label=LABELS[row["method"]])
    axis.set_xlabel(f"seconds per epoch (after the first), backend {keras.backend.backend()}")
    axis.set_ylabel("test accuracy (%), mean ± std over seeds")
    axis.set_title(f"{FLAGS.model}: accuracy vs training time")
    axis.legend()
    common.save_figure(figure, path)


def main(_):
    unknown = sorted(set(FLAGS.methods) - set(METHODS))
    if unknown:
        raise app.UsageError(f"--methods must be among {METHODS}. Received: {unknown}")
    source = common.start(PAPER, lambda: kd.recipes.get_recipe("tang2024", FLAGS.model))
    runs = {method: {"accuracy": [], "seconds": []} for method in FLAGS.methods}
    for seed in common.seeds():
        train, test, info = common.datasets(source, seed, with_index=True)
        for method in FLAGS.methods:
            accuracy, seconds = run(method, seed, train, test, info)
            runs[method]["accuracy"].append(accuracy)
            runs[method]["seconds"].append(seconds)
            print(f"seed {seed} {method}: accuracy {accuracy:.4f}, epoch seconds {np.round(seconds, 1).tolist()}")
    rows = [{"method": method, "accuracy": r["accuracy"], "seconds": r["seconds"],
             "first_epoch_seconds": float(np.mean([s[0] for s in r["seconds"]])),
             "epoch_seconds": float(np.mean([later_epochs(s) for s in r["seconds"]]))}
            for method, r in runs.items()]
    plain = next((row["epoch_seconds"] for row in rows if row["method"] == "plain"), None)
    cells = [[LABELS[r["method"]], common.mean_std(r["accuracy"]), f"{r['first_epoch_seconds']:.1f}",
              f"{r['epoch_seconds']:.1f}", f"{r['epoch_seconds'] / plain:.2f}" if plain else ""] for r in rows]
    header = ["method", "test accuracy (%)", "first epoch (s)", "later epochs (s)", "epoch time / plain"]
    title = (f"{FLAGS.model} on {common.describe(source)}: {info['train_examples']} training images, "
             f"{FLAGS.epochs} epochs, seeds {','.join(FLAGS.seeds)} (mean ± std), backend "
             f"{keras.backend.backend()}")
    output_dir = common.publish("gkt_results", title, [common.markdown_table(header, cells)],
                                {"rows": rows, "source": common.describe(source)})
    plot(rows, f"{output_dir}/accuracy_vs_time.png")


if __name__ == "__main__":
    app.run(main)
