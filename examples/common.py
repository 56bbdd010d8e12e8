"""What the example scripts share: data choice, training recipe, result files.

Every script defines its own flags; the ones here (``--source``,
``--train_size``, ``--test_size``, ``--epochs``, ``--batch_size``, ``--learning_rate``,
``--weight_decay``, ``--seeds``, ``--output_dir``, ``--preset``,
``--recipe``, ``--print_recipe``) mean the same in all of them.

The training recipe is the paper's (``keras_kd.recipes``): PyTorch-style SGD
with coupled weight decay, the paper's momentum, schedule stepping per epoch
and crop padding. ``--preset=paper`` runs it as printed: every setting not
given on the command line becomes the paper's (``apply_preset``), epochs
included. The default ``--preset=small`` runs the same recipe over the
script's few epochs, its milestones at the same fractions of training
(``Recipe.scaled``). ``--batch_size``, ``--learning_rate`` and
``--weight_decay`` override the recipe; ``--print_recipe`` prints the
resolved recipe and exits.
"""

import dataclasses
import functools
import os
import weakref

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
flags.DEFINE_integer(
    "image_size", None,
    "Decode the --source images per step at this size with ImageNet's transforms (keras_kd.data.load image_size=; "
    "a local folder tree, tar archive, Tiny-ImageNet directory or tfds name such as imagenette); default: the "
    "images' own size, in memory.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets directory of a tfds --source (default: tfds').")
flags.DEFINE_bool("download", False, "Download and prepare a tfds --source missing from --data_dir (internet).")
flags.DEFINE_integer("test_size", 0, "Test examples used, a seeded random subset of the test split (0: all).")
flags.DEFINE_integer("epochs", 5, "Epochs of each training run.")
flags.DEFINE_integer("batch_size", None, "Batch size (default: the recipe's).")
flags.DEFINE_float("learning_rate", None, "Initial learning rate (default: the recipe's).")
flags.DEFINE_float("weight_decay", None, "Coupled SGD weight decay (default: the recipe's).")
flags.DEFINE_string("recipe", None, "A keras_kd.recipes.RECIPES key instead of the script's paper recipe.")
flags.DEFINE_bool("print_recipe", False, "Print the resolved training recipe and exit.")
flags.DEFINE_list("seeds", ["0", "1"], "Seeds; each configuration runs once per seed.")
flags.DEFINE_string("output_dir", None, "Directory for results.json, results.md and plots.")
flags.DEFINE_enum("preset", "small", ["small", "paper", "smoke"],
                  "'paper' applies the paper's settings; 'smoke' (benchmark.py) a few steps of everything.")
FLAGS = flags.FLAGS


def apply_preset(paper_settings, smoke_settings=None):
    """Under ``--preset=paper``, sets every flag in ``paper_settings`` not given explicitly; under
    ``--preset=smoke``, those of ``smoke_settings`` (a script without them refuses the preset)."""
    if FLAGS.preset == "smoke" and smoke_settings is None:
        raise SystemExit("--preset=smoke is examples/benchmark.py's; this script has 'small' and 'paper'.")
    settings = {"paper": paper_settings, "smoke": smoke_settings}.get(FLAGS.preset)
    if not settings:
        return
    for name, value in settings.items():
        if not FLAGS[name].present:
            FLAGS[name].value = value


def set_defaults(**defaults):
    """The script's own defaults for the shared flags."""
    for name, value in defaults.items():
        FLAGS.set_default(name, value)


PAPER_RECIPE = None  # the paper's recipe the script runs, set by ``start``


def start(paper_settings, recipe, smoke_settings=None):
    """Applies ``--preset``, resolves the recipe and returns the data source.

    Args:
        paper_settings: the script's flags under ``--preset=paper`` (networks,
            train size, ...); epochs come from the recipe.
        recipe: no-argument callable giving the script's ``keras_kd.recipes.Recipe``
            from the flags (called after the preset, which may change networks).
        smoke_settings: the script's flags under ``--preset=smoke``, if it has that preset.
    """
    global PAPER_RECIPE
    apply_preset(paper_settings, smoke_settings)
    PAPER_RECIPE = kd.recipes.RECIPES[FLAGS.recipe] if FLAGS.recipe else recipe()
    if FLAGS.preset == "paper":
        apply_preset({"epochs": PAPER_RECIPE.epochs})
    if FLAGS.print_recipe:
        print(training_recipe().describe())
        raise SystemExit(0)
    return find_source(FLAGS.source)


