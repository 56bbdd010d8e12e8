"""KerasTuner search over a Distiller's KD/AT weights and its student's cheap convs.

    python tuning/search.py --source PATH_OR_TFDS_NAME --output_dir DIR \\
        [--teacher wrn-16-2] [--student wrn-16-1] [--tuner random|bayesian|hyperband] \\
        [--max_trials 8] [--epochs 3] [--evaluate_test]

Trains the teacher on the training part (or loads ``--teacher_path``), then
searches ``keras_kd.tuning.HyperDistiller`` knobs on a validation split
carved from train (never test); ``--train_size`` / ``--validation_size``
take random subsets of them. Each knob flag is a fixed value (``4``),
choices (``2,4``) or a range (``1:16``).

Writes to ``--output_dir`` (re-running the same command resumes an
interrupted search and reuses the teacher): ``teacher.keras``, the tuner
state under ``search/``, ``trials.json`` and ``trials.md`` (every trial's
hyperparameters, validation accuracy, student parameters and FLOPs),
``pareto.png`` (validation accuracy vs parameters) and ``student.keras``
(the best trial's student). ``--evaluate_test`` then retrains the best
configuration from scratch for ``--final_epochs`` and writes its test
accuracy to ``test.json`` and the student to ``student_retrained.keras``.

Distributed (KerasTuner's own protocol): run the same command in one chief and N workers that share
``--output_dir``, with ``KERASTUNER_TUNER_ID`` (``chief``, ``tuner0``, ``tuner1``, ...),
``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT`` (the chief's address) set. The chief holds the
oracle and, once every trial is done, writes the results; the workers run the trials. A killed worker
started again with its ID resumes its unfinished trial. The teacher must exist first (``--teacher_path``,
or ``teacher.keras`` in ``--output_dir`` from a previous run), so that no process trains its own.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

import keras_kd as kd  # noqa: E402
from keras_kd.tuning import HyperDistiller, Range  # noqa: E402

flags.DEFINE_string("source", None, "tfds name, image-folder tree or its tar.gz, idx directory.", required=True)
flags.DEFINE_string("output_dir", None, "Where the search, tables, plot and models go.", required=True)
flags.DEFINE_string("teacher", "wrn-16-2", "Teacher model name (keras_kd.models.get_model).")
flags.DEFINE_string("teacher_path", None, "A trained teacher .keras to use instead of training one.")
flags.DEFINE_integer("teacher_epochs", 5, "Epochs to train the teacher.")
flags.DEFINE_float("teacher_learning_rate", 0.05, "Teacher SGD learning rate.")
flags.DEFINE_string("student", "wrn-16-1", "Student model name.")
flags.DEFINE_enum("tuner", "random", ["random", "bayesian", "hyperband"], "KerasTuner search algorithm.")
flags.DEFINE_integer("max_trials", 8, "Trials (random, bayesian).")
flags.DEFINE_integer("epochs", 3, "Epochs per trial (hyperband: its max_epochs).")
flags.DEFINE_integer("train_size", 5000, "Training examples used (random subset; 0: all).")
flags.DEFINE_integer("validation_size", 1000, "Validation examples used (random subset; 0: all).")
flags.DEFINE_float("validation_fraction", 0.1, "Share of the training data held out for validation.")
flags.DEFINE_string("temperature", "1:16", "KD temperature knob (log range).")
flags.DEFINE_string("alpha", "0.5:1", "KD weight knob.")
flags.DEFINE_string("beta", "0,1000", "Attention-transfer weight knob (0: no AT term).")
flags.DEFINE_string("learning_rate", "0.01:0.2", "SGD learning rate knob (log range).")
flags.DEFINE_string("batch_size", "128", "Batch size knob.")
flags.DEFINE_list("blocks", ["S", "G", "B", "BG"], "Student block kinds.")
flags.DEFINE_string("groups", "2,4", "Groups g knob of G/BG blocks ('' for none).")
flags.DEFINE_string("group_size", "", "Channels-per-group knob of G/BG blocks ('' for none).")
flags.DEFINE_string("bottleneck", "2,4", "Bottleneck b knob of B/BG blocks.")
flags.DEFINE_string("residual", "true", "Residual knob: true, false or true,false.")
flags.DEFINE_bool("evaluate_test", False, "Retrain the best configuration and evaluate it on test.")
flags.DEFINE_integer("final_epochs", 6, "Epochs of the --evaluate_test retraining.")
flags.DEFINE_integer("seed", 0, "Seed of the split, the subsets and the search.")
FLAGS = flags.FLAGS

TABLE_HPS = ("block", "residual", "temperature", "alpha", "beta", "learning_rate", "batch_size")


def parse_knob(name, cast=float, log=False):
    """Flag ``name`` as a knob: ``"a:b"`` a Range, ``"a,b"`` choices, ``"a"`` fixed, ``""`` None."""
    text = getattr(FLAGS, name).strip()
    try:
        if not text:
            return None
        if ":" in text:
            low, high = text.split(":")
            return Range(cast(low), cast(high), log=log)
        values = [cast(v) for v in text.split(",")]
    except ValueError as error:
        raise ValueError(f"--{name} must be a value, a,b,... or low:high. Received: --{name}={text!r}") from error
    return values if len(values) > 1 else values[0]


def boolean(text):
    if text.strip().lower() not in ("true", "false"):
        raise ValueError(f"expected true or false, got {text!r}")
    return text.strip().lower() == "true"


def load_subset(split, size):
    """``(images, labels)`` of ``split``, first ``size`` (a random subset; 0: all)."""
    arrays = kd.data.load_arrays(FLAGS.source, split, FLAGS.validation_fraction, FLAGS.seed)
    return tuple(array[: size or None] for array in arrays)


def pipeline(train, other, split, batch_size):
    """tf.data of ``train`` (``split="train"``) or ``other`` (``"test"``), both
    normalized with the statistics of ``train``."""
    source = {"train": train, "test": other}
    return kd.data.load(source, split, batch_size=batch_size, validation_fraction=0, seed=FLAGS.seed)


class PipelineHyperDistiller(HyperDistiller):
    """Builds the tf.data pipelines in ``fit``, at the trial's batch size."""

    def __init__(self, teacher, student, train, validation, **kwargs):
        super().__init__(teacher, student, **kwargs)
        self.train, self.validation = train, validation

    def fit(self, hp, model, *args, **kwargs):
        knobs = {**kwargs, **self.training_knobs(hp)}
        batch_size = knobs.pop("batch_size")
        train = pipeline(self.train, self.validation, "train", batch_size)
        validation = pipeline(self.train, self.validation, "test", batch_size)
        return model.fit(train, validation_data=validation, verbose=2, **knobs)


