"""Traps a Keras user falls into (issue 19): each either works correctly,
checked numerically, or fails with a message that names the fix."""

import json
import os
import re
import warnings

import keras
import numpy as np
import pytest

import keras_kd as kd

CLASSES, SHAPE = 5, (8, 8, 3)


@pytest.fixture(autouse=True)
def nothing_written_to_disk(tmp_path, monkeypatch):
    """Every row runs in an empty working directory that must stay empty: a
    trap that raises (or works) leaves no stray file (checkpoint, log, export)."""
    working_directory = tmp_path / "cwd"
    working_directory.mkdir()
    monkeypatch.chdir(working_directory)
    yield
    assert not os.listdir(working_directory)


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
        kd.Distiller(student=kd.models.cifar_resnet(8, CLASSES), teacher=keras.applications.MobileNetV2(**kwargs))
    teacher = keras.applications.MobileNetV2(classifier_activation=None, **kwargs)
    distiller = kd.Distiller(student=kd.models.cifar_resnet(8, CLASSES), teacher=teacher)
    distiller.compile(keras.optimizers.SGD(0.01))
    x = np.random.default_rng(0).standard_normal((4, 32, 32, 3)).astype("float32")
    history = distiller.fit(x, np.arange(4) % CLASSES, batch_size=4, epochs=1, verbose=0)
    assert history.history["kd_loss"][0] > 0


def test_mutual_and_subnet_trainers_refuse_softmax_networks_too():
    with pytest.raises(ValueError, match=re.escape("`peers[1]` outputs probabilities")):
        kd.MutualDistiller([sequential(), sequential("softmax", seed=3)])
    with pytest.raises(ValueError, match=re.escape("`res_student` outputs probabilities")):
        kd.ResidualDistiller(res_student=sequential("softmax"), teacher=zoo_net(14), previous=[zoo_net()])


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", None])
def test_a_cross_entropy_name_applies_to_logits(loss):
    x, y = data()
    distiller = kd.Distiller(student=sequential(), teacher=zoo_net(14), losses=[kd.losses.LogitL2(weight=0.0)])
    distiller.compile(keras.optimizers.SGD(0.0), loss=loss)
    logs = distiller.test_on_batch(x, y, return_dict=True)
    logits = keras.ops.convert_to_numpy(distiller.student(x, training=False))
    assert logs["loss"] == pytest.approx(numpy_cross_entropy(logits, y), rel=1e-5)


def test_a_cross_entropy_instance_without_from_logits_is_refused():
    distiller = kd.Distiller(student=sequential(), teacher=zoo_net(14))
    with pytest.raises(ValueError, match=re.escape("Received: loss=SparseCategoricalCrossentropy(from_logits=False)")):
        distiller.compile("sgd", loss=keras.losses.SparseCategoricalCrossentropy())


def test_keras_io_compile_arguments_point_to_the_constructor():
    distiller = kd.Distiller(student=sequential(), teacher=zoo_net(14))
    with pytest.raises(TypeError, match=r"Received: compile\(student_loss_fn=\.\.\., alpha=\.\.\., temperature=\.\.\.\)"
                       r".*losses=\[kd\.losses\.KD\(temperature=T, alpha=A\)\].*use 1 - alpha"):
        distiller.compile(optimizer="adam", student_loss_fn=keras.losses.SparseCategoricalCrossentropy(True),
                          alpha=0.1, temperature=10)


