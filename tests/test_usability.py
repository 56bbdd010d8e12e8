"""Traps a Keras user falls into (issue 19): each either works correctly,
checked numerically, or fails with a message that names the fix."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd

CLASSES, SHAPE = 5, (8, 8, 3)


def zoo_net(depth=8, seed=0):
    keras.utils.set_random_seed(seed)
    return kd.models.cifar_resnet(depth, CLASSES, input_shape=SHAPE)


def sequential(activation=None, seed=1):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input(SHAPE), keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(CLASSES, activation=activation),
    ])


def data(n=8):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, *SHAPE)).astype("float32"), np.arange(n) % CLASSES


def numpy_cross_entropy(logits, labels):
    z = logits - logits.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(labels)), labels]))


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_a_softmax_head_is_refused_with_the_fix(role):
    probabilities = sequential("softmax")
    networks = {"student": zoo_net(), "teacher": zoo_net(14, seed=2), role: probabilities}
    with pytest.raises(ValueError, match=f"`{role}` outputs probabilities .*classifier_activation=None"):
        kd.Distiller(**networks)


def test_keras_applications_default_softmax_teacher_is_refused_and_its_logits_version_distils():
    kwargs = dict(weights=None, input_shape=(32, 32, 3), classes=CLASSES)
    with pytest.raises(ValueError, match=re.escape("`teacher` outputs probabilities")):
        kd.Distiller(kd.models.cifar_resnet(8, CLASSES), keras.applications.MobileNetV2(**kwargs))
    teacher = keras.applications.MobileNetV2(classifier_activation=None, **kwargs)
    distiller = kd.Distiller(kd.models.cifar_resnet(8, CLASSES), teacher)
    distiller.compile(keras.optimizers.SGD(0.01))
    x = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype("float32")
    history = distiller.fit(x, np.arange(4) % CLASSES, batch_size=4, epochs=1, verbose=0)
    assert history.history["kd_loss"][0] > 0


def test_mutual_and_subnet_trainers_refuse_softmax_networks_too():
    with pytest.raises(ValueError, match=re.escape("`peers[1]` outputs probabilities")):
        kd.MutualDistiller([sequential(), sequential("softmax", seed=3)])
    with pytest.raises(ValueError, match=re.escape("`res_student` outputs probabilities")):
        kd.ResidualDistiller(sequential("softmax"), zoo_net(14), [zoo_net()])


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", None])
def test_a_cross_entropy_name_applies_to_logits(loss):
    x, y = data()
    distiller = kd.Distiller(sequential(), zoo_net(14), losses=[kd.losses.LogitL2(weight=0.0)])
    distiller.compile(keras.optimizers.SGD(0.0), loss=loss)
    logs = distiller.test_on_batch(x, y, return_dict=True)
    logits = keras.ops.convert_to_numpy(distiller.student(x, training=False))
    assert logs["loss"] == pytest.approx(numpy_cross_entropy(logits, y), rel=1e-5)


def test_a_cross_entropy_instance_without_from_logits_is_refused():
    distiller = kd.Distiller(sequential(), zoo_net(14))
    with pytest.raises(ValueError, match=re.escape("Received: loss=SparseCategoricalCrossentropy(from_logits=False)")):
        distiller.compile("sgd", loss=keras.losses.SparseCategoricalCrossentropy())


def test_keras_io_compile_arguments_point_to_the_constructor():
    distiller = kd.Distiller(sequential(), zoo_net(14))
    with pytest.raises(TypeError, match=r"Received: compile\(student_loss_fn=\.\.\., alpha=\.\.\., temperature=\.\.\.\)"
                       r".*losses=\[kd\.losses\.KD\(temperature=T, alpha=A\)\].*use 1 - alpha"):
        distiller.compile(optimizer="adam", student_loss_fn=keras.losses.SparseCategoricalCrossentropy(True),
                          alpha=0.1, temperature=10)


def test_numpy_scalars_are_numbers(tmp_path):
    x, y = data()
    classes = y.max() + 1  # a NumPy integer, as users compute it
    student = kd.models.get_model("resnet-8", classes, input_shape=SHAPE)
    distiller = kd.Distiller(student, kd.models.cifar_resnet(np.int64(14), classes, input_shape=SHAPE),
                             losses=[kd.losses.KD(temperature=np.float32(4), alpha=np.float64(0.9))])
    distiller.compile(kd.optimizers.SGD(np.float32(0.1), momentum=np.float64(0.9)))
    distiller.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    restored = kd.files.load_model(path)
    assert (restored.terms[0].temperature, restored.terms[0].alpha) == (4.0, pytest.approx(0.9))
    assert kd.schedules.MultiStepDecay(0.1, [np.int64(3)], 0.2, np.int32(10)).milestones == [3]
    assert kd.GKT(zoo_net(14), num_examples=np.int64(8)).num_examples == 8


def indexed_dataset(index):
    import tensorflow as tf

    images = np.random.default_rng(0).standard_normal((len(index), *SHAPE)).astype("float32")
    labels = np.arange(len(index)) % CLASSES
    return tf.data.Dataset.from_tensor_slices(((images, np.asarray(index)), labels)).batch(8)


def gkt_fit(x, y=None, num_examples=32):
    gkt = kd.GKT(zoo_net(14), num_examples=num_examples, seed=0)
    gkt.compile(keras.optimizers.SGD(0.01))
    gkt.fit(x, y, epochs=1, verbose=0)
    return gkt


@pytest.mark.parametrize("index, message", [
    (list(range(24)) + [40] + list(range(25, 32)), "Every index must be in [0, num_examples=32). Received: index=] [40]"),
    (list(range(31)) + [30], "The indices of a batch must be distinct."),
])
def test_gkt_refuses_bad_indices_from_tf_data_on_every_backend(index, message):
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        gkt_fit(indexed_dataset(index))


def test_gkt_refuses_duplicate_indices_in_arrays():
    x, y = data(8)
    with pytest.raises(ValueError, match=re.escape("Every index must be distinct. Received: index=3 twice")):
        gkt_fit((x, np.array([0, 1, 2, 3, 3, 5, 6, 7])), y, num_examples=8)


def test_gkt_with_good_indices_from_tf_data_marks_every_row():
    gkt = gkt_fit(indexed_dataset(np.random.default_rng(1).permutation(32)))
    _, exists = gkt.group_knowledge()
    assert exists.sum() == 32
