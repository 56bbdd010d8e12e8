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

``--res_student=search`` (li2021 §III-B1) searches R_1 with STACNAS' two stages and eq. 3's loss
(``kd.nas.ResStudentSearch``: ``--search_epochs``, ``--search_cells``, ``--search_channels``,
``--params_budget``, ``--mflops_budget``), trains the genotype's network as R_1, and also trains the handcrafted
``--compare_res_student`` (ResNet-14) on the same S_0, for a table with both R_1s. Its CPU-sized
defaults: 5,000 training images, two search stages of 2 epochs over 3 cells of 4 channels (li2019:
80 epochs, 14 and 20 cells, 16 channels: ``--preset=paper``).

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
SEARCH_TRAIN_SIZE = 5000
flags.DEFINE_string("teacher", "wrn-16-2", "Teacher registry name.")
flags.DEFINE_string("teacher_path", None, "A trained teacher .keras file instead of training one.")
flags.DEFINE_integer("teacher_epochs", 10, "Teacher epochs.")
flags.DEFINE_string("student", "resnet-20", "S_0 registry name.")
flags.DEFINE_list("res_students", ["resnet-14", "resnet-8"],
                  "Res-student candidates R_1, R_2, ... (registry names, or 'search': kd.nas.ResStudentSearch)")
flags.DEFINE_string("res_student", None, "R_1 alone, overriding --res_students: a registry name or 'search' "
                    f"(then --train_size defaults to {SEARCH_TRAIN_SIZE}: the search's cost on a CPU).")
flags.DEFINE_list("search_epochs", ["2", "2"], "Epochs of the two search stages (li2019: 80, 80).")
flags.DEFINE_list("search_cells", ["3", "3"], "Cells of the two search networks (li2019: 14, 20).")
flags.DEFINE_integer("search_channels", 4, "Channels of the search networks' first cells (li2019: 16).")
flags.DEFINE_integer("params_budget", None, "The searched R_1's parameter budget; default li2021 Table IV's "
                     "R_1 (S_1 - S_0): 183,000 at 10 classes, 209,000 at 100.")
flags.DEFINE_float("mflops_budget", None, "The searched R_1's budget of li2021 MFLOPs; default li2021 Table IV's "
                   "R_1 (S_1 - S_0): 38 at 10 classes, 40 at 100.")
flags.DEFINE_string("compare_res_student", "resnet-14",
                    "With a searched R_1, also train this handcrafted R_1 on the same S_0 ('' to skip).")
flags.DEFINE_float("threshold_ratio", 0.9, "TH_energy as a share of Energy(S_n, D_v) (eq. 10 is 1.0).")
flags.DEFINE_integer("validation_size", 2000, "Training images held out as D_v for the energies.")
flags.DEFINE_integer("thresholds", 12, "Points on the accuracy-vs-threshold curve.")
FLAGS = flags.FLAGS
common.set_defaults(train_size=10000, epochs=6, seeds=["0"])

DEFAULT_DIR = "reskd_results"
PAPER = {
    "teacher": "resnet-110", "teacher_epochs": 250, "student": "resnet-20", "res_students": ["resnet-14", "resnet-8"],
    "train_size": 0, "validation_size": 5000, "seeds": ["0"],
    "search_epochs": ["80", "80"], "search_cells": ["14", "20"], "search_channels": 16,
}
SEARCH = "search"
TABLE_IV_R1 = {10: (183_000, 38.0), 100: (209_000, 40.0)}  # li2021 Table IV: S_1 minus S_0 params, MFLOPs


def res_student_candidates(info):
    """R_1, R_2, ...: zoo networks, or a ``kd.nas.ResStudentSearch`` for ``search``."""
    names = [FLAGS.res_student] if FLAGS.res_student else FLAGS.res_students
    params, mflops = TABLE_IV_R1.get(info["num_classes"], TABLE_IV_R1[10])
    search = kd.nas.ResStudentSearch(epochs=tuple(int(e) for e in FLAGS.search_epochs),
                                     cells=tuple(int(c) for c in FLAGS.search_cells), channels=FLAGS.search_channels,
                                     params_budget=params if FLAGS.params_budget is None else FLAGS.params_budget,
                                     mflops_budget=mflops if FLAGS.mflops_budget is None else FLAGS.mflops_budget,
                                     seed=common.seeds()[0])
    return names, [search if name == SEARCH else common.network(name, info) for name in names]


def handcrafted_r1(teacher, student, train, info, settings):
    """``--compare_res_student`` trained as R_1 on ``student`` with the stage's loss and recipe."""
    res_student = common.network(FLAGS.compare_res_student, info)
    trainer = kd.distillers.res_student_trainer(res_student, teacher, [student], settings)
    trainer.compile(optimizer=common.optimizer(int(train.cardinality())))
    trainer.fit(train, epochs=FLAGS.epochs, verbose=2)
    return res_student


