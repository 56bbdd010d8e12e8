"""crowley2018 (Moonshine): cheap-convolution students, scratch vs KD vs AT.

One teacher; students that keep the teacher's architecture with cheap
blocks substituted (``--blocks``) and reduced architectures with standard
blocks (``--reduced``). Each student is trained from labels ("error"), with
KD (T=4, alpha=0.9; by default in the form of the paper's code,
``--kd_mode``) and with attention transfer (beta=1e3, CE + AT), once per
seed, with crowley2018's recipe (``keras_kd.recipes``, ``--print_recipe``). Writes Table 3's columns (test error %, mean ± std over
seeds, and parameter count) and Figure 3 (AT test error vs parameters, log
x axis) to ``--output_dir``.

    python examples/moonshine.py --output_dir moonshine_results \\
        [--teacher wrn-16-2] [--blocks "G(4),G(N/4),B(2)"] [--reduced wrn-16-1] \\
        [--train_size 5000] [--epochs 4] [--seeds 0,1] [--teacher_path teacher.keras]

Defaults are CPU-sized (94 min wall pinned to one core of a 2-core machine
whose other core ran the test suite): WRN-16-2 teacher, 5,000 training images, 4 epochs per
student, 2 seeds. ``--preset=paper`` is the paper's Table 3: WRN-40-2
teacher, exactly the table's blocks, reduced 16-2 / 40-1 / 16-1, all
images, 200 epochs, SGD momentum 0.9, lr x0.2 at epochs 60/120/160, coupled
weight decay 5e-4 (the reference code's).
"""

import keras
import numpy as np
from absl import app, flags

import common
import keras_kd as kd

flags.adopt_module_key_flags(common)  # --help lists the shared flags too
flags.DEFINE_string("teacher", "wrn-16-2", "Teacher (and cheap-student) architecture.")
flags.DEFINE_string("teacher_path", None, "A trained teacher .keras file instead of training one.")
flags.DEFINE_integer("teacher_epochs", 8, "Epochs of the teacher (trained once, with the first seed).")
flags.DEFINE_list("blocks", ["G(4)", "G(N/4)"], "Cheap blocks substituted into the teacher architecture.")
flags.DEFINE_list("reduced", ["wrn-16-1"], "Reduced architectures with standard (S) blocks.")
flags.DEFINE_list("modes", ["scratch", "kd", "at"], "Training modes per student.")
flags.DEFINE_enum(
    "kd_mode", "moonshine", ["moonshine", "hinton"],
    "KD form: 'moonshine', the reference code's 2 T^2 alpha mean-KL (2 / classes x Hinton's), with which "
    "Table 3 was made, or 'hinton' (keras_kd.losses.KD's default).",
)
FLAGS = flags.FLAGS
common.set_defaults(train_size=5000, epochs=4)

PAPER = {
    "teacher": "wrn-40-2",
    "blocks": ["S-2x2", "G(2)", "G(4)", "G(8)", "G(16)", "G(N/16)", "G(N/8)", "G(N/4)", "G(N/2)", "G(N)",
               "B(2)", "B(4)", "BG(2,2)", "BG(2,4)", "BG(2,8)", "BG(2,16)", "BG(2,M/16)",
               "BG(2,M/8)", "BG(2,M/4)", "BG(2,M/2)", "BG(2,M)", "BG(4,M)"],
    "reduced": ["wrn-16-2", "wrn-40-1", "wrn-16-1"],
    "train_size": 0,
    "teacher_epochs": 200,
    "seeds": ["0"],
}
FAMILIES = {"S": "tab:red", "S-2x2": "tab:purple", "G": "tab:green", "B": "tab:blue", "BG": "tab:cyan"}


def students():
    """``(architecture, block)`` pairs: cheap blocks on the teacher, then reduced S nets."""
    return [(FLAGS.teacher, block) for block in FLAGS.blocks] + [(name, "S") for name in FLAGS.reduced]


