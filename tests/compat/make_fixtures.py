"""Writes the ``.keras`` files of ``tests/test_compat.py`` and ``expected.json``.

The committed files were written by keras_kd commit a7780e5 (the code before
the one ``Trainer`` base of issue 20). To regenerate them, put that code first
on ``PYTHONPATH`` and run this script from outside the repository (so the
repository's ``keras_kd`` is not imported instead):

    PYTHONPATH=<checkout of a7780e5> python <repo>/tests/compat/make_fixtures.py [name ...]

With case names (e.g. ``dcm_jax``) only those files are written and the other
entries of ``expected.json`` are kept. It runs itself once per backend (``KERAS_BACKEND`` tensorflow, jax, torch);
each run builds that backend's cases and records each file's entry in
``expected.json``: the backend, the commit, the seeded inputs and the
predictions of the file's network and of its nested networks. A trainer is
trained two steps with ``fit`` on seeded data and saved with its optimizer,
then trained one more step, whose predictions are recorded too (what a resumed
run must give). A zoo network is trained two steps and saved without compile
state, as it is deployed.
"""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np

COMMIT = "a7780e5"
BACKENDS = ("tensorflow", "jax", "torch")
DIRECTORY = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(DIRECTORY, "expected.json")
IMAGE_SHAPE, CLASSES = (8, 8, 3), 5
INPUTS = {"seed": 2, "shape": [6, *IMAGE_SHAPE]}
TRAIN = {"seed": 1, "examples": 16, "batch_size": 8, "classes": CLASSES}


