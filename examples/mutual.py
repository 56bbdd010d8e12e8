"""Two peers trained independently vs deep mutual learning vs DCM.

yao2020 (DCM) and Zhang et al. 2018 (DML, zhang2018): two networks trained together
from scratch. At small defaults (CPU-sized) this trains each configuration
for a few epochs on a subset of CIFAR-10 and prints a table of each peer's
test accuracy (mean over seeds) plus a plot of validation accuracy per
epoch.

    python examples/mutual.py --output_dir mutual_results \\
        [--models wrn-16-1,wrn-16-1] [--epochs 5] [--train_size 5000] [--seeds 0,1]

Training follows the DCM supplementary's recipe (``keras_kd.recipes``,
``--print_recipe``), T = 1: for WRNs, and for two different backbones
("we use the training hyper-parameters of WRN-28-10 to train both
networks"), SGD momentum 0.9, batch 128, lr 0.1 /5 at epochs 60/120/160,
coupled weight decay 5e-4; for two ResNets or MobileNets batch 64, lr 0.1
/10 every 60 epochs, weight decay 1e-4. ``--preset=paper`` runs it as
printed: all images, 200 epochs.
"""

import keras
import numpy as np
from absl import app, flags

import common
import keras_kd as kd

flags.adopt_module_key_flags(common)  # --help lists the shared flags too
flags.DEFINE_list("models", ["wrn-16-1", "wrn-16-1"], "The two peers (registry names).")
FLAGS = flags.FLAGS

PAPER = {"train_size": 0, "seeds": ["0"]}


def recipe():
    """yao2020's recipe of the peers' family; the WRN one for different backbones."""
    families = {kd.recipes.model_family(name) for name in FLAGS.models}
    return kd.recipes.get_recipe("yao2020", family=families.pop() if len(families) == 1 else "wrn")

CONFIGS = ("independent", "dml", "dcm")


def run(config, seed, train, test, info):
    keras.utils.set_random_seed(seed)
    networks = [common.network(name, info) for name in FLAGS.models]
    if config == "independent":
        trainer = kd.MutualDistiller(networks, kl_weight=0.0, update="simultaneous")  # no peer terms: the order is moot
    else:
        trainer = kd.MutualDistiller(networks, auxiliary=config == "dcm")
    trainer.compile(optimizer=common.optimizer(int(train.cardinality())))
    history = trainer.fit(train, epochs=FLAGS.epochs, validation_data=test, verbose=2)
    accuracies = [history.history[f"val_peer{k}_accuracy"] for k in range(len(networks))]
    return [a[-1] for a in accuracies], accuracies


def plot(curves, path):
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for config, runs in curves.items():
        mean = np.mean([np.mean(peer_curves, axis=0) for peer_curves in runs], axis=0)
        axis.plot(np.arange(1, len(mean) + 1), mean, marker="o", label=config)
    axis.set_xlabel("epoch")
    axis.set_ylabel("test accuracy (mean of peers and seeds)")
    axis.legend()
    common.save_figure(figure, path)


def main(_):
    source = common.start(PAPER, recipe)
    finals = {config: [] for config in CONFIGS}
    curves = {config: [] for config in CONFIGS}
    for seed in common.seeds():
        train, test, info = common.datasets(source, seed)
        for config in CONFIGS:
            final, curve = run(config, seed, train, test, info)
            finals[config].append(final)
            curves[config].append(curve)
    header = ["config"] + [f"peer {k} ({m})" for k, m in enumerate(FLAGS.models)] + ["mean"]
    rows = []
    for config in CONFIGS:
        per_peer = np.mean(finals[config], axis=0)
        rows.append([config] + [f"{100 * a:.2f}" for a in per_peer] + [f"{100 * per_peer.mean():.2f}"])
    title = (f"Test accuracy (%) on {common.describe(source)}, mean over seeds {','.join(FLAGS.seeds)}, "
             f"{FLAGS.epochs} epochs, {info['train_examples']} training images")
    output_dir = common.publish("mutual_results", title, [common.markdown_table(header, rows)],
                                {"finals": finals, "curves": curves})
    plot(curves, f"{output_dir}/accuracy.png")


if __name__ == "__main__":
    app.run(main)
