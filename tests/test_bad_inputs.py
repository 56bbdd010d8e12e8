"""The bad-input table: each wrong argument or file gets its exact error type
and a message naming the argument and the value received, before anything
is trained or written (checkpoint callbacks and result files stay absent)."""

import os
import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from keras_kd.distillers.fit_checks import batch_checks

CLASSES, SHAPE, N = 5, (8, 8, 3), 16


def net(depth=8, classes=CLASSES, seed=0, name=None):
    keras.utils.set_random_seed(seed)
    return kd.models.cifar_resnet(depth, classes, input_shape=SHAPE, name=name)


def images(n=N, shape=SHAPE):
    return np.random.default_rng(0).standard_normal((n, *shape)).astype("float32")


def labels(n=N):
    return np.arange(n) % CLASSES


def fit(trainer, x, y):
    """Compiles and fits with callbacks that would write into the working directory."""
    trainer.compile(optimizer=keras.optimizers.SGD(0.01))
    callbacks = [keras.callbacks.ModelCheckpoint("checkpoint.keras"), keras.callbacks.BackupAndRestore("backup")]
    trainer.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=callbacks)


def distil(x=None, y=None):
    fit(kd.Distiller(student=net(name="student"), teacher=net(14, seed=1, name="teacher")),
        images() if x is None else x, labels() if y is None else y)


def with_nan():
    x = images()
    x[3, 2, 1, 0] = np.nan
    return x


def gkt_fit(x, num_examples=N):
    fit(kd.GKT(net(14), num_examples, seed=0), x, labels())


def unbuilt():
    return keras.Sequential([keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])


def shared_layers():
    student = net(name="student")
    teacher = keras.Sequential([student, keras.layers.Dense(CLASSES)])
    teacher.build((None, *SHAPE))
    kd.Distiller(student=student, teacher=teacher)


def mismatched_attention_taps():
    student = kd.models.wide_resnet(10, 1, CLASSES, input_shape=SHAPE)
    teacher = kd.models.wide_resnet(10, 2, CLASSES, input_shape=SHAPE)
    kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.AttentionTransfer(taps={"stage1": "stage3"})])


def write_file(name, content):
    with open(name, "wb") as f:
        f.write(content)
    return name


def saved_model_bytes():
    net().save("model.keras")
    with open("model.keras", "rb") as f:
        content = f.read()
    os.remove("model.keras")
    return content


class Unregistered(keras.layers.Layer):
    def call(self, inputs):
        return inputs


def unknown_class_file():
    inputs = keras.Input((4,))
    keras.Model(inputs, Unregistered()(inputs)).save("unknown.keras")
    return "unknown.keras"


def lambda_file():
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Lambda(lambda t: 2 * t)(inputs)).save("lambda.keras")
    return "lambda.keras"


