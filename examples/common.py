"""What the example scripts share: data choice, training recipe, result files.

Every script defines its own flags; the ones here (``--source``,
``--train_size``, ``--epochs``, ``--batch_size``, ``--learning_rate``,
``--schedule``, ``--seeds``, ``--output_dir``, ``--preset``) mean the same in
all of them. ``--preset=paper`` replaces the defaults that were not given on
the command line by the paper's settings (``apply_preset``).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

import keras_kd as kd  # noqa: E402
from keras_kd.files import markdown_table  # noqa: E402, F401 (for the scripts)

CIFAR10_ENV = "KERAS_KD_CIFAR10"
CIFAR10_TAR = "cifar10-jpg.tar.gz"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string(
    "source", "auto",
    "keras_kd.data.load source (tfds name, image folder or tar.gz, idx directory). "
    f"'auto': the CIFAR-10 JPEG tar named by ${CIFAR10_ENV} or found in ../shared/data beside "
    "the repository, else the Debian Fashion-MNIST files.",
)
flags.DEFINE_integer("train_size", 10000, "Training examples used, a seeded random subset (0: all).")
flags.DEFINE_integer("epochs", 5, "Epochs of each training run.")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_float("learning_rate", 0.1, "Initial SGD learning rate (momentum 0.9, Nesterov).")
flags.DEFINE_float("weight_decay", 5e-4, "Decoupled SGD weight decay.")
flags.DEFINE_enum("schedule", "cosine", ["cosine", "step"],
                  "cosine decay to 0, or the papers' steps (x0.2 at 30/60/80% of training).")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds; each configuration runs once per seed.")
flags.DEFINE_string("output_dir", None, "Directory for results.json, results.md and plots.")
flags.DEFINE_enum("preset", "small", ["small", "paper"], "'paper' applies the paper's settings.")
FLAGS = flags.FLAGS


def apply_preset(paper_settings):
    """Under ``--preset=paper``, sets every flag in ``paper_settings`` not given explicitly."""
    if FLAGS.preset != "paper":
        return
    for name, value in paper_settings.items():
        if not FLAGS[name].present:
            FLAGS[name].value = value


def set_defaults(**defaults):
    """The script's own defaults for the shared flags."""
    for name, value in defaults.items():
        FLAGS.set_default(name, value)


def start(paper_settings):
    """Applies ``--preset`` and returns the data source to use (``find_source``)."""
    apply_preset(paper_settings)
    return find_source(FLAGS.source)


def find_source(source):
    """``source`` itself, or for ``"auto"`` the best real data on this machine."""
    if source != "auto":
        return source
    candidates = [os.environ.get(CIFAR10_ENV, ""), os.path.join(REPO, "..", "shared", "data", CIFAR10_TAR)]
    for path in candidates:
        if path and os.path.exists(path):
            return os.path.normpath(path)
    if os.path.isdir(kd.data.FASHION_MNIST_DIR):
        return kd.data.FASHION_MNIST_DIR
    raise SystemExit(
        f"No data found for --source=auto: set ${CIFAR10_ENV} to a CIFAR-10 JPEG tree or tar.gz, "
        "install Fashion-MNIST (`apt-get install dataset-fashion-mnist`), or pass --source "
        "(a tfds name such as cifar10 downloads with internet)."
    )


def describe(source):
    """A short human name for a source."""
    return "Fashion-MNIST" if source == kd.data.FASHION_MNIST_DIR else os.path.basename(str(source))


def datasets(source, seed, train_size=None, with_index=False, validation_size=0):
    """``(train, test, info)``: a training subset and the test split as tf.data.

    The subset (``--train_size`` examples, 0 for all) is the same for every
    seed; ``seed`` drives the shuffle and the augmentation. ``info`` holds
    ``num_classes``, ``input_shape``, ``train_examples`` and, when
    ``validation_size`` > 0, ``validation``: that many other training
    examples (disjoint from the subset, never test), normalized alike.
    """
    train_size = FLAGS.train_size if train_size is None else train_size
    images, labels = kd.data.load_arrays(source, "train", validation_fraction=0, seed=0)
    held_out = (images[len(images) - validation_size :], labels[len(labels) - validation_size :])
    images, labels = images[: len(images) - validation_size], labels[: len(labels) - validation_size]
    if train_size:
        images, labels = images[:train_size], labels[:train_size]
    arrays = {"train": (images, labels), "test": kd.data.load_arrays(source, "test")}

    def load(split, data=arrays, **kwargs):
        return kd.data.load(data, split, batch_size=FLAGS.batch_size, seed=seed, validation_fraction=0, **kwargs)

    info = {
        "num_classes": int(max(labels.max(), arrays["test"][1].max()) + 1),
        "input_shape": tuple(int(d) for d in images.shape[1:]),
        "train_examples": len(labels),
    }
    if validation_size:
        info["validation"] = load("test", dict(arrays, test=held_out))
    return load("train", with_index=with_index), load("test"), info