def load_teacher(train, validation, num_classes):
    """The teacher of --teacher_path, of a previous run, or trained now."""
    path = FLAGS.teacher_path or os.path.join(FLAGS.output_dir, "teacher.keras")
    if os.path.exists(path):
        print(f"Teacher: {path}")
        return kd.files.load_model(path)
    if FLAGS.teacher_path:
        raise FileNotFoundError(f"No such file: --teacher_path={FLAGS.teacher_path!r}")
    teacher = kd.models.get_model(FLAGS.teacher, num_classes, input_shape=train[0].shape[1:])
    teacher.compile(
        optimizer=keras.optimizers.SGD(FLAGS.teacher_learning_rate, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(pipeline(train, validation, "train", 128), epochs=FLAGS.teacher_epochs, verbose=2)
    kd.files.save_model(teacher, path)
    return teacher


def make_tuner(hypermodel):
    common = dict(objective="val_accuracy", seed=FLAGS.seed, directory=FLAGS.output_dir,
                  project_name="search", overwrite=False)
    if FLAGS.tuner == "hyperband":
        return keras_tuner.Hyperband(hypermodel, max_epochs=FLAGS.epochs, factor=3, **common)
    tuner = keras_tuner.RandomSearch if FLAGS.tuner == "random" else keras_tuner.BayesianOptimization
    return tuner(hypermodel, max_trials=FLAGS.max_trials, **common)


def trial_table(records, teacher_cells):
    """The markdown table of the trials, the teacher's row first."""
    front = {r["trial_id"] for r in kd.tuning.pareto_front(records)}
    header = ["trial", "status", *TABLE_HPS, "val_accuracy", "params", "FLOPs", "Pareto"]
    rows = [teacher_cells]
    for r in records:
        hps = r["hyperparameters"]
        cells = [r["trial_id"], r["status"], r["block"], r["residual"]]
        cells += [_format(hps.get(name)) for name in TABLE_HPS[2:]]
        cells += [_format(r["score"]), _format(r.get("params")), _format(r.get("flops"))]
        cells.append("*" if r["trial_id"] in front else "")
        rows.append(cells)
    return kd.files.markdown_table(header, rows) + "\n"


def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value


def thousands_label(value, _):
    """Axis label in thousands at 1, 2 and 5 times a power of ten, else none."""
    return f"{value / 1e3:g}k" if f"{value:.0e}"[0] in "125" else ""


def plot_pareto(records, teacher, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    done = [r for r in records if r["score"] is not None]
    front = kd.tuning.pareto_front(done)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    axes.scatter([r["params"] for r in done], [r["score"] for r in done], label="trials")
    axes.plot([r["params"] for r in front], [r["score"] for r in front], "r-o", label="Pareto front")
    for r in done:
        axes.annotate(f"{r['trial_id']}: {r['block']}", (r["params"], r["score"]),
                      xytext=(4, 4), textcoords="offset points", fontsize=7)
    axes.scatter([teacher["params"]], [teacher["val_accuracy"]], marker="*", s=150, label="teacher")
    axes.set_xscale("log")
    thousands = matplotlib.ticker.FuncFormatter(thousands_label)
    axes.xaxis.set_major_formatter(thousands)
    axes.xaxis.set_minor_formatter(thousands)
    axes.set_xlabel("student parameters (all weights)")
    axes.set_ylabel("validation accuracy")
    axes.set_title(f"{FLAGS.student} students of {FLAGS.teacher}: {FLAGS.tuner} search")
    axes.legend(fontsize=8)
    figure.tight_layout()
    with kd.files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120)
    plt.close(figure)


def write_results(tuner, teacher, train, validation):
    records = kd.tuning.trial_records(tuner)
    logits = teacher.predict(pipeline(train, validation, "test", 256), verbose=0)
    teacher_info = {
        "name": FLAGS.teacher,
        "val_accuracy": float(np.mean(np.argmax(logits, axis=-1) == validation[1])),
        **kd.models.profile(teacher),
    }
    summary = {"backend": keras.backend.backend(), "tuner": FLAGS.tuner, "student": FLAGS.student,
               "teacher": teacher_info, "trials": records}
    out = FLAGS.output_dir
    kd.files.write_json(os.path.join(out, "trials.json"), summary)
    teacher_cells = ["teacher", "", FLAGS.teacher, *[""] * (len(TABLE_HPS) - 1),
                     f"{teacher_info['val_accuracy']:.4g}", f"{teacher_info['params']:,}",
                     f"{teacher_info['flops']:,}", ""]
    table = trial_table(records, teacher_cells)
    kd.files.write_text(os.path.join(out, "trials.md"), table)
    plot_pareto(records, teacher_info, os.path.join(out, "pareto.png"))
    print(table)


def evaluate_test(hypermodel, best_hp, test):
    """Retrains the best configuration from scratch on the search's training
    subset and evaluates its student on ``test``."""
    keras.utils.set_random_seed(FLAGS.seed)
    distiller = hypermodel.build(best_hp)
    hypermodel.fit(best_hp, distiller, epochs=FLAGS.final_epochs)
    student = hypermodel.deployable(distiller)
    batch_size = hypermodel.training_knobs(best_hp)["batch_size"]
    logs = distiller.evaluate(pipeline(hypermodel.train, test, "test", batch_size), return_dict=True, verbose=0)
    kd.files.save_model(student, os.path.join(FLAGS.output_dir, "student_retrained.keras"))
    result = {"hyperparameters": best_hp.values, "final_epochs": FLAGS.final_epochs,
              "test_accuracy": float(logs["accuracy"]), "train_size": len(hypermodel.train[1])}
    kd.files.write_json(os.path.join(FLAGS.output_dir, "test.json"), result)
    print(f"Retrained best configuration: test accuracy {result['test_accuracy']:.4f}")


def search_role():
    """``None`` (one process), ``"chief"`` or ``"worker"``, from KerasTuner's ``KERASTUNER_TUNER_ID``."""
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    return None if tuner_id is None else "chief" if tuner_id == "chief" else "worker"


def main(_):
    knobs = dict(  # parsed first: a bad flag fails before any work
        temperature=parse_knob("temperature", log=True),
        alpha=parse_knob("alpha"),
        beta=parse_knob("beta"),
        learning_rate=parse_knob("learning_rate", log=True),
        batch_size=parse_knob("batch_size", int),
        blocks=FLAGS.blocks,
        groups=parse_knob("groups", int),
        group_size=parse_knob("group_size", int),
        bottleneck=parse_knob("bottleneck", int),
        residual=parse_knob("residual", boolean),
    )
    role = search_role()
    teacher_file = FLAGS.teacher_path or os.path.join(FLAGS.output_dir, "teacher.keras")
    if role is not None and not os.path.exists(teacher_file):
        raise app.UsageError(
            f"A distributed search (KERASTUNER_TUNER_ID={os.environ['KERASTUNER_TUNER_ID']!r}) needs a trained "
            "teacher first, so that no process trains its own: pass --teacher_path (examples/train_teacher.py) "
            f"or run once without KERASTUNER_TUNER_ID. Received: no file {teacher_file!r}")
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    keras.utils.set_random_seed(FLAGS.seed)
    full_train = load_subset("train", 0)
    num_classes = int(full_train[1].max()) + 1
    train = tuple(array[: FLAGS.train_size or None] for array in full_train)
    validation = load_subset("validation", FLAGS.validation_size)
    teacher = load_teacher(train, validation, num_classes)
    hypermodel = PipelineHyperDistiller(teacher, FLAGS.student, train, validation, **knobs)
    tuner = make_tuner(hypermodel)
    search_epochs = {} if FLAGS.tuner == "hyperband" else {"epochs": FLAGS.epochs}
    tuner.search(**search_epochs)
    if role == "worker":  # the chief holds the oracle and writes the results
        return
    write_results(tuner, teacher, train, validation)
    student = hypermodel.deployable(tuner.get_best_models(1)[0])
    kd.files.save_model(student, os.path.join(FLAGS.output_dir, "student.keras"))
    if FLAGS.evaluate_test:
        evaluate_test(hypermodel, tuner.get_best_hyperparameters(1)[0], load_subset("test", 0))


if __name__ == "__main__":
    app.run(main)
