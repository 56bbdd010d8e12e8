"""jha2020: KD as a substitute for residual connections.

For each table (``--table teachers:students``): residual (R) teachers with
one kind of grouped convolution, and non-residual (NR) students with the
other (jha2020 §5: constant groups ``g<k>`` vs constant group size
``G<k>``). Every student is trained three ways with the same budget -- its
residual version from labels ("Baseline"), its NR version from labels
("NR-baseline"), and its NR version distilled from each teacher (T=4,
alpha=0.9). Writes the paper's rows (Tables 1-6): the KD accuracy per
teacher, Baseline, NR-baseline, "Acc. drop" = Baseline - NR-baseline and
"Distil. gain" = best KD student - Baseline (in points), plus a plot.

    python examples/residual_kd.py --output_dir residual_kd_results \\
        [--network wrn-16-2] [--table "G16:g2,g4"] [--table "g2:G8,G16"] \\
        [--train_size 5000] [--epochs 4] [--seeds 0,1]

Defaults are CPU-sized (43 min wall, 33 min CPU, on a 2-core machine shared
with other jobs). ``--preset=paper`` is
Table 3's setting: WRN-22-2 (dropout 0.3), both tables with g, G in
{2, 4, 8, 16} (teachers G1..G16 / g2..g16), all images, 120 epochs, lr x0.2
at 30/60/90 -- on CIFAR-100 in the paper (``--source cifar100`` with tfds).
"""

import keras
import numpy as np
from absl import app, flags

import common
import keras_kd as kd

flags.adopt_module_key_flags(common)  # --help lists the shared flags too
flags.DEFINE_string("network", "wrn-16-2", "Architecture of teachers and students.")
flags.DEFINE_multi_string("table", ["G16:g2,g4"],
                          "One table per flag: comma-separated R teacher blocks, ':', NR student blocks.")
flags.DEFINE_float("dropout", 0.3, "WRN dropout (jha2020 uses 0.3 for WRN).")
flags.DEFINE_integer("teacher_epochs", 8, "Epochs of each R teacher (trained once, with the first seed).")
FLAGS = flags.FLAGS
common.set_defaults(train_size=5000, epochs=4)

PAPER = {
    "network": "wrn-22-2",
    "table": ["G1,G2,G4,G8,G16:g2,g4,g8,g16", "g2,g4,g8,g16:G2,G4,G8,G16"],
    "train_size": 0,
    "teacher_epochs": 120,
    "seeds": ["0"],
}


def parse_table(text):
    """``"G16,G8:g2,g4"`` -> ``(["G16", "G8"], ["g2", "g4"])``."""
    teachers, separator, students = text.partition(":")
    if not separator or not teachers or not students:
        raise ValueError(f"`--table` must be 'teacher blocks:student blocks'. Received: table={text!r}")
    return teachers.split(","), students.split(",")


def build(info, block, residual=True):
    kwargs = {"dropout": FLAGS.dropout} if FLAGS.network.startswith("wrn") else {}
    return common.network(FLAGS.network, info, block, residual=residual, **kwargs)


def run_table(teacher_blocks, student_blocks, source):
    """Teacher accuracies, and student accuracies (lists over seeds) keyed by row, then block."""
    seeds = common.seeds()
    train, test, info = common.datasets(source, seeds[0])
    teachers = {}
    for block in teacher_blocks:
        keras.utils.set_random_seed(seeds[0])
        teachers[block] = build(info, block)
        common.train(teachers[block], train, epochs=FLAGS.teacher_epochs)
    teacher_accuracy = {block: common.accuracy(teachers[block], test) for block in teacher_blocks}
    rows = {f"R-{block}": {s: [] for s in student_blocks} for block in teacher_blocks}
    rows.update({"Baseline": {s: [] for s in student_blocks}, "NR-baseline": {s: [] for s in student_blocks}})
    for seed in seeds:
        train, test, info = common.datasets(source, seed)
        for student in student_blocks:
            for row, residual, teacher in (
                [("Baseline", True, None), ("NR-baseline", False, None)]
                + [(f"R-{block}", False, teachers[block]) for block in teacher_blocks]
            ):
                keras.utils.set_random_seed(seed)
                network = common.train_student(build(info, student, residual), train, teacher,
                                               "kd" if teacher else "scratch")
                rows[row][student].append(common.accuracy(network, test))
                print(f"seed {seed} {row} -> NR-{student}: {rows[row][student][-1]:.4f}")
    return teacher_accuracy, rows


def summary(rows, teacher_blocks, student_blocks):
    """The table's cells in points: KD per teacher, baselines, drop and gain."""
    mean = {row: {s: 100 * float(np.mean(v)) for s, v in cols.items()} for row, cols in rows.items()}
    teacher_rows = [f"R-{block}" for block in teacher_blocks]
    mean["Acc. drop"] = {s: mean["Baseline"][s] - mean["NR-baseline"][s] for s in student_blocks}
    mean["Distil. gain"] = {s: max(mean[r][s] for r in teacher_rows) - mean["Baseline"][s] for s in student_blocks}
    return mean


def plot(summaries, path):
    plt = common.pyplot()
    figure, axes = plt.subplots(1, len(summaries), figsize=(5 * len(summaries), 3.8), squeeze=False)
    for axis, (name, cells) in zip(axes[0], summaries.items()):
        students = list(cells["Baseline"])
        x = np.arange(len(students))
        axis.bar(x - 0.2, [cells["Acc. drop"][s] for s in students], 0.4, label="accuracy drop (R - NR)")
        axis.bar(x + 0.2, [cells["Distil. gain"][s] for s in students], 0.4, label="distillation gain")
        axis.axhline(0, color="black", linewidth=0.8)
        axis.set_xticks(x, [f"NR-{s}" for s in students])
        axis.set_ylabel("points")
        axis.set_title(name, fontsize=9)
        axis.legend(fontsize=7)
    common.save_figure(figure, path)


def main(_):
    source = common.start(PAPER, lambda: kd.recipes.get_recipe("jha2020", FLAGS.network))
    tables, summaries, payload = [], {}, {}
    for text in FLAGS.table:
        teacher_blocks, student_blocks = parse_table(text)
        teacher_accuracy, rows = run_table(teacher_blocks, student_blocks, source)
        cells = summary(rows, teacher_blocks, student_blocks)
        teachers = ", ".join(f"R-{b} {100 * a:.2f}%" for b, a in teacher_accuracy.items())
        name = f"{FLAGS.network}: R teachers ({teachers} test accuracy) -> NR students"
        header = ["I_t - S_s"] + [f"NR-{s}" for s in student_blocks]
        body = [[row] + [f"{cells[row][s]:.2f}" for s in student_blocks] for row in cells]
        tables.append(f"{name}\n\n{common.markdown_table(header, body)}")
        summaries[name] = cells
        payload[text] = {"teachers": teacher_accuracy, "accuracy": rows, "summary": cells}
    _, _, info = common.datasets(source, 0)
    title = (f"Test accuracy (%) on {common.describe(source)}: {info['train_examples']} training images, "
             f"{FLAGS.epochs} epochs per run ({FLAGS.teacher_epochs} for teachers), mean over seeds {','.join(FLAGS.seeds)}, "
             f"backend {keras.backend.backend()}")
    output_dir = common.publish("residual_kd_results", title, tables,
                                {"tables": payload, "source": common.describe(source)})
    plot(summaries, f"{output_dir}/drop_and_gain.png")


if __name__ == "__main__":
    app.run(main)
