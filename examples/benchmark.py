"""The CRD / mdistiller CIFAR-100 benchmark: every method over the standard teacher -> student pairs.

RepDistiller's protocol (tian2020's code; mdistiller repeats it): 240 epochs, SGD lr 0.05 (0.01 for
MobileNetV2 / ShuffleNet students), momentum 0.9, coupled weight decay 5e-4, batch 64, /10 after epochs 150,
180 and 210 (``kd.recipes.get_recipe("tian2020", student)``); KD at T = 4 with CE 0.1 + KD 0.9, AT with
CE 1 + 1000 AT, every other method at its code's weights (the terms' defaults: ``kd.losses``), DKD's beta per
pair as mdistiller's configs; AB, FT and FSP first run their initialization stage (``--init_epochs``, 30 in
the paper preset, at the run's constant learning rate, FT's at 0.01 on ResNets and WRNs), as RepDistiller's
``train_student.py``. Teachers are trained once from labels with the same recipe and kept in
``--teacher_dir`` (a later run, or a run of other pairs, reuses them); each student runs once per seed.

    python examples/benchmark.py --source cifar100 --download --preset=paper --seeds 0,1,2 \\
        --teacher_dir teachers --output_dir runs/benchmark       # the full protocol: a GPU's job
    python examples/benchmark.py --pairs resnet56:resnet20 --methods vanilla,kd,dkd,crd,at --epochs 5
    python examples/benchmark.py --preset=smoke                 # every method, one pair, a few steps

Writes ``results.md`` laid out as RepDistiller's README (a row per method, a column per pair), each cell
our final-epoch test accuracy, mean ± std over the seeds, beside the published number (RepDistiller's
README, tian2020's Table 1; DKD: mdistiller's README; none for OFD and ReviewKD, which neither README
lists); ``results.json`` keeps every run's accuracy per
epoch (the published numbers are the code's best epoch, so both final and best are recorded). The default
(``--preset=small``) is CPU-sized: the CIFAR-10 JPEGs or Fashion-MNIST (``--source=auto``), 10,000
images, 5 epochs, one seed; numbers from other data are not comparable with the published ones.
"""

import os
import time

import keras
import numpy as np
from absl import app, flags

import common
import keras_kd as kd

PAIRS = ("wrn-40-2:wrn-16-2", "wrn-40-2:wrn-40-1", "resnet56:resnet20", "resnet110:resnet20",
         "resnet110:resnet32", "resnet32x4:resnet8x4", "vgg13:vgg8")
# RepDistiller's README (tian2020 Table 1), CIFAR-100 top-1 %, per pair: teacher, student from labels, methods.
PUBLISHED = {
    "teacher": (75.61, 75.61, 72.34, 74.31, 74.31, 79.42, 74.64),
    "vanilla": (73.26, 71.98, 69.06, 69.06, 71.14, 72.50, 70.36),
    "kd": (74.92, 73.54, 70.66, 70.67, 73.08, 73.33, 72.98),
    "fitnet": (73.58, 72.24, 69.21, 68.99, 71.06, 73.50, 71.02),
    "at": (74.08, 72.77, 70.55, 70.22, 72.31, 73.44, 71.43),
    "sp": (73.83, 72.43, 69.67, 70.04, 72.69, 72.94, 72.68),
    "cc": (73.56, 72.21, 69.63, 69.48, 71.48, 72.97, 70.71),
    "vid": (74.11, 73.30, 70.38, 70.16, 72.61, 73.09, 71.23),
    "rkd": (73.35, 72.22, 69.61, 69.25, 71.82, 71.90, 71.48),
    "pkt": (74.54, 73.45, 70.34, 70.25, 72.61, 73.64, 72.88),
    "nst": (73.68, 72.24, 69.60, 69.53, 71.96, 73.30, 71.53),
    "crd": (75.48, 74.14, 71.16, 71.46, 73.48, 75.51, 73.94),
    # mdistiller's README (zhao2022); no ResNet-110 -> ResNet-20 run there
    "dkd": (76.23, 74.81, 71.97, None, 74.11, 76.32, 74.68),
    "ab": (72.50, 72.38, 69.47, 69.53, 70.98, 73.17, 70.94),
    "ft": (73.25, 71.59, 69.84, 70.22, 72.37, 72.86, 70.58),
    "fsp": (72.91, None, 69.95, 70.11, 71.89, 72.62, 70.23),
    # zhao2022's Table 1 (mdistiller's runs) for the pairs whose numbers were verified in a second source (the
    # README of WangYZ1608/Knowledge-Distillation-via-ND quotes them); the other pairs are left out until checked
    "ofd": (None, 74.33, 70.98, None, None, 74.95, None),
    "reviewkd": (None, 75.09, 71.89, None, None, 75.63, None),
}
# RepDistiller's train_student.py runs an initialization stage for these (not for FitNets: hint and CE together)
STAGED = ("ab", "ft", "fsp")
# RepDistiller's helper/pretrain.py: FT's initialization stage runs at lr 0.01 on these students
FT_INIT_AT_001 = ("resnet", "wrn")
# mdistiller's configs/cifar100/dkd/*.yaml: DKD.BETA per pair (8.0, the default, where none is set)
DKD_BETA = {"wrn-40-2:wrn-16-2": 6.0, "wrn-40-2:wrn-40-1": 6.0, "resnet56:resnet20": 2.0, "resnet110:resnet32": 2.0,
            "vgg13:vgg8": 6.0}