# (case, callable, error type, message fragment naming argument and value)
TABLE = [
    ("one-hot labels of the wrong width", lambda: distil(y=np.eye(7)[labels()]), ValueError,
     "Received: y with shape (16, 7)"),
    ("sparse label beyond the classes", lambda: distil(y=labels() + 3), ValueError, "Received: y with label 5"),
    ("labels of rank 3", lambda: distil(y=labels().reshape(16, 1, 1)), ValueError,
     "Received: y with shape (16, 1, 1)"),
    ("teacher/student class counts differ",
     lambda: kd.Distiller(student=net(), teacher=net(classes=7, seed=1)), ValueError, "student outputs 5, teacher outputs 7"),
    ("NaN in the images", lambda: distil(x=with_nan()), ValueError, "Received: x with 1 NaN or inf values"),
    ("images of the wrong rank", lambda: distil(x=images()[..., 0]), ValueError, "Received: x with shape (16, 8, 8)"),
    ("images of the wrong size", lambda: distil(x=images(shape=(16, 16, 3))), ValueError,
     "Received: x with shape (16, 16, 16, 3)"),
    ("GKT data without the example index", lambda: gkt_fit(images()), ValueError,
     "Received images only: x with shape (16, 8, 8, 3)"),
    ("GKT index beyond the knowledge table", lambda: gkt_fit((images(), np.arange(N)), num_examples=12),
     ValueError, "Received: index=12"),
    ("zero temperature", lambda: kd.losses.KD(temperature=0), ValueError, "temperature=0"),
    ("negative temperature", lambda: kd.losses.KD(temperature=-2.0), ValueError, "temperature=-2.0"),
    ("alpha outside [0, 1]", lambda: kd.losses.KD(alpha=1.5), ValueError, "alpha=1.5"),
    ("attention taps of different spatial size", mismatched_attention_taps, ValueError,
     "Received: taps={'stage1': 'stage3'}"),
    ("groups not dividing the channels", lambda: kd.layers.GroupConv2D(6, 3, groups=4), ValueError,
     "Received: groups=4, filters=6"),
    ("unknown block notation", lambda: kd.layers.parse_block("Q(2)"), ValueError, "'Q(2)'"),
    ("empty peer list", lambda: kd.MutualDistiller([]), ValueError, "Received: peers=[]"),
    ("res-student with another class count",
     lambda: kd.ResidualDistiller(res_student=net(classes=7, name="r1"), teacher=net(14, name="teacher"), previous=[net(name="s0")]),
     ValueError, "'r1': 7"),
    ("threshold of the wrong type", lambda: kd.ResidualEnsemble([net()], threshold="0.9"), ValueError,
     "Received: threshold='0.9'"),
    ("teacher not built", lambda: kd.Distiller(student=net(), teacher=unbuilt()), ValueError, "Received an unbuilt model: teacher="),
    ("student sharing layers with the teacher", shared_layers, ValueError, "share weights"),
    ("truncated .keras file",
     lambda: kd.files.load_model(write_file("cut.keras", saved_model_bytes()[:5000])), ValueError,
     "truncated or corrupted: BadZipFile: File is not a zip file). Received: path='cut.keras'"),
    ("corrupted .keras file", lambda: kd.files.load_model(write_file("bad.keras", b"no zip" * 100)), ValueError,
     "Received: path='bad.keras'"),
    ("missing .keras file", lambda: kd.files.load_model("absent.keras"), FileNotFoundError,
     "Received: path='absent.keras'"),
    (".keras file of an unknown class", lambda: kd.files.load_model(unknown_class_file()), ValueError,
     "not registered: ['Unregistered']"),
    (".keras file needing unsafe deserialization", lambda: kd.files.load_model(lambda_file()), ValueError,
     "safe_mode=False"),
    ("tfds name that does not exist", lambda: kd.data.load("no_such_dataset_xyz", "test"), ValueError,
     "source='no_such_dataset_xyz'"),
    ("local data path that does not exist", lambda: kd.data.load("./absent/cifar10", "test"), FileNotFoundError,
     "source='./absent/cifar10'"),
]
INPUT_FILES = {"cut.keras", "bad.keras", "unknown.keras", "lambda.keras"}


@pytest.mark.parametrize("case, make, error, message", TABLE, ids=[row[0] for row in TABLE])
def test_bad_input_fails_clearly_and_writes_nothing(tmp_path, monkeypatch, case, make, error, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=re.escape(message)):
        make()
    assert set(os.listdir(tmp_path)) <= INPUT_FILES, f"{case} left files behind"


def test_the_table_has_at_least_twenty_distinct_cases():
    assert len({row[0] for row in TABLE}) == len(TABLE) >= 20


# PyDataset and torch DataLoader input (issue 19, item 5): every batch is checked
# as it is read, with the array checks' messages plus the batch's position. The
# bad example sits in the last batch, past the batches Keras reads up front (on
# TensorFlow, tf.data re-raises a later one as InvalidArgumentError).

BATCH, BATCHES = 8, 4
BAD_EXAMPLE = BATCH * (BATCHES - 1) + 6  # in batch 3, counting from 0


