"""The main job: teacher, scratch student and distilled student, side by side.

Trains (or loads) a teacher, then the same student twice with the same
budget -- from labels alone and distilled from the teacher -- and prints the
three test accuracies. ``--source=auto`` uses the best real data present: the
CIFAR-10 JPEGs (``$KERAS_KD_CIFAR10`` or ``../shared/data`` beside the
repository), else Fashion-MNIST from the Debian package.

    python examples/distill.py [--method kd|at|kd+at|hint] [--student_block "B(4)"] \\
        [--teacher_path teacher.keras] [--epochs 4] [--train_size 20000] [--output_dir out]

Defaults (a few minutes per run on 2 CPU cores): WRN-16-2 teacher, WRN-16-2
``B(4)`` student (crowley2018's bottleneck block), Hinton KD with T=4,
alpha=0.9, crowley2018's recipe (``--print_recipe``). ``--preset=paper`` runs
it as printed: all images, 200 epochs, lr x0.2 at epochs 60/120/160.
"""

import os
import time

import keras
from absl import app, flags

import common
import keras_kd as kd

flags.adopt_module_key_flags(common)  # --help lists the shared flags too
flags.DEFINE_string("teacher", "wrn-16-2", "Teacher registry name (ignored with --teacher_path).")
flags.DEFINE_string("teacher_block", "S", "Teacher block notation.")
flags.DEFINE_string("teacher_path", None, "A trained teacher .keras file (examples/train_teacher.py).")
flags.DEFINE_integer("teacher_epochs", 6, "Teacher epochs (a stronger teacher than the students' budget).")
flags.DEFINE_string("student", "wrn-16-2", "Student registry name.")
flags.DEFINE_string("student_block", "B(4)", "Student block notation (cheap convolution).")
flags.DEFINE_enum("method", "kd", list(common.METHODS), "Distillation loss terms.")
flags.DEFINE_float("temperature", 4.0, "KD temperature T.")
flags.DEFINE_float("alpha", 0.9, "Weight of the KD term.")
flags.DEFINE_float("beta", 1e3, "Attention-transfer weight.")
FLAGS = flags.FLAGS
common.set_defaults(train_size=15000, epochs=4, seeds=["0"])

PAPER = {"train_size": 0}


def main(_):
    source = common.start(PAPER, lambda: kd.recipes.get_recipe("crowley2018", FLAGS.student))
    seed = common.seeds()[0]
    started = time.time()
    train, test, info = common.datasets(source, seed)
    keras.utils.set_random_seed(seed)
    teacher = common.fit_or_load(
        FLAGS.teacher_path, lambda: common.network(FLAGS.teacher, info, FLAGS.teacher_block), train, FLAGS.teacher_epochs
    )
    keras.utils.set_random_seed(seed)
    scratch = common.train_student(common.network(FLAGS.student, info, FLAGS.student_block), train)
    keras.utils.set_random_seed(seed)
    student = common.network(FLAGS.student, info, FLAGS.student_block)
    common.train_student(student, train, teacher, FLAGS.method)
    rows = [
        ("teacher", f"{FLAGS.teacher} {FLAGS.teacher_block}" if not FLAGS.teacher_path else FLAGS.teacher_path, teacher),
        ("scratch student", f"{FLAGS.student} {FLAGS.student_block}", scratch),
        (f"{FLAGS.method} student", f"{FLAGS.student} {FLAGS.student_block}", student),
    ]
    results = [
        {"run": run, "model": name, "accuracy": common.accuracy(model, test), "params": kd.models.profile(model)["params"]}
        for run, name, model in rows
    ]
    table = common.markdown_table(
        ["run", "model", "test accuracy (%)", "params"],
        [(r["run"], r["model"], f"{100 * r['accuracy']:.2f}", f"{r['params']:,}") for r in results],
    )
    minutes = (time.time() - started) / 60
    title = (f"{common.describe(source)}, {info['train_examples']} training images, {FLAGS.epochs} epochs per "
             f"student, seed {seed}, backend {keras.backend.backend()}, {minutes:.1f} min")
    output_dir = common.publish(None, title, [table], {"results": results, "source": common.describe(source)})
    if output_dir:
        plot(results, os.path.join(output_dir, "accuracy.png"))


def plot(results, path):
    """Test accuracy of the three runs, one bar each."""
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.bar([r["run"] for r in results], [100 * r["accuracy"] for r in results], color=["tab:gray", "tab:blue", "tab:green"])
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(f"{FLAGS.method}: {FLAGS.student} {FLAGS.student_block} from {FLAGS.teacher}")
    common.save_figure(figure, path)


if __name__ == "__main__":
    app.run(main)