def seeded_images(seed, shape):
    """Standard-normal float32 images from ``numpy.random.default_rng(seed)``."""
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def training_data(seed, examples, batch_size, classes, with_index=False):
    """``(x, y)`` to ``fit``: seeded images and labels; ``x = (images, index)`` for GKT."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((examples, *IMAGE_SHAPE)).astype("float32")
    labels = rng.integers(0, classes, examples)
    return ((images, np.arange(examples)) if with_index else images), labels


def last_batch(x, y, batch_size):
    """The last ``batch_size`` examples of ``training_data``'s ``(x, y)``: the batch a
    resumed step trains on (GKT's next group reads the knowledge of that batch)."""
    if isinstance(x, tuple):
        return tuple(part[-batch_size:] for part in x), y[-batch_size:]
    return x[-batch_size:], y[-batch_size:]


def fit_kwargs(train):
    """``fit`` arguments of every training run here: fixed order, quiet."""
    return {"batch_size": train["batch_size"], "epochs": 1, "shuffle": False, "verbose": 0}


def nested(obj, path):
    """The network at ``path`` (``"student"``, ``"peers[1]"``) of a trainer."""
    attribute, _, index = path.partition("[")
    value = getattr(obj, attribute)
    return value[int(index.rstrip("]"))] if index else value


def as_floats(predictions):
    """Predictions (an array or a list of arrays) as nested lists of Python floats."""
    if isinstance(predictions, (list, tuple)):
        return [as_floats(p) for p in predictions]
    return np.asarray(predictions, np.float64).tolist()


@dataclasses.dataclass
class Case:
    """One object to save: a compiled, untrained trainer (``kind="trainer"``) or a
    trained network saved without compile state, as deployed (``kind="network"``)."""

    obj: object
    networks: tuple = ()
    with_index: bool = False
    kind: str = "trainer"
    random_steps: bool = False  # whether a training step draws random numbers (backend-specific streams)


def build_cases(kd, keras):
    """``{case name: (backend, builder)}``; a builder returns a ``Case``."""
    from keras_kd.models import MobileNetV2, ResidualNetwork, wide_resnet

    def narrow(widths=(4, 8), sizes=(1, 1), seed=0, **kwargs):
        keras.utils.set_random_seed(seed)
        return ResidualNetwork(stage_widths=widths, stage_sizes=sizes, num_classes=CLASSES,
                               stem_filters=widths[0], input_shape=IMAGE_SHAPE, **kwargs)

    def narrow_cifar_resnet(seed=0, sizes=(2, 2), **kwargs):  # cifar_resnet's layout at narrow widths
        return narrow(sizes=sizes, seed=seed, preactivation=False, shortcut="pad", **kwargs)

    def compiled(obj, **kwargs):
        obj.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"], **kwargs)
        return obj

    def trained(model):
        """``model`` trained two steps, as a copy without compile state (what users deploy)."""
        compiled(model, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(*training_data(**TRAIN), **fit_kwargs(TRAIN))
        deployed = type(model).from_config(model.get_config())
        deployed.set_weights(model.get_weights())
        return deployed

    def distiller():
        student, teacher = narrow((4,), (1,), seed=1, name="student"), narrow((8,), (1,), seed=2, name="teacher")
        losses = [kd.losses.KD(), kd.losses.AttentionTransfer(), kd.losses.FeatureHint()]
        trainer = kd.Distiller(student=student, teacher=teacher, losses=losses)
        return Case(compiled(trainer), ("student", "teacher"))

    def mutual():
        peers = [narrow((4,), (1,), seed=3, name="peer_wrn"),
                 narrow((4,), (1,), seed=4, preactivation=False, name="peer_resnet")]
        return Case(compiled(kd.MutualDistiller(peers, temperature=2.0)), ("peers[0]", "peers[1]"))

    def dcm():  # 3-stage peers (DCM's heads start at stage1 and stage2), widths of at least 8 (see resnet18)
        peers = [narrow((8, 8, 8), (1, 1, 1), seed=15, name="dcm_wrn"),
                 narrow_cifar_resnet(seed=16, sizes=(1, 1, 1), widths=(8, 8, 8), name="dcm_resnet")]
        return Case(compiled(kd.MutualDistiller(peers, auxiliary=True)), ("peers[0]", "peers[1]"))

    def subnet_trainer(trainer_class, **kwargs):
        trainer = trainer_class(narrow_cifar_resnet(seed=5, sizes=(2, 1), name="net"), seed=0, **kwargs)
        return Case(compiled(trainer), ("model",), with_index=trainer_class is kd.GKT, random_steps=True)

    def residual_distiller():
        teacher, s0 = narrow((8,), (1,), seed=6, name="teacher"), trained(narrow((4,), (1,), seed=7, name="s0"))
        trainer = kd.ResidualDistiller(res_student=narrow((4,), (1,), seed=8, name="r1"), teacher=teacher,
                                       previous=[s0])
        return Case(compiled(trainer), ("res_student", "teacher", "previous[0]"))

    def residual_ensemble():
        s0, r1 = (trained(narrow((4,), (1,), seed=seed, name=name)) for seed, name in ((7, "s0"), (8, "r1")))
        energies = kd.distillers.energy(s0.predict(seeded_images(**INPUTS), verbose=0))
        ensemble = kd.ResidualEnsemble([s0, r1], threshold=float(np.median(energies)))
        return Case(ensemble, ("members[0]", "members[1]"), kind="network")

    def zoo(model):
        return Case(trained(model), kind="network")

    def group_conv_net():
        keras.utils.set_random_seed(9)
        inputs = keras.Input(IMAGE_SHAPE)
        x = kd.layers.GroupConv2D(8, 3, groups=1, name="conv")(inputs)
        x = kd.layers.GroupConv2D(8, 3, groups=4, strides=2, padding="symmetric", name="grouped")(x)
        x = kd.layers.BatchNormalization(name="bn")(x)
        x = keras.layers.ReLU()(x)
        x = kd.layers.GroupConv2D(8, 3, group_size=2, dilation_rate=2, use_bias=True, name="dilated")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return zoo(keras.Model(inputs, keras.layers.Dense(CLASSES, name="logits")(x), name="group_conv_net"))

    def moonshine_wrn():  # WRN-10-1 with Moonshine's BG(4, M/4) block, from the builder
        keras.utils.set_random_seed(11)
        return zoo(wide_resnet(10, 1, CLASSES, block="BG(4,M/4)", input_shape=IMAGE_SHAPE))

    def wrn_g2():
        return zoo(narrow((8, 16), seed=12, block="G(2)", name="wrn_g2"))

    def mobilenet_v2():  # jha2020's CIFAR MobileNetV2 layout at narrow widths
        keras.utils.set_random_seed(17)
        return zoo(MobileNetV2(CLASSES, stages=((1, 4, 1, 1), (6, 8, 2, 2)), head_filters=16,
                               input_shape=IMAGE_SHAPE, name="mobilenet_v2"))

    def resnet18_layout():  # resnet18's post-activation 4-stage layout with conv shortcuts, narrow
        # widths of at least 8: torch 2.13 on CPU corrupts its heap in the backward pass of a
        # channels-last 1x1 stride-2 conv with fewer than 8 input channels (Keras' Conv2D shortcut)
        return zoo(narrow((8, 8, 16, 16), (1, 1, 1, 1), seed=18, preactivation=False, shortcut="conv",
                          name="resnet18"))

    return {
        "distiller": ("tensorflow", distiller),
        "mutual": ("tensorflow", mutual),
        "gkt": ("tensorflow", lambda: subnet_trainer(kd.GKT, num_examples=TRAIN["examples"])),
        "stimulative": ("tensorflow", lambda: subnet_trainer(kd.StimulativeTraining)),
        "stochastic_depth": ("tensorflow", lambda: subnet_trainer(kd.StochasticDepth, final_survival=0.5)),
        "residual_distiller": ("tensorflow", residual_distiller),
        "residual_ensemble": ("tensorflow", residual_ensemble),
        "wrn_moonshine": ("tensorflow", moonshine_wrn),
        "wrn_nonresidual": ("tensorflow", lambda: zoo(narrow(seed=13, residual=False, name="wrn_nr"))),
        "cifar_resnet": ("tensorflow", lambda: zoo(narrow_cifar_resnet(seed=14, name="resnet"))),
        "group_conv_net": ("tensorflow", group_conv_net),
        "gkt_jax": ("jax", lambda: subnet_trainer(kd.GKT, num_examples=TRAIN["examples"])),
        "dcm_jax": ("jax", dcm),
        "mobilenet_v2": ("tensorflow", mobilenet_v2),
        "resnet18_torch": ("torch", resnet18_layout),
        "group_conv_net_jax": ("jax", group_conv_net),
        "distiller_torch": ("torch", distiller),
        "wrn_g2_torch": ("torch", wrn_g2),
    }


def predictions(obj, networks, x):
    """The object's predictions and those of each of its nested networks."""
    own = as_floats(obj.predict(x, verbose=0))
    return own, {path: as_floats(nested(obj, path).predict(x, verbose=0)) for path in networks}


def write_case(kd, keras, name, case):
    """Trains a trainer two steps, saves ``case`` as ``<name>.keras``; returns its entry of expected.json."""
    path = os.path.join(DIRECTORY, f"{name}.keras")
    train = {**TRAIN, "with_index": case.with_index}
    x, y = training_data(**train)
    if case.kind == "trainer":
        case.obj.fit(x, y, **fit_kwargs(train))
    case.obj.save(path)
    images = seeded_images(**INPUTS)
    own, networks = predictions(case.obj, case.networks, images)
    entry = {
        "backend": keras.backend.backend(), "keras_kd_commit": COMMIT, "keras_version": keras.__version__,
        "class": type(case.obj).__name__, "kind": case.kind, "inputs": INPUTS, "train": train,
        "predictions": own, "networks": networks,
    }
    if isinstance(case.obj, kd.ResidualEnsemble):
        logits, used = case.obj.predict_adaptive(images)
        entry["adaptive"] = {"logits": as_floats(logits), "used": np.asarray(used).tolist()}
    if case.kind == "trainer":
        entry["random_steps"] = case.random_steps
        entry["optimizer_iterations"] = int(keras.ops.convert_to_numpy(case.obj.optimizer.iterations))
        case.obj.fit(*last_batch(x, y, train["batch_size"]), **fit_kwargs(train))
        entry["resumed_predictions"] = as_floats(case.obj.predict(images, verbose=0))
    return entry


def write_backend(backend, names=()):
    """Writes this backend's cases (only ``names`` if given) and merges their entries
    into expected.json."""
    import keras

    import keras_kd as kd

    if keras.backend.backend() != backend:
        raise SystemExit(f"KERAS_BACKEND must be {backend!r}. Received: {keras.backend.backend()!r}")
    cases = build_cases(kd, keras)
    unknown = sorted(set(names) - set(cases))
    if unknown:  # before any file is written
        raise SystemExit(f"Unknown case names {unknown}; the cases are {sorted(cases)}. Received: {list(names)}")
    expected = {}
    if os.path.exists(EXPECTED):
        with open(EXPECTED) as file:
            expected = json.load(file)
    for name, (case_backend, build) in cases.items():
        if case_backend == backend and (not names or name in names):
            expected[f"{name}.keras"] = write_case(kd, keras, name, build())
    with open(EXPECTED, "w") as file:
        json.dump(dict(sorted(expected.items())), file, indent=1)
        file.write("\n")


def main(argv):
    if importlib.util.find_spec("keras_kd.distillers.base") is not None:
        raise SystemExit(
            f"These fixtures come from the code before the Trainer base (commit {COMMIT}); put it first "
            "on PYTHONPATH. Received: a keras_kd with keras_kd.distillers.base"
        )
    if argv[1:2] == ["--backend"]:
        return write_backend(argv[2], argv[3:])
    names = argv[1:]
    if not names and os.path.exists(EXPECTED):  # every entry is written anew
        os.remove(EXPECTED)
    for backend in BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        subprocess.run([sys.executable, os.path.abspath(__file__), "--backend", backend, *names], env=env,
                       check=True)


if __name__ == "__main__":
    main(sys.argv)