def training_recipe(epochs=None, paper_recipe=None):
    """The recipe of a run of ``epochs`` (default ``--epochs``), with the flags' overrides; of
    ``paper_recipe`` (a ``Recipe``), else the script's."""
    epochs, paper_recipe = epochs or FLAGS.epochs, paper_recipe or PAPER_RECIPE
    recipe = paper_recipe if epochs == paper_recipe.epochs else paper_recipe.scaled(epochs)
    overrides = {name: FLAGS[name].value for name in ("batch_size", "learning_rate", "weight_decay")}
    return dataclasses.replace(recipe, **{k: v for k, v in overrides.items() if v is not None})


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
        "(a tfds name such as cifar10 with --download and internet)."
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
    read = kd.data.list_split if FLAGS.image_size else kd.data.load_arrays  # file listings are decoded per step
    read = functools.partial(read, data_dir=FLAGS.data_dir, download=FLAGS.download)
    images, labels = read(source, "train", validation_fraction=0, seed=0)
    held_out = (images[len(labels) - validation_size :], labels[len(labels) - validation_size :])
    images, labels = images[: len(labels) - validation_size], labels[: len(labels) - validation_size]
    if train_size:
        images, labels = images[:train_size], labels[:train_size]
    test_images, test_labels = read(source, "test")
    if FLAGS.test_size:  # the test split may be sorted by class: a seeded random subset
        chosen = np.random.default_rng(0).permutation(len(test_labels))[: FLAGS.test_size]
        test_images = test_images[chosen] if isinstance(test_images, np.ndarray) else [test_images[i] for i in chosen]
        test_labels = test_labels[chosen]
    arrays = {"train": (images, labels), "test": (test_images, test_labels)}

    recipe = training_recipe()

    # At --image_size the ImageNet transforms replace the recipe's CIFAR padding and random scale.
    augmentation = {"image_size": FLAGS.image_size} if FLAGS.image_size else recipe.data_kwargs()

    def load(split, data=arrays, **kwargs):
        return kd.data.load(data, split, batch_size=recipe.batch_size, seed=seed, validation_fraction=0,
                            **augmentation, **kwargs)

    info = {
        "num_classes": int(max(labels.max(), arrays["test"][1].max()) + 1),
        "input_shape": (FLAGS.image_size, FLAGS.image_size, 3) if FLAGS.image_size else tuple(
            int(d) for d in images.shape[1:]),
        "train_examples": len(labels),
        "train_labels": labels,  # by index, as with_index=True numbers the examples
    }
    if validation_size:
        info["validation"] = load("test", dict(arrays, test=held_out))
    return load("train", with_index=with_index), load("test"), info


def optimizer(steps_per_epoch, epochs=None, paper_recipe=None):
    """The recipe's optimizer (``training_recipe``) for a run of ``epochs``."""
    return training_recipe(epochs, paper_recipe).optimizer(steps_per_epoch)


def train(model, train_data, epochs=None, validation_data=None, callbacks=None, paper_recipe=None):
    """Compiles and fits a network (cross-entropy) or a trainer (``kd.distillers.Trainer``: its own loss),
    with the script's recipe or ``paper_recipe``."""
    epochs = epochs or FLAGS.epochs
    loss = None if isinstance(model, kd.distillers.Trainer) else keras.losses.SparseCategoricalCrossentropy(
        from_logits=True)
    model.compile(optimizer=optimizer(int(train_data.cardinality()), epochs, paper_recipe), loss=loss,
                  metrics=["accuracy"])
    return model.fit(train_data, epochs=epochs, validation_data=validation_data, callbacks=callbacks, verbose=2)


_INFERENCE = weakref.WeakKeyDictionary()


def accuracy(model, test_data):
    """Top-1 accuracy of a network's logits on a dataset of (images, labels) or, padded for several
    processes (``kd.data.load``'s ``remainder="pad"``), (images, labels, weights), the zero-weight repeats
    weighing nothing. Through ``evaluate``, which, unlike ``predict``, runs in a multi-process job."""
    if model not in _INFERENCE:
        _INFERENCE[model] = kd.models.InferenceProbe(
            model, keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return float(_INFERENCE[model].evaluate(test_data, verbose=0, return_dict=True)["accuracy"])


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


def distillation_terms(method, temperature=4.0, alpha=0.9, beta=1e3, kd_mode="hinton"):
    """The loss terms of a distillation ``method`` (see ``METHODS``).

    ``"kd"``: Hinton KD (crowley2018 eq. 1; ``kd_mode``: ``keras_kd.losses.KD``'s
    ``mode``); ``"at"``: attention transfer with cross-entropy (eq. 2);
    ``"kd+at"``: both; ``"hint"``: FitNets feature hints (romero2015).
    """
    logit_term = kd.losses.KD(temperature=temperature, alpha=alpha, mode=kd_mode)
    terms = {
        "kd": [logit_term],
        "at": [kd.losses.AttentionTransfer(beta=beta)],
        "kd+at": [logit_term, kd.losses.AttentionTransfer(beta=beta)],
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


def train_student(student, train_data, teacher=None, method="scratch", kd_mode="hinton"):
    """Trains ``student`` from labels (``method="scratch"``) or distilled from ``teacher``."""
    if method == "scratch":
        train(student, train_data)
    else:
        train(kd.Distiller(student=student, teacher=teacher, losses=distillation_terms(method, kd_mode=kd_mode)), train_data)
    return student