def test_numpy_scalars_are_numbers(tmp_path):
    x, y = data()
    classes = y.max() + 1  # a NumPy integer, as users compute it
    student = kd.models.get_model("resnet-8", classes, input_shape=SHAPE)
    distiller = kd.Distiller(student=student, teacher=kd.models.cifar_resnet(np.int64(14), classes, input_shape=SHAPE),
                             losses=[kd.losses.KD(temperature=np.float32(4), alpha=np.float64(0.9))])
    distiller.compile(kd.optimizers.SGD(np.float32(0.1), momentum=np.float64(0.9)))
    distiller.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    restored = kd.files.load_model(path)
    assert (restored.terms[0].temperature, restored.terms[0].alpha) == (4.0, pytest.approx(0.9))
    assert kd.schedules.MultiStepDecay(0.1, [np.int64(3)], 0.2, np.int32(10)).milestones == [3]
    assert kd.GKT(zoo_net(14), num_examples=np.int64(8), block_range=(np.int64(1), np.int32(3))).sampler.block_range == (1, 3)
    assert kd.StochasticDepth(zoo_net(14), seed=np.int64(3)).seed == 3
    conv = kd.layers.GroupConv2D(np.int64(4), np.int64(3), groups=np.int32(2), strides=np.int64(1))
    assert json.loads(json.dumps(conv.get_config()))["filters"] == 4  # stored as Python ints: the config stays JSON
    assert kd.models.get_model("resnet-8", classes, block="G(2)", input_shape=SHAPE).count_params() > 0
    assert str(kd.layers.BlockSpec("BG", groups=np.int64(2), bottleneck=np.int32(2))) == "BG(2,2)"


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


def test_positional_networks_are_refused_loudly():
    student, teacher = sequential(), zoo_net(14)
    with pytest.raises(TypeError, match=r"Distiller takes its networks by keyword: Distiller\(student=\.\.\., teacher=\.\.\.\)"
                       r" \(keras.distillation's Distiller takes \(teacher, student\) in that order\)\. Received 2"):
        kd.Distiller(teacher, student)
    with pytest.raises(TypeError, match="Received 0 positional argument.* and no teacher"):
        kd.Distiller(student=student)
    with pytest.raises(TypeError, match=r"ResidualDistiller\(res_student=\.\.\., teacher=\.\.\., previous=\.\.\.\)"):
        kd.ResidualDistiller(sequential(seed=3), teacher, [student])


def test_unlabeled_distillation_trains_on_images_alone():
    x, _ = data()
    teacher = zoo_net(14)
    distiller = kd.Distiller(student=sequential(), teacher=teacher, losses=[kd.losses.KD(alpha=1.0)])
    distiller.compile(keras.optimizers.SGD(0.0))
    logs = distiller.fit(x, batch_size=8, epochs=1, verbose=0).history
    s = keras.ops.convert_to_numpy(distiller.student(x, training=False)).astype("float64") / 4
    t = keras.ops.convert_to_numpy(teacher(x, training=False)).astype("float64") / 4
    log_p = t - np.log(np.exp(t).sum(-1, keepdims=True))
    log_q = s - np.log(np.exp(s).sum(-1, keepdims=True))
    expected = 16 * np.mean(np.sum(np.exp(log_p) * (log_p - log_q), -1))
    assert logs["kd_loss"][0] == pytest.approx(expected, rel=1e-4) and logs["loss"][0] == pytest.approx(expected, rel=1e-4)
    assert "student_loss" not in logs


@pytest.mark.parametrize("make", [
    lambda: kd.Distiller(student=sequential(), teacher=zoo_net(14)),
    lambda: kd.MutualDistiller([sequential(), sequential(seed=3)]),
])
def test_trainers_that_need_labels_say_so(make):
    x, _ = data()
    trainer = make()
    trainer.compile(keras.optimizers.SGD(0.01))
    with pytest.raises(ValueError, match=re.escape("trains on labels: pass `y`")):
        trainer.fit(x, epochs=1, verbose=0)


@pytest.mark.parametrize("where", ["validation_data", "positional validation_data", "evaluate"])
def test_validation_and_evaluation_labels_are_checked(where):
    x, y = data()
    wrong = y.copy()
    wrong[3] = 7
    distiller = kd.Distiller(student=sequential(), teacher=zoo_net(14))
    distiller.compile(keras.optimizers.SGD(0.01), metrics=["accuracy"])
    with pytest.raises(ValueError, match=re.escape("Received: y with label 7")):
        if where == "evaluate":
            distiller.evaluate(x, wrong, verbose=0)
        elif where == "validation_data":
            distiller.fit(x, y, validation_data=(x, wrong), epochs=1, verbose=0)
        else:  # fit(x, y, batch_size, epochs, verbose, callbacks, validation_split, validation_data)
            distiller.fit(x, y, None, 1, 0, None, 0.0, (x, wrong))
    assert int(distiller.optimizer.iterations) == 0