def method_terms(method, pair, steps_per_epoch, labels):
    """The loss terms of one method (``[]``: the student from labels alone)."""
    terms = {
        "vanilla": lambda: [],
        "kd": lambda: [kd.losses.KD(temperature=4.0, alpha=0.9)],
        "fitnet": lambda: [kd.losses.FeatureHint(weight=100.0, taps={"stage2": "stage2"})],  # hint_layer 2
        "at": lambda: [kd.losses.AttentionTransfer(beta=1e3)],
        "dkd": lambda: [kd.losses.DKD(beta=DKD_BETA.get(pair, 8.0), steps_per_epoch=steps_per_epoch)],
        "crd": lambda: [kd.losses.CRD(labels=labels, num_negatives=min(16384, crd_negatives(labels)))],
        "ctkd": lambda: [kd.losses.CTKD(steps_per_epoch=steps_per_epoch)],
        "reviewkd": lambda: [kd.losses.ReviewKD(steps_per_epoch=steps_per_epoch)],
    }
    return terms[method]() if method in terms else [kd.losses.get(method)]


def crd_negatives(labels):
    """The fewest examples outside one class (CRD's K is at most that: a subset may hold fewer than 16,384)."""
    return int(len(labels) - np.bincount(labels).max())


METHODS = ("vanilla", "kd", "fitnet", "at", "sp", "cc", "vid", "rkd", "pkt", "nst", "crd", "dkd", "dist",
           "standardized_kd", "ctkd", "ab", "ft", "fsp", "ofd", "reviewkd")

flags.adopt_module_key_flags(common)
flags.DEFINE_list("pairs", list(PAIRS), "teacher:student zoo names (default: the seven standard pairs).")
flags.DEFINE_list("methods", list(METHODS), f"Methods to run: {', '.join(METHODS)}.")
flags.DEFINE_string("teacher_dir", None, "Directory of trained teachers, <name>.keras; missing ones are trained "
                                         "from labels and saved there (default: trained per run, not kept).")
flags.DEFINE_integer("init_epochs", 1, "Epochs of the initialization stage of AB, FT and FSP (RepDistiller's "
                     "--init_epochs 30, the value under --preset=paper).")
flags.DEFINE_integer("steps_per_epoch", 0, "Training steps per epoch (0: the whole training set).")
FLAGS = flags.FLAGS
common.set_defaults(train_size=10000, epochs=5, seeds=["0"])

PAPER = {"train_size": 0, "seeds": ["0", "1", "2"], "init_epochs": 30}
SMOKE = {"pairs": ["resnet56:resnet20"], "train_size": 64, "test_size": 32, "epochs": 1, "batch_size": 16,
         "steps_per_epoch": 2, "seeds": ["0"]}


def check_flags():
    for pair in FLAGS.pairs:
        if pair.count(":") != 1:
            raise app.UsageError(f"--pairs takes teacher:student zoo names. Received: {pair!r}")
    unknown = sorted(set(FLAGS.methods) - set(METHODS))
    if unknown:
        raise app.UsageError(f"--methods: unknown {unknown}; choose from {list(METHODS)}")


def protocol_recipe(network_name):
    """The benchmark's recipe for training ``network_name`` (``--recipe`` replaces it)."""
    if FLAGS.recipe:
        return kd.recipes.RECIPES[FLAGS.recipe]
    return kd.recipes.get_recipe("tian2020", network_name)


def limited(dataset):
    return dataset.take(FLAGS.steps_per_epoch) if FLAGS.steps_per_epoch else dataset


def train(model, data, test, network_name):
    """Fits a network or trainer with ``network_name``'s recipe; returns the test accuracy after each epoch."""
    network = model.student if isinstance(model, kd.Distiller) else model
    accuracies = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: accuracies.append(common.accuracy(network, test)))
    common.train(model, limited(data), callbacks=[record], paper_recipe=protocol_recipe(network_name))
    return accuracies