def family(block):
    """Figure 3's colour group of a block notation."""
    if block.startswith("S"):
        return block
    return "BG" if block.startswith("BG") else block[0]


def plot(rows, teacher_row, path):
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.5))
    for name, colour in FAMILIES.items():
        members = sorted((r for r in rows if family(r["block"]) == name), key=lambda r: r["params"])
        if not members:
            continue
        params = [r["params"] for r in members]
        label = "reduced S" if name == "S" else name
        if "at" in FLAGS.modes:
            axis.plot(params, [r["error"]["at"] for r in members], "o-", color=colour, label=f"{label} (AT)")
        axis.plot(params, [r["error"]["scratch"] for r in members], "x:", color=colour, alpha=0.6,
                  label=f"{label} (scratch)")
    axis.plot([teacher_row["params"]], [teacher_row["error"]], "k*", markersize=12, label="teacher")
    axis.set_xscale("log")
    axis.set_xlabel("parameters (log scale)")
    axis.set_ylabel("test error (%), mean over seeds")
    axis.legend(fontsize=7)
    common.save_figure(figure, path)


def main(_):
    source = common.start(PAPER, lambda: kd.recipes.get_recipe("crowley2018", FLAGS.teacher))
    seeds = common.seeds()
    train, test, info = common.datasets(source, seeds[0])
    keras.utils.set_random_seed(seeds[0])
    teacher = common.fit_or_load(
        FLAGS.teacher_path, lambda: common.network(FLAGS.teacher, info), train, FLAGS.teacher_epochs
    )
    teacher_row = {"params": kd.models.profile(teacher)["params"], "error": 100 * (1 - common.accuracy(teacher, test))}
    accuracies = {(a, b, m): [] for a, b in students() for m in FLAGS.modes}
    for seed in seeds:
        train, test, info = common.datasets(source, seed)
        for architecture, block in students():
            for mode in FLAGS.modes:
                keras.utils.set_random_seed(seed)
                student = common.train_student(
                    common.network(architecture, info, block), train, teacher, mode, kd_mode=FLAGS.kd_mode
                )
                accuracies[(architecture, block, mode)].append(common.accuracy(student, test))
                print(f"seed {seed} {architecture} {block} {mode}: {accuracies[(architecture, block, mode)][-1]:.4f}")
    rows = []
    for architecture, block in students():
        params = kd.models.profile(common.network(architecture, info, block))["params"]
        runs = {mode: accuracies[(architecture, block, mode)] for mode in FLAGS.modes}
        error = {mode: float(100 * (1 - np.mean(values))) for mode, values in runs.items()}
        rows.append({"architecture": architecture, "block": block, "params": params, "accuracy": runs, "error": error})
    header = ["depth-width", "block", "params"] + [f"{m.upper()} error (%)" if m != "scratch" else "error (%)" for m in FLAGS.modes]
    cells = [[FLAGS.teacher.removeprefix("wrn-"), "S (teacher)", f"{teacher_row['params']:,}",
              f"{teacher_row['error']:.2f}"] + [""] * (len(FLAGS.modes) - 1)]
    for r in rows:
        cells.append([r["architecture"].removeprefix("wrn-"), r["block"], f"{r['params']:,}"]
                     + [common.mean_std([1 - a for a in r["accuracy"][m]]) for m in FLAGS.modes])
    title = (f"Test error on {common.describe(source)}: {info['train_examples']} training images, "
             f"{FLAGS.epochs} epochs per student ({FLAGS.teacher_epochs} for the teacher), "
             f"seeds {','.join(FLAGS.seeds)} (mean ± std), backend {keras.backend.backend()}")
    output_dir = common.publish("moonshine_results", title, [common.markdown_table(header, cells)],
                                {"teacher": teacher_row, "students": rows, "source": common.describe(source)})
    plot(rows, teacher_row, f"{output_dir}/figure3.png")


if __name__ == "__main__":
    app.run(main)