class ArrayBatches(keras.utils.PyDataset):
    """Batches of ``BATCH`` rows of ``arrays`` (each an array or a tuple of arrays),
    recording its epoch hooks in ``hooks``."""

    def __init__(self, *arrays):
        super().__init__()
        self.arrays, self.hooks = arrays, []

    def __len__(self):
        return -(-len(keras.tree.flatten(self.arrays)[0]) // BATCH)

    def __getitem__(self, index):
        return keras.tree.map_structure(lambda a: a[index * BATCH:(index + 1) * BATCH], self.arrays)

    def on_epoch_begin(self):
        self.hooks.append("begin")

    def on_epoch_end(self):
        self.hooks.append("end")


def torch_loader(*arrays, shuffle=False):
    """A ``DataLoader`` of ``BATCH``-sized batches over a ``TensorDataset`` of ``arrays``."""
    torch = pytest.importorskip("torch", reason="torch is not installed, so DataLoader input cannot occur")
    tensors = [torch.from_numpy(np.asarray(a)) for a in arrays]
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*tensors), batch_size=BATCH, shuffle=shuffle)


SOURCES = {"PyDataset": ArrayBatches, "DataLoader": torch_loader}


def small_net(classes=CLASSES, seed=0, name=None):
    """A Sequential network, quick to compile on every backend."""
    keras.utils.set_random_seed(seed)
    layers = [keras.Input(SHAPE), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()]
    return keras.Sequential([*layers, keras.layers.Dense(classes)], name=name)


def compiled_distiller(classes=CLASSES, **kwargs):
    kwargs.setdefault("losses", [kd.losses.KD()])
    distiller = kd.Distiller(student=small_net(classes, name="student"),
                             teacher=small_net(classes, seed=1, name="teacher"), **kwargs)
    distiller.compile(optimizer=keras.optimizers.SGD(0.01))
    return distiller


def unchecked_fit(data, **kwargs):
    """Keras' own ``fit`` of a fresh distiller on ``data`` as given (no checks, no wrapper): the reference."""
    distiller = compiled_distiller()
    keras.Model.fit(distiller, data, verbose=0, **kwargs)
    return distiller


def batched_images(nan=False):
    x = images(BATCH * BATCHES)
    if nan:
        x[BAD_EXAMPLE, 1, 2, 0] = np.nan
    return x


@pytest.mark.parametrize("form", ["(x,)", "(x, y)", "(x, y, sample_weight)"])
@pytest.mark.parametrize("source", SOURCES)
def test_a_nan_image_in_a_batch_fails_fit(source, form):
    x, y, weights = batched_images(nan=True), labels(BATCH * BATCHES), np.ones(BATCH * BATCHES, "float32")
    arrays = {"(x,)": (x,), "(x, y)": (x, y), "(x, y, sample_weight)": (x, y, weights)}[form]
    # Batches of images alone train by distillation only.
    distiller = compiled_distiller(losses=[kd.losses.KD(alpha=1.0)], student_loss_weight=0) if form == "(x,)" \
        else compiled_distiller()
    message = f"`x` must be finite. Received: x with 1 NaN or inf values (in batch 3 of the {source}, counting from 0)"
    with pytest.raises(ValueError, match=re.escape(message)):
        distiller.fit(SOURCES[source](*arrays), epochs=1, verbose=0)


@pytest.mark.parametrize("where", ["fit", "evaluate", "validation_data"])
@pytest.mark.parametrize("source", SOURCES)
def test_a_label_beyond_the_classes_in_a_batch_fails(source, where):
    classes = 10
    y = np.arange(BATCH * BATCHES) % classes
    bad = SOURCES[source](batched_images(), np.where(np.arange(len(y)) == BAD_EXAMPLE, classes, y))
    distiller = compiled_distiller(classes=classes)
    run = {
        "fit": lambda: distiller.fit(bad, epochs=1, verbose=0),
        "evaluate": lambda: distiller.evaluate(bad, verbose=0),
        "validation_data": lambda: distiller.fit(ArrayBatches(batched_images(), y), validation_data=bad, verbose=0),
    }[where]
    message = (f"`y` must hold class indices in [0, 10): the networks predict 10 classes. "
               f"Received: y with label 10 (in batch 3 of the {source}, counting from 0)")
    with pytest.raises(ValueError, match=re.escape(message)):
        run()


@pytest.mark.parametrize("source", SOURCES)
def test_good_batches_train_in_as_many_steps_as_the_unwrapped_input(source):
    n = 2 * BATCH + 3  # the last batch partial
    distiller, reference = compiled_distiller(), unchecked_fit(SOURCES[source](images(n), labels(n)), epochs=2)
    history = distiller.fit(SOURCES[source](images(n), labels(n)), epochs=2, verbose=0)
    assert int(distiller.optimizer.iterations) == int(reference.optimizer.iterations) == 2 * 3
    assert np.isfinite(history.history["loss"]).all()