def test_fit_arguments_given_twice_are_a_type_error():
    x, y = data()
    distiller = kd.Distiller(student=sequential(), teacher=zoo_net(14))
    distiller.compile(keras.optimizers.SGD(0.01))
    with pytest.raises(TypeError, match=re.escape("fit() got multiple values for argument 'epochs'")):
        distiller.fit(x, y, 4, 1, epochs=2)
    with pytest.raises(TypeError, match=re.escape("fit() got an unexpected keyword argument 'epoch'")):
        distiller.fit(x, y, epoch=2)
    with pytest.raises(TypeError, match=re.escape("fit() got too many positional arguments")):
        distiller.fit(x, y, *([None] * 20))
    assert int(distiller.optimizer.iterations) == 0


def functional(name, dense_tap=False):
    inputs = keras.Input(SHAPE)
    features = keras.layers.Conv2D(4, 3, padding="same", name=f"{name}_conv")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    hidden = keras.layers.Dense(6, name=f"{name}_hidden")(pooled)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(hidden if dense_tap else pooled), name=name)


def test_feature_taps_on_functional_models_say_how_to_name_them():
    with pytest.raises(ValueError, match=re.escape("taps={'student_layer': 'teacher_layer'}")):
        kd.Distiller(student=functional("s"), teacher=functional("t"), losses=[kd.losses.AttentionTransfer()])
    distiller = kd.Distiller(student=functional("s"), teacher=functional("t"),
                             losses=[kd.losses.AttentionTransfer(taps={"s_conv": "t_conv"})])
    x, y = data()
    distiller.compile(keras.optimizers.SGD(0.01))
    assert np.isfinite(distiller.fit(x, y, epochs=1, verbose=0).history["at_loss"][0])


def test_a_dense_tap_is_named_at_construction():
    with pytest.raises(ValueError, match=re.escape("needs 4-D feature maps (batch, height, width, channels): "
                                                   "student tap 's_hidden' has shape (None, 6)")):
        kd.Distiller(student=functional("s", True), teacher=functional("t", True),
                     losses=[kd.losses.AttentionTransfer(taps={"s_hidden": "t_hidden"})])


def test_teacher_and_student_input_shapes_must_agree():
    with pytest.raises(ValueError, match=re.escape("Received input shapes: student (8, 8, 3), teacher (16, 16, 3)")):
        kd.Distiller(student=zoo_net(), teacher=kd.models.cifar_resnet(14, CLASSES, input_shape=(16, 16, 3)))


