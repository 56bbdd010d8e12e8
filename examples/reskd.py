"""li2021 (ResKD): residual-guided distillation and sample-adaptive inference.

Trains (or loads) a teacher T, a scratch and a KD student S_0, then runs
Algorithm 1 (``keras_kd.distillers.train_reskd``: S_0 and every R_i trained
with eq. 3 and the L2 of softmaxes at t = 20, tau 0.9 for S_0 (0.5 on
CIFAR-100, chosen by the class count) and 0.1 for R_i): res-students R_1, R_2, ...
trained on the gap T - S_{i-1} until Energy(S_i) > 90% of Energy(T) on a
validation split carved from train; TH_energy = 0.9 Energy(S_n) (eq. 10
with the 90% of li2021 §IV-B2, ``--threshold_ratio``).
Writes a table like Table III (accuracy, params, MFLOPs, validation energy
of T, S_0 and each S_i, plus S_n with Algorithm 2 at TH_energy and the
MFLOPs it executed per example) and Fig. 4 (test accuracy and executed
MFLOPs vs TH_energy). Stages are saved in ``--output_dir/stages``: a re-run
resumes after the last finished stage. The deployable student S_n with its
threshold is saved as ``--output_dir/ensemble.keras``, which
``python -m benchmarks.run --suite reskd_adaptive`` times.

    python examples/reskd.py --output_dir reskd_results \\
        [--teacher wrn-16-2] [--student resnet-20] [--res_students resnet-14,resnet-8] \\
        [--train_size 10000] [--epochs 6] [--teacher_epochs 10]

Defaults are CPU-sized: li2021's student and res-students with a WRN-16-2
teacher, which learns far faster than a deep ResNet in a few epochs (a
ResNet-32 trained 10 epochs here was worse than a ResNet-14 trained 6).
``--preset=paper``:
ResNet-110 -> ResNet-20 with ResNet-14 / ResNet-8 res-students, all images,
250 epochs, lr 0.1 /10 at 150 and 200, coupled weight decay 1e-4, as in
li2021 §IV-A (``keras_kd.recipes``, ``--print_recipe``).
"""

import os

import keras
import numpy as np
from absl import app, flags

import common
import keras_kd as kd

flags.adopt_module_key_flags(common)  # --help lists the shared flags too
flags.DEFINE_string("teacher", "wrn-16-2", "Teacher registry name.")
flags.DEFINE_string("teacher_path", None, "A trained teacher .keras file instead of training one.")
flags.DEFINE_integer("teacher_epochs", 10, "Teacher epochs.")
flags.DEFINE_string("student", "resnet-20", "S_0 registry name.")
flags.DEFINE_list("res_students", ["resnet-14", "resnet-8"], "Res-student candidates R_1, R_2, ...")
flags.DEFINE_float("threshold_ratio", 0.9, "TH_energy as a share of Energy(S_n, D_v) (eq. 10 is 1.0).")
flags.DEFINE_integer("validation_size", 2000, "Training images held out as D_v for the energies.")
flags.DEFINE_integer("thresholds", 12, "Points on the accuracy-vs-threshold curve.")
FLAGS = flags.FLAGS
common.set_defaults(train_size=10000, epochs=6, seeds=["0"])

DEFAULT_DIR = "reskd_results"
PAPER = {
    "teacher": "resnet-110", "teacher_epochs": 250, "student": "resnet-20", "res_students": ["resnet-14", "resnet-8"],
    "train_size": 0, "validation_size": 5000, "seeds": ["0"],
}


def images_of(dataset):
    return np.concatenate([np.asarray(images) for images, _ in dataset])


def labels_of(dataset):
    return np.concatenate([np.asarray(labels) for _, labels in dataset])


def cost(models):
    """Summed parameters and MFLOPs of networks evaluated together."""
    profiles = [kd.models.profile(m) for m in models]
    return sum(p["params"] for p in profiles), sum(p["flops"] for p in profiles) / 1e6


def adaptive(ensemble, threshold, x, y, member_mflops):
    """Accuracy and executed MFLOPs per example of Algorithm 2 at ``threshold``."""
    ensemble.threshold = float(threshold)
    logits, used = ensemble.predict_adaptive(x)
    executed = np.cumsum(member_mflops)[used - 1].mean()
    return float(np.mean(np.argmax(logits, -1) == y)), float(executed), ensemble.skipped_fraction(used)


