"""Two peers trained independently vs deep mutual learning vs DCM.

yao2020 (DCM) and Zhang et al. 2018 (DML): two networks trained together
from scratch. At small defaults (CPU-sized) this trains each configuration
for a few epochs on a subset of CIFAR-10 and prints a table of each peer's
test accuracy (mean over seeds) plus a plot of validation accuracy per
epoch.

    python examples/mutual.py --source path/to/cifar10-jpg.tar.gz \\
        [--models wrn-16-1,wrn-16-1] [--epochs 5] [--train_size 5000] [--seeds 0,1]

Settings follow the DCM supplementary at small scale: SGD momentum 0.9,
lr 0.1 (cosine decay), weight decay 5e-4, batch 128, T = 1.
"""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import keras_kd as kd  # noqa: E402

flags.DEFINE_string("source", "cifar10", "Dataset source for keras_kd.data.load.")
flags.DEFINE_list("models", ["wrn-16-1", "wrn-16-1"], "The two peers (registry names).")
flags.DEFINE_integer("epochs", 5, "Epochs per run.")
flags.DEFINE_integer("train_size", 5000, "Training examples used (0: all).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds; each configuration runs once per seed.")
flags.DEFINE_string("output_dir", "mutual_results", "Where the table, JSON and plot go.")
FLAGS = flags.FLAGS

CONFIGS = ("independent", "dml", "dcm")


def datasets(seed):
    def subset(split, size):
        images, labels = kd.data.load_arrays(FLAGS.source, split, seed=seed)
        return (images[:size], labels[:size]) if size else (images, labels)

    train = subset("train", FLAGS.train_size)
    arrays = {"train": train, "test": kd.data.load_arrays(FLAGS.source, "test")}
    load = lambda split, **kw: kd.data.load(  # noqa: E731
        arrays, split, batch_size=FLAGS.batch_size, seed=seed, validation_fraction=0, **kw
    )
    return load("train"), load("test")


def peers(num_classes):
    return [kd.models.get_model(name, num_classes=num_classes) for name in FLAGS.models]


def run(config, seed, train, test, steps):
    keras.utils.set_random_seed(seed)
    networks = peers(10)
    if config == "independent":
        trainer = kd.MutualDistiller(networks, kl_weight=0.0)
    else:
        trainer = kd.MutualDistiller(networks, auxiliary=config == "dcm")
    schedule = keras.optimizers.schedules.CosineDecay(0.1, FLAGS.epochs * steps)
    trainer.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9, weight_decay=5e-4))
    history = trainer.fit(train, epochs=FLAGS.epochs, validation_data=test, verbose=2)
    accuracies = [history.history[f"val_peer{k}_accuracy"] for k in range(len(networks))]
    return [a[-1] for a in accuracies], accuracies


def plot(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for config, runs in curves.items():
        mean = np.mean([np.mean(peer_curves, axis=0) for peer_curves in runs], axis=0)
        axis.plot(np.arange(1, len(mean) + 1), mean, marker="o", label=config)
    axis.set_xlabel("epoch")
    axis.set_ylabel("test accuracy (mean of peers and seeds)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(_):
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    finals = {config: [] for config in CONFIGS}
    curves = {config: [] for config in CONFIGS}
    for seed in map(int, FLAGS.seeds):
        train, test = datasets(seed)
        steps = int(train.cardinality())
        for config in CONFIGS:
            final, curve = run(config, seed, train, test, steps)
            finals[config].append(final)
            curves[config].append(curve)
    lines = [f"| config | {' | '.join(f'peer {k} ({m})' for k, m in enumerate(FLAGS.models))} | mean |",
             "|---|" + "---|" * (len(FLAGS.models) + 1)]
    for config in CONFIGS:
        per_peer = np.mean(finals[config], axis=0)
        cells = " | ".join(f"{100 * a:.2f}" for a in per_peer)
        lines.append(f"| {config} | {cells} | {100 * per_peer.mean():.2f} |")
    table = "\n".join(lines)
    print(f"\nTest accuracy (%), mean over seeds {FLAGS.seeds}, {FLAGS.epochs} epochs, "
          f"{FLAGS.train_size or 'all'} training images:\n{table}")
    with open(os.path.join(FLAGS.output_dir, "results.md"), "w") as handle:
        handle.write(table + "\n")
    with open(os.path.join(FLAGS.output_dir, "results.json"), "w") as handle:
        json.dump({"finals": finals, "curves": curves, "flags": FLAGS.flag_values_dict()}, handle, default=str)
    plot(curves, os.path.join(FLAGS.output_dir, "accuracy.png"))


if __name__ == "__main__":
    app.run(main)