class Subclassed(keras.Model):
    """A subclassed network: no ``inputs``, its input shape known only from being built."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv, self.pool = keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(CLASSES)

    def call(self, x):
        return self.head(self.pool(self.conv(x)))


def test_subclassed_networks_built_by_a_call_distil_and_their_data_is_checked():
    x, y = data()
    teacher, student = Subclassed(), Subclassed()
    teacher(x[:1]), student(x[:1])
    before = [keras.ops.convert_to_numpy(net.weights[0]) for net in (teacher, student)]
    distiller = kd.Distiller(student=student, teacher=teacher)
    distiller.compile(keras.optimizers.SGD(0.1))
    assert np.isfinite(distiller.fit(x, y, epochs=1, verbose=0).history["kd_loss"][0])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(teacher.weights[0]), before[0])
    assert not np.allclose(keras.ops.convert_to_numpy(student.weights[0]), before[1])
    with pytest.raises(ValueError, match=re.escape("`x` must be images of shape (batch, 8, 8, 3) for this model")):
        distiller.fit(x[:, :4], y, epochs=1, verbose=0)


@pytest.mark.parametrize("teacher_kind", ["zoo", "sequential", "compiled and trained zoo"])
def test_a_reloaded_distiller_continues_exactly(tmp_path, teacher_kind):
    x, y = data()
    teacher = sequential(seed=4) if teacher_kind == "sequential" else zoo_net(14)
    if teacher_kind.startswith("compiled"):
        teacher.compile(keras.optimizers.SGD(0.1, momentum=0.9), keras.losses.SparseCategoricalCrossentropy(True))
        teacher.fit(x, y, epochs=1, verbose=0)
    distiller = kd.Distiller(student=zoo_net(), teacher=teacher)
    distiller.compile(kd.optimizers.SGD(kd.schedules.MultiStepDecay(0.1, [2], 0.1, 1), momentum=0.9), metrics=["accuracy"])
    distiller.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = kd.files.load_model(path)
    assert not [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    assert not restored.teacher.compiled and not restored.student.compiled  # the trainer owns the optimizer
    assert len(restored.trainable_variables) == len(distiller.trainable_variables) == len(distiller.student.trainable_weights)
    assert int(restored.optimizer.iterations) == 2
    for trainer in (distiller, restored):
        trainer.train_on_batch(x[:4], y[:4])
    for mine, theirs in zip(distiller.student.weights, restored.student.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(theirs), keras.ops.convert_to_numpy(mine), rtol=1e-5, atol=1e-6)


def test_summary_names_each_network_role_and_term():
    distiller = kd.Distiller(student=zoo_net(), teacher=zoo_net(), losses=[kd.losses.KD(temperature=2.0)])
    lines = []
    distiller.summary(print_fn=lambda line, **kwargs: lines.append(line))
    params = f"{distiller.student.count_params():,} params"
    assert lines[-3:] == [
        f" student: {distiller.student.name} (ResidualNetwork), trained, {params}",
        f" teacher: {distiller.teacher.name} (ResidualNetwork), frozen, {params}",
        " loss term: kd = KD(temperature=2.0, alpha=0.9, mode='hinton'); a term has no output shape ('?')",
    ]


def test_test_on_batch_reports_what_evaluate_reports():
    x, y = data()
    distiller = kd.Distiller(student=zoo_net(), teacher=zoo_net(14))
    distiller.compile(keras.optimizers.SGD(0.01), metrics=["accuracy"])
    distiller.fit(x, y, epochs=1, verbose=0)
    assert sorted(distiller.test_on_batch(x, y, return_dict=True)) == sorted(
        distiller.evaluate(x, y, return_dict=True, verbose=0)) == ["accuracy", "loss"]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="SavedModel export runs on TensorFlow here")
def test_export_writes_the_student(tmp_path):
    import tensorflow as tf

    x, _ = data()
    distiller = kd.Distiller(student=zoo_net(), teacher=zoo_net(14))
    distiller.export(str(tmp_path / "student"))
    exported = tf.saved_model.load(str(tmp_path / "student"))  # kept: its variables live with it
    served = exported.serve(x)
    np.testing.assert_allclose(np.asarray(served), keras.ops.convert_to_numpy(distiller.student(x)), rtol=1e-5, atol=1e-5)


DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def docs_block(page, heading):
    """The first python code block under ``heading`` in the documentation page ``docs/<page>``."""
    text = open(os.path.join(DOCS, page), encoding="utf-8").read().split(heading, 1)[1]
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def keras_io_networks():
    """keras.io's MNIST distillation teacher and student, as published (logits heads)."""
    def net(filters, name):
        return keras.Sequential([
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(filters[0], (3, 3), strides=(2, 2), padding="same"),
            keras.layers.LeakyReLU(negative_slope=0.2),
            keras.layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding="same"),
            keras.layers.Conv2D(filters[1], (3, 3), strides=(2, 2), padding="same"),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ], name=name)
    return net((256, 512), "teacher"), net((16, 32), "student")