def initialize(distiller, data, method, student_name):
    """RepDistiller's initialization stage (``helper/pretrain.py``): ``--init_epochs`` of SGD at the run's
    constant learning rate (FT on the CIFAR ResNets and WRNs: 0.01), momentum and weight decay as the run."""
    recipe = protocol_recipe(student_name)
    rate = 0.01 if method == "ft" and student_name.startswith(FT_INIT_AT_001) else recipe.learning_rate
    stage = distiller.init_stage()
    stage.compile(kd.optimizers.SGD(rate, momentum=recipe.momentum, weight_decay=recipe.weight_decay))
    stage.fit(limited(data), epochs=FLAGS.init_epochs, verbose=2)


def teacher_for(name, info, train_data, test):
    """The trained teacher ``name``: from ``--teacher_dir``, else trained from labels (and saved there)."""
    path = os.path.join(FLAGS.teacher_dir, f"{name}.keras") if FLAGS.teacher_dir else None
    if path and os.path.exists(path):
        return kd.files.load_model(path)
    keras.utils.set_random_seed(0)
    teacher = common.network(name, info)
    train(teacher, train_data, test, name)
    if path:
        os.makedirs(FLAGS.teacher_dir, exist_ok=True)
        teacher.save(path)
    return teacher


def run_pair(pair, source, seed):
    """``{method: [test accuracy per epoch]}`` of one pair and seed, and the teacher's accuracy."""
    teacher_name, student_name = pair.split(":")
    train_data, test, info = common.datasets(source, seed)
    teacher = teacher_for(teacher_name, info, train_data, test)
    steps = FLAGS.steps_per_epoch or int(train_data.cardinality())
    runs = {}
    for method in FLAGS.methods:
        started = time.time()
        terms = method_terms(method, pair, steps, info["train_labels"])
        data = train_data
        keras.utils.set_random_seed(seed)
        student = common.network(student_name, info)
        model = student
        if terms:
            model = kd.Distiller(student=student, teacher=teacher, losses=terms)
            if model.takes_index:
                data = common.datasets(source, seed, with_index=True)[0]
            if method in STAGED:
                initialize(model, data, method, student_name)
        runs[method] = train(model, data, test, student_name)
        print(f"{pair} seed {seed} {method}: {100 * runs[method][-1]:.2f}% ({time.time() - started:.0f} s)")
    return runs, common.accuracy(teacher, test)


def cell(values, published):
    ours = common.mean_std(values) if values else "-"
    return f"{ours} ({published:.2f})" if published is not None else ours


def results_table(pairs, runs, teachers):
    """RepDistiller's layout: a column per pair, a row per method; ours (published)."""
    header = ["method"] + [pair.replace(":", " -> ") for pair in pairs]
    published = {name: dict(zip(PAIRS, values)) for name, values in PUBLISHED.items()}
    rows = [["teacher"] + [cell(teachers[pair], published["teacher"].get(pair)) for pair in pairs]]
    for method in FLAGS.methods:
        finals = [[epochs[-1] for epochs in runs[pair][method]] for pair in pairs]
        rows.append([method] + [cell(f, published.get(method, {}).get(pair)) for f, pair in zip(finals, pairs)])
    return common.markdown_table(header, rows)


def main(_):
    check_flags()
    source = common.start(PAPER, lambda: kd.recipes.get_recipe("tian2020", FLAGS.pairs[0].split(":")[1]), SMOKE)
    check_flags()
    started = time.time()
    runs = {pair: {method: [] for method in FLAGS.methods} for pair in FLAGS.pairs}
    teachers = {pair: [] for pair in FLAGS.pairs}
    for pair in FLAGS.pairs:
        for seed in common.seeds():
            pair_runs, teacher_accuracy = run_pair(pair, source, seed)
            teachers[pair].append(teacher_accuracy)
            for method, accuracies in pair_runs.items():
                runs[pair][method].append(accuracies)
    title = (f"{common.describe(source)}, {FLAGS.train_size or 'all'} training images, {FLAGS.epochs} epochs"
             f"{f' of {FLAGS.steps_per_epoch} steps' if FLAGS.steps_per_epoch else ''}, seeds {FLAGS.seeds}, "
             f"backend {keras.backend.backend()}, {(time.time() - started) / 60:.1f} min. Test accuracy (%) after "
             "the last epoch, mean ± std over seeds (published CIFAR-100 number)")
    common.publish(None, title, [results_table(FLAGS.pairs, runs, teachers)],
                   {"runs": runs, "teachers": teachers, "published": PUBLISHED, "source": common.describe(source)})


if __name__ == "__main__":
    app.run(main)