def optimizer(steps_per_epoch, epochs=None):
    """SGD with momentum 0.9 (Nesterov) and the ``--schedule`` learning-rate decay."""
    total = steps_per_epoch * (epochs or FLAGS.epochs)
    if FLAGS.schedule == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(FLAGS.learning_rate, total)
    else:
        boundaries = [int(total * f) for f in (0.3, 0.6, 0.8)]
        rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            boundaries, [FLAGS.learning_rate * 0.2**k for k in range(4)]
        )
    return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, weight_decay=FLAGS.weight_decay)


# Trainers that compute their own loss: compiled with ``loss=None``.
TRAINERS = (kd.Distiller, kd.distillers.SubnetTrainer)


def train(model, train_data, epochs=None, validation_data=None, callbacks=None):
    """Compiles and fits a network (cross-entropy) or a trainer (``TRAINERS``: its own loss)."""
    epochs = epochs or FLAGS.epochs
    loss = None if isinstance(model, TRAINERS) else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=optimizer(int(train_data.cardinality()), epochs), loss=loss, metrics=["accuracy"])
    return model.fit(train_data, epochs=epochs, validation_data=validation_data, callbacks=callbacks, verbose=2)


def accuracy(model, test_data):
    """Top-1 accuracy of a network's logits on an unshuffled dataset of (images, labels)."""
    logits = model.predict(test_data.map(lambda images, labels: images), verbose=0)
    labels = np.concatenate([labels.numpy() for _, labels in test_data])
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def seeds():
    """``--seeds`` as ints."""
    return [int(seed) for seed in FLAGS.seeds]


def mean_std(values):
    """``"mean ± std"`` of percentages, or the single value."""
    values = 100 * np.asarray(values, dtype=float)
    return f"{values.mean():.2f}" + (f" ± {values.std(ddof=1):.2f}" if len(values) > 1 else "")


def save_results(output_dir, tables, payload):
    """Writes ``results.md`` (the tables) and ``results.json`` (``payload`` + flags)."""
    os.makedirs(output_dir, exist_ok=True)
    kd.files.write_text(os.path.join(output_dir, "results.md"), "\n\n".join(tables) + "\n")
    kd.files.write_json(os.path.join(output_dir, "results.json"), dict(payload, flags=script_flags()))


def script_flags():
    """The values of the flags the example scripts define (absl and TensorFlow flags left out)."""
    return {
        flag.name: flag.value
        for module, module_flags in FLAGS.flags_by_module_dict().items()
        if not module.startswith(("absl", "tensorflow"))
        for flag in module_flags
    }


def publish(default_dir, title, tables, payload):
    """Prints ``title`` and the markdown ``tables`` and saves them with ``payload``.

    Returns the output directory (``--output_dir``, else ``default_dir``;
    with neither, nothing is written and ``None`` is returned).
    """
    text = [title] + list(tables)
    print("\n" + "\n\n".join(text))
    output_dir = FLAGS.output_dir or default_dir
    if output_dir:
        save_results(output_dir, text, payload)
    return output_dir


def save_figure(figure, path):
    """Lays out and saves a matplotlib figure through a temporary file."""
    figure.tight_layout()
    with kd.files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120)


def pyplot():
    """matplotlib's pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


METHODS = ("kd", "at", "kd+at", "hint")


def distillation_terms(method, temperature=4.0, alpha=0.9, beta=1e3):
    """The loss terms of a distillation ``method`` (see ``METHODS``).

    ``"kd"``: Hinton KD (crowley2018 eq. 1); ``"at"``: attention transfer with
    cross-entropy (eq. 2); ``"kd+at"``: both; ``"hint"``: FitNets feature hints.
    """
    terms = {
        "kd": [kd.losses.KD(temperature=temperature, alpha=alpha)],
        "at": [kd.losses.AttentionTransfer(beta=beta)],
        "kd+at": [kd.losses.KD(temperature=temperature, alpha=alpha), kd.losses.AttentionTransfer(beta=beta)],
        "hint": [kd.losses.FeatureHint()],
    }
    if method not in terms:
        raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")
    return terms[method]


def network(name, info, block="S", **kwargs):
    """A zoo model sized for the data described by ``info`` (see ``datasets``)."""
    return kd.models.get_model(name, info["num_classes"], block=block, input_shape=info["input_shape"], **kwargs)


def fit_or_load(path, build, train_data, epochs=None):
    """The model saved at ``path``, or ``build()`` trained from labels when no path is given."""
    if path:
        return kd.files.load_model(path)
    model = build()
    train(model, train_data, epochs=epochs)
    return model


def train_student(student, train_data, teacher=None, method="scratch"):
    """Trains ``student`` from labels (``method="scratch"``) or distilled from ``teacher``."""
    if method == "scratch":
        train(student, train_data)
    else:
        train(kd.Distiller(student, teacher, losses=distillation_terms(method)), train_data)
    return student