def test_the_keras_io_example_ported_runs():
    rng = np.random.default_rng(0)
    x_train, x_test = (rng.random((n, 28, 28, 1)).astype("float32") for n in (32, 16))
    y_train, y_test = rng.integers(0, 10, 32), rng.integers(0, 10, 16)
    teacher, student = keras_io_networks()
    teacher.compile(optimizer=keras.optimizers.Adam(), metrics=[keras.metrics.SparseCategoricalAccuracy()],
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x_train, y_train, epochs=1, verbose=0)
    scope = {"kd": kd, "keras": keras, "student": student, "teacher": teacher,
             "x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    exec(docs_block("coming-from.md", "## keras.io and `keras.distillation`").replace("epochs=3", "epochs=1, verbose=0"), scope)
    distiller = scope["distiller"]
    assert distiller.terms[0].alpha == 0.9 and distiller.student_loss_weight == pytest.approx(0.1)
    assert set(distiller.evaluate(x_test, y_test, return_dict=True, verbose=0)) == {"loss", "sparse_categorical_accuracy"}


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_raw_images_predict_as_the_normalized_pipeline_does(dtype):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (24, *SHAPE), dtype=np.uint8)
    source = {"train": (raw[:16], np.arange(16) % CLASSES), "test": (raw[16:], np.arange(8) % CLASSES)}
    model = zoo_net()
    test = kd.data.load(source, "test", batch_size=8, validation_fraction=0)
    expected = model.predict(test.map(lambda images, labels: images), verbose=0)
    mean, std = kd.data.statistics(source, validation_fraction=0)
    deployable = kd.models.with_preprocessing(model, mean, std)
    got = deployable.predict(raw[16:].astype(dtype), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_adaptive_inference_on_raw_images_refuses_or_matches_the_normalized_path():
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (8, *SHAPE), dtype=np.uint8)
    mean, std = np.array([0.4, 0.5, 0.6]), np.array([0.2, 0.25, 0.3])
    ensemble = kd.ResidualEnsemble([zoo_net(seed=0), zoo_net(seed=1)], threshold=1.0)
    with pytest.raises(ValueError, match=re.escape("ensemble.with_preprocessing(mean, std)") + ".*Received: x with dtype uint8"):
        ensemble.predict_adaptive(raw)
    normalized = ((raw / 255.0 - mean) / std).astype("float32")
    expected, used = ensemble.predict_adaptive(normalized)
    for images in (raw, raw.astype("float32")):
        logits, raw_used = ensemble.with_preprocessing(mean, std).predict_adaptive(images)
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(raw_used, used)


def test_with_preprocessing_names_bad_statistics():
    with pytest.raises(ValueError, match=re.escape("`mean` and `std` must hold 3 values (one per channel, std > 0). "
                                                   "Received: mean=[0.5], std=[0.25]")):
        kd.models.with_preprocessing(zoo_net(), [0.5], [0.25])


def test_the_documented_raw_images_path_runs(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, (24, *SHAPE), dtype=np.uint8)
    source = {"train": (raw[:16], np.arange(16) % CLASSES), "test": (raw[16:], np.arange(8) % CLASSES)}
    distiller = kd.Distiller(student=zoo_net(), teacher=zoo_net(14))
    scope = {"kd": kd, "source": source, "distiller": distiller, "raw_images": raw[16:]}
    block = docs_block("raw-images.md", "# From raw images to predictions")
    exec(block.replace('"student_raw.keras"', repr(str(tmp_path / "student_raw.keras"))), scope)
    restored = kd.files.load_model(str(tmp_path / "student_raw.keras"))
    np.testing.assert_allclose(restored.predict(raw[16:], verbose=0), scope["logits"], rtol=1e-5, atol=1e-5)


def test_num_examples_counts_the_carved_train_part():
    source = (np.zeros((50, *SHAPE), np.uint8), np.arange(50) % CLASSES)
    assert kd.data.num_examples(source, "train") == 45 and kd.data.num_examples(source, "validation") == 5