def plot(curve, threshold, path):
    plt = common.pyplot()
    figure, left = plt.subplots(figsize=(6, 4))
    thresholds = [point["threshold"] for point in curve]
    left.plot(thresholds, [100 * point["accuracy"] for point in curve], "o-", color="tab:blue")
    left.set_xlabel("TH_energy")
    left.set_ylabel("test accuracy (%)", color="tab:blue")
    right = left.twinx()
    right.plot(thresholds, [point["mflops"] for point in curve], "s--", color="tab:red")
    right.set_ylabel("executed MFLOPs per example", color="tab:red")
    left.axvline(threshold, color="gray", linestyle=":", label="TH_energy = Energy(S_n, D_v)")
    left.legend(fontsize=8, loc="lower right")
    common.save_figure(figure, path)


def main(_):
    source = common.start(PAPER, lambda: kd.recipes.get_recipe("li2021", FLAGS.student))
    seed = common.seeds()[0]
    output_dir = FLAGS.output_dir or DEFAULT_DIR
    train, test, info = common.datasets(source, seed, validation_size=FLAGS.validation_size)
    x_val, x_test, y_test = images_of(info["validation"]), images_of(test), labels_of(test)
    keras.utils.set_random_seed(seed)
    teacher = common.fit_or_load(FLAGS.teacher_path, lambda: common.network(FLAGS.teacher, info), train,
                                 FLAGS.teacher_epochs)
    keras.utils.set_random_seed(seed)
    scratch = common.train_student(common.network(FLAGS.student, info), train)
    keras.utils.set_random_seed(seed)
    ensemble, record = kd.distillers.train_reskd(
        teacher, common.network(FLAGS.student, info),
        [common.network(name, info) for name in FLAGS.res_students],
        train, x_val, optimizer_fn=lambda: common.optimizer(int(train.cardinality())),
        fit_kwargs={"epochs": FLAGS.epochs, "verbose": 2}, threshold_ratio=FLAGS.threshold_ratio,
        directory=os.path.join(output_dir, "stages"), settings="cifar100" if info["num_classes"] == 100 else "cifar10",
    )
    kd.files.save_model(ensemble, os.path.join(output_dir, "ensemble.keras"))
    members = ensemble.members
    names = [FLAGS.student] + FLAGS.res_students[: len(members) - 1]
    rows = [("Teacher", FLAGS.teacher, [teacher], record["teacher_energy"]),
            ("S_0 (scratch)", FLAGS.student, [scratch], kd.distillers.dataset_energy(scratch, x_val))]
    for i in range(len(members)):
        label = "-".join(n.removeprefix("resnet-") for n in names[: i + 1])
        rows.append((f"S_{i}" + (" (KD, eq. 3 L2)" if i == 0 else ""), f"Res{label}", members[: i + 1], record["energies"][i]))
    table_rows, results = [], []
    for row, architecture, models, row_energy in rows:
        logits = kd.ResidualEnsemble(models).predict(x_test, verbose=0)
        accuracy = float(np.mean(np.argmax(logits, -1) == y_test))
        params, mflops = cost(models)
        results.append({"row": row, "architecture": architecture, "accuracy": accuracy, "params": params,
                        "mflops": mflops, "energy": float(row_energy)})
        table_rows.append([row, architecture, f"{100 * accuracy:.2f}", f"{params / 1e6:.3f}", f"{mflops:.1f}",
                           f"{row_energy:.3f}"])
    member_mflops = [cost([m])[1] for m in members]
    accuracy, executed, skipped = adaptive(ensemble, record["threshold"], x_test, y_test, member_mflops)
    table_rows.append([f"S_{len(members) - 1} adaptive (TH={record['threshold']:.3f})", "Algorithm 2",
                       f"{100 * accuracy:.2f}", "", f"{executed:.1f}", f"skipped {100 * skipped:.0f}%"])
    table = common.markdown_table(
        ["model", "architecture", "test acc. (%)", "params (M)", "MFLOPs", "Energy(D_v)"], table_rows
    )
    energies = kd.distillers.energy(ensemble.predict(x_val, verbose=0))
    curve = [dict(zip(("accuracy", "mflops", "skipped"), adaptive(ensemble, t, x_test, y_test, member_mflops)),
                  threshold=float(t))
             for t in np.quantile(energies, np.linspace(0, 1, FLAGS.thresholds))]
    title = (f"ResKD on {common.describe(source)}: {info['train_examples']} training images, {FLAGS.epochs} epochs "
             f"per student ({FLAGS.teacher_epochs} teacher), D_v = {FLAGS.validation_size} held-out training "
             f"images, stop rule Energy(S_i) > 0.9 Energy(T), TH_energy = {FLAGS.threshold_ratio} Energy(S_n), backend {keras.backend.backend()}")
    common.publish(DEFAULT_DIR, title, [table], {
        "rows": results, "record": record, "adaptive": {"accuracy": accuracy, "mflops": executed, "skipped": skipped},
        "curve": curve, "source": common.describe(source)})
    plot(curve, record["threshold"], os.path.join(output_dir, "figure4.png"))


if __name__ == "__main__":
    app.run(main)