def images_of(dataset):
    return np.concatenate([np.asarray(images) for images, _ in dataset])


def labels_of(dataset):
    return np.concatenate([np.asarray(labels) for _, labels in dataset])


def cost(models):
    """Summed parameters and MFLOPs of networks evaluated together."""
    profiles = [kd.models.profile(m) for m in models]
    return sum(p["params"] for p in profiles), sum(p["flops"] for p in profiles) / 1e6


def outcome(ensemble, logits, used, y, member_mflops):
    """Accuracy, executed MFLOPs per example and skipped share of Algorithm 2's ``(logits, used)``."""
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
    if FLAGS.res_student == SEARCH and not FLAGS["train_size"].present:
        FLAGS.train_size = SEARCH_TRAIN_SIZE
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
    settings = "cifar100" if info["num_classes"] == 100 else "cifar10"
    res_names, candidates = res_student_candidates(info)
    ensemble, record = kd.distillers.train_reskd(
        teacher, common.network(FLAGS.student, info), candidates,
        train, x_val, optimizer_fn=lambda: common.optimizer(int(train.cardinality())),
        fit_kwargs={"epochs": FLAGS.epochs, "verbose": 2}, threshold_ratio=FLAGS.threshold_ratio,
        directory=os.path.join(output_dir, "stages"), settings=settings,
    )
    kd.files.save_model(ensemble, os.path.join(output_dir, "ensemble.keras"))
    members = ensemble.members
    names = [FLAGS.student] + [name.replace(SEARCH, "NAS") for name in res_names[: len(members) - 1]]
    rows = [("Teacher", FLAGS.teacher, [teacher], record["teacher_energy"]),
            ("S_0 (scratch)", FLAGS.student, [scratch], kd.distillers.dataset_energy(scratch, x_val))]
    for i in range(len(members)):
        label = "-".join(n.removeprefix("resnet-") for n in names[: i + 1])
        rows.append((f"S_{i}" + (" (KD, eq. 3 L2)" if i == 0 else ""), f"Res{label}", members[: i + 1], record["energies"][i]))
    if record["searched"] and FLAGS.compare_res_student:
        keras.utils.set_random_seed(seed)
        handcrafted = [members[0], handcrafted_r1(teacher, members[0], train, info, settings)]
        label = "-".join(n.removeprefix("resnet-") for n in (FLAGS.student, FLAGS.compare_res_student))
        rows.append(("S_1 (handcrafted R_1)", f"Res{label}", handcrafted,
                     kd.distillers.dataset_energy(kd.ResidualEnsemble(handcrafted), x_val)))
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
    accuracy, executed, skipped = outcome(ensemble, *ensemble.predict_adaptive(x_test), y_test, member_mflops)
    table_rows.append([f"S_{len(members) - 1} adaptive (TH={record['threshold']:.3f})", "Algorithm 2",
                       f"{100 * accuracy:.2f}", "", f"{executed:.1f}", f"skipped {100 * skipped:.0f}%"])
    table = common.markdown_table(
        ["model", "architecture", "test acc. (%)", "params (M)", "MFLOPs", "Energy(D_v)"], table_rows
    )
    energies = kd.distillers.energy(ensemble.predict(x_val, verbose=0))
    thresholds = np.quantile(energies, np.linspace(0, 1, FLAGS.thresholds))
    curve = [dict(zip(("accuracy", "mflops", "skipped"), outcome(ensemble, logits, used, y_test, member_mflops)),
                  threshold=float(t))
             for t, (logits, used) in zip(thresholds, ensemble.predict_sweep(x_test, thresholds))]
    title = (f"ResKD on {common.describe(source)}: {info['train_examples']} training images, {FLAGS.epochs} epochs "
             f"per student ({FLAGS.teacher_epochs} teacher), D_v = {FLAGS.validation_size} held-out training "
             f"images, stop rule Energy(S_i) > 0.9 Energy(T), TH_energy = {FLAGS.threshold_ratio} Energy(S_n), backend {keras.backend.backend()}"
             + (f"; R_1 searched (STACNAS, eq. 3): {FLAGS.search_epochs} epochs, {FLAGS.search_cells} cells, "
                f"{FLAGS.search_channels} channels" if record["searched"] else ""))
    common.publish(DEFAULT_DIR, title, [table], {
        "rows": results, "record": record, "adaptive": {"accuracy": accuracy, "mflops": executed, "skipped": skipped},
        "curve": curve, "source": common.describe(source)})
    plot(curve, record["threshold"], os.path.join(output_dir, "figure4.png"))


if __name__ == "__main__":
    app.run(main)
