"""The bad-input table: each wrong argument or file gets its exact error type
and a message naming the argument and the value received, before anything
is trained or written (checkpoint callbacks and result files stay absent)."""

import os
import re

import keras
import numpy as np
import pytest

import keras_kd as kd

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