def test_a_checked_dataloader_yields_the_loaders_own_batches_reshuffled_each_epoch():
    order = np.arange(BATCH * BATCHES - 3)  # the third element: a sample weight Keras would read
    loader = torch_loader(images(len(order)), labels(len(order)), order, shuffle=True)
    checked = batch_checks(small_net()).wrap(loader)
    epochs = [[batch[2].numpy().tolist() for batch in checked] for _ in range(2)]
    assert len(checked) == len(loader) == BATCHES
    for epoch in epochs:
        assert [len(b) for b in epoch] == [BATCH] * (BATCHES - 1) + [BATCH - 3]
        assert sorted(sum(epoch, [])) == order.tolist()
    assert epochs[0] != epochs[1]


def test_a_checked_pydataset_keeps_its_epoch_hooks():
    wrapped, unwrapped = (ArrayBatches(images(), labels()) for _ in range(2))
    compiled_distiller().fit(wrapped, epochs=2, verbose=0)
    unchecked_fit(unwrapped, epochs=2)
    assert wrapped.hooks == unwrapped.hooks and wrapped.hooks.count("end") >= 2


def test_a_pydataset_of_images_alone_is_refused_before_training_when_labels_are_needed():
    distiller = compiled_distiller()
    with pytest.raises(ValueError, match=re.escape("Distiller trains on labels")):
        distiller.fit(ArrayBatches(images()), epochs=1, verbose=0)
    assert int(distiller.optimizer.iterations) == 0


def test_gkt_batches_of_images_and_index_train_and_their_images_are_checked():
    n = BATCH * BATCHES
    gkt = kd.GKT(net(14), n, seed=0)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    gkt.fit(ArrayBatches((batched_images(), np.arange(n)), labels(n)), epochs=1, verbose=0)
    assert int(gkt.optimizer.iterations) == BATCHES
    message = "`x` must be finite. Received: x with 1 NaN or inf values (in batch 3 of the PyDataset"
    with pytest.raises(ValueError, match=re.escape(message)):
        gkt.fit(ArrayBatches((batched_images(nan=True), np.arange(n)), labels(n)), epochs=1, verbose=0)


def indexed_batches(source, index):
    """((images, index), labels) batches of ``BATCH`` from a PyDataset or a torch DataLoader."""
    x, y = batched_images(), labels(len(index))
    if source == "PyDataset":
        return ArrayBatches((x, index), y)
    torch = pytest.importorskip("torch", reason="torch is not installed, so DataLoader input cannot occur")

    class Indexed(torch.utils.data.Dataset):
        def __len__(self):
            return len(index)

        def __getitem__(self, i):
            return (x[i], index[i]), y[i]

    def tuples(batch):  # default_collate makes lists, which Keras' TF adapter cannot type
        return tuple(map(tuples, batch)) if isinstance(batch, list) else batch

    collate = torch.utils.data.default_collate
    return torch.utils.data.DataLoader(Indexed(), batch_size=BATCH, collate_fn=lambda items: tuples(collate(items)))


@pytest.mark.parametrize("fault", ["beyond num_examples", "repeated in a batch"])
@pytest.mark.parametrize("source", SOURCES)
def test_a_bad_gkt_index_in_a_batch_fails_fit(source, fault):
    n = BATCH * BATCHES
    gkt = kd.GKT(net(14), n, seed=0)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    gkt.fit(indexed_batches(source, np.arange(n)), epochs=1, verbose=0)
    assert int(gkt.optimizer.iterations) == BATCHES
    index = np.arange(n)
    index[BAD_EXAMPLE] = n + 8 if fault == "beyond num_examples" else BAD_EXAMPLE - 1
    message = {"beyond num_examples": f"Every index must be in [0, num_examples={n}). Received: index={n + 8}",
               "repeated in a batch": f"Every index must be distinct. Received: index={BAD_EXAMPLE - 1} twice"}[fault]
    with pytest.raises(ValueError, match=re.escape(f"{message} (in batch 3 of the {source}, counting from 0)")):
        gkt.fit(indexed_batches(source, index), epochs=1, verbose=0)
