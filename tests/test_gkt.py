"""keras_kd.GKT (tang2024): group knowledge table, its loss and update, fitting, saving, ablations
(the subnet sampler: tests/test_gkt_sampler.py)."""

import re

import keras
import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from tests.helpers import CLASSES, SHAPE, eq7, image_batch, np_subnet_loss, small_resnet, softmax, to_np
from tests.two_devices import needs_two_devices, run_two_device_script


def test_group_cycles_and_children_never_exceed_parents(rng):
    gkt = kd.GKT(small_resnet(), num_examples=8, num_groups=3, q=0.6, seed=0)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = image_batch(rng, 8)
    previous = None
    for step in range(9):
        gkt.train_on_batch((x, np.arange(8)), y)
        assert int(to_np(gkt.group)) == (step + 1) % 3
        counts = to_np(gkt.subnet)
        assert np.all(counts >= 1) and np.all(counts <= 3)
        if step % 3:
            assert np.all(counts <= previous)
        previous = counts


def test_group_carries_over_epochs(rng):
    gkt = kd.GKT(small_resnet(14), num_examples=16, seed=0)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = image_batch(rng, 16)
    gkt.fit((x, np.arange(16)), y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert int(to_np(gkt.group)) == 8 % 3  # 8 steps
    steps = [(step % 3, step % 4) for step in range(8)]  # (group, batch), all distinct
    expected = np.zeros((3, 16))
    for group, batch in steps:
        expected[group, 4 * batch : 4 * batch + 4] = 1
    np.testing.assert_array_equal(gkt.group_knowledge()[1], expected)


# Group (0-based) whose knowledge supervises group t, from tang2024's definitions.
SOURCES = {"hierarchical": lambda t: max(t - 1, 0), "largest_group": lambda t: 0, "self_group": lambda t: t}


@pytest.mark.parametrize(
    "group, temperature, supervision, ema",
    [(0, 1.0, "hierarchical", 0.3), (1, 1.0, "hierarchical", 0.3), (2, 3.0, "hierarchical", 0.3),
     (2, 1.0, "largest_group", 0.3), (1, 2.0, "self_group", 0.3), (2, 1.0, "hierarchical", 1.0)],
)
def test_loss_and_update_equal_numpy(rng, group, temperature, supervision, ema):
    n, beta = 6, 2.0
    gkt = kd.GKT(small_resnet(14), num_examples=n, beta=beta, ema=ema, temperature=temperature,
                 supervision=supervision, seed=0)
    gkt.compile(optimizer="sgd")
    table = softmax(rng.standard_normal((3, n, CLASSES)))
    exists = (rng.uniform(size=(3, n)) < 0.6).astype("float32")
    table *= exists[..., None]
    gkt.knowledge.assign(table.reshape(-1, CLASSES).astype("float32"))
    gkt.exists.assign(exists.reshape(-1))
    gkt.group.assign(group)
    index = np.array([4, 0, 3, 1], dtype="int32")
    y = rng.integers(0, CLASSES, 4)
    logits = rng.standard_normal((4, CLASSES)).astype("float32") * 2
    images = np.zeros((4,) + SHAPE, "float32")
    loss = gkt.compute_loss((images, index), y, ops.convert_to_tensor(logits), training=True)
    source = SOURCES[supervision](group)
    expected = np_subnet_loss(y, logits, table[source, index], exists[source, index] > 0.5, beta, temperature)
    np.testing.assert_allclose(float(to_np(loss)), expected, rtol=1e-5)
    p = softmax(logits.astype("float64") / temperature)
    rate = np.where(exists[group, index] > 0.5, ema, 1.0)[:, None]
    table[group, index] += rate * (p - table[group, index])
    exists[group, index] = 1.0
    knowledge, marks = gkt.group_knowledge()
    np.testing.assert_allclose(knowledge, table, rtol=1e-5, atol=1e-6)
    if ema == 1.0:  # EMA off (Table 5): the knowledge is the latest output
        np.testing.assert_allclose(knowledge[group, index], p, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(marks, exists)
    assert int(to_np(gkt.group)) == (group + 1) % 3


def test_table_and_losses_equal_a_numpy_replay_of_the_steps(rng):
    """lr 0: a step's logits are the model's training-mode logits on its subnet."""
    n, ema, beta = 8, 0.5, 2.0
    model = small_resnet(14)
    gkt = kd.GKT(model, num_examples=n, ema=ema, beta=beta, q=0.6, seed=3)
    gkt.compile(optimizer=keras.optimizers.SGD(0.0))
    x, y = image_batch(rng, n)
    table, exists = np.zeros((3, n, CLASSES)), np.zeros((3, n), bool)
    for step in range(10):
        index = np.arange(4) + 4 * (step % 2)
        group = step % 3
        logs = gkt.train_on_batch((x[index], index), y[index], return_dict=True)
        counts = to_np(gkt.subnet)
        logits = to_np(model(x[index], training=True, block_gates=gkt.sampler.gates(counts)))
        source = max(group - 1, 0)
        expected = np_subnet_loss(y[index], logits, table[source, index], exists[source, index], beta, 1.0)
        np.testing.assert_allclose(logs["loss"], expected, rtol=1e-4)
        p = softmax(logits.astype("float64"))
        rate = np.where(exists[group, index], ema, 1.0)[:, None]
        table[group, index] += rate * (p - table[group, index])
        exists[group, index] = True
    knowledge, marks = gkt.group_knowledge()
    np.testing.assert_allclose(knowledge, table, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(marks, exists)


def test_fit_evaluate_and_float16_knowledge(rng, recwarn):
    model = small_resnet(14)
    gkt = kd.GKT(model, num_examples=16, knowledge_dtype="float16", seed=0)
    assert gkt.knowledge_bytes == 3 * 16 * CLASSES * 2
    assert keras.backend.standardize_dtype(gkt.knowledge.dtype) == "float16"
    gkt.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    x, y = image_batch(rng, 16)
    history = gkt.fit((x, np.arange(16)), y, batch_size=8, epochs=2, verbose=0)
    assert {"loss", "ce_loss", "gk_loss", "accuracy"} <= set(history.history)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not [w for w in recwarn if "Gradients do not exist" in str(w.message)]  # torch: skipped blocks
    knowledge, marks = gkt.group_knowledge()
    assert knowledge.shape == (3, 16, CLASSES) and marks.shape == (3, 16)
    np.testing.assert_allclose(knowledge.sum(-1), marks, atol=2e-3)
    result = gkt.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) == {"loss", "accuracy"}
    full = to_np(model(x, training=False))
    ce = -np.log(softmax(full.astype("float64"))[np.arange(16), y]).mean()
    np.testing.assert_allclose(result["loss"], ce, rtol=1e-4)
    np.testing.assert_allclose(to_np(gkt.predict((x, np.arange(16)), verbose=0)), full, rtol=1e-4, atol=1e-5)
    assert {id(v) for v in model.weights}.isdisjoint({id(gkt.knowledge), id(gkt.exists)})


@pytest.mark.parametrize(
    "ablation",
    [{"include_full": False, "rule": "uniform", "block_range": (4, 5)},
     {"rule": "linear_stagewise", "final_survival": 0.6, "supervision": "main_net"}],
)
def test_keras_round_trip(tmp_path, rng, ablation):
    gkt = kd.GKT(small_resnet(14), num_examples=8, beta=1.5, ema=0.4, q=0.3, temperature=2.0, seed=7, **ablation)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = image_batch(rng, 8)
    gkt.fit((x, np.arange(8)), y, batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "gkt.keras")
    gkt.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, kd.GKT)
    assert loaded.get_config() == gkt.get_config()
    for name in ("knowledge", "exists", "group", "subnet"):
        np.testing.assert_array_equal(to_np(getattr(loaded, name)), to_np(getattr(gkt, name)))
    np.testing.assert_array_equal(to_np(loaded.seed_generator.state), to_np(gkt.seed_generator.state))
    np.testing.assert_allclose(to_np(loaded.model(x)), to_np(gkt.model(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_examples": 0}, "num_examples=0"),
        ({"num_groups": 1.5}, "num_groups=1.5"),
        ({"beta": -1}, "beta=-1"),
        ({"ema": 0}, "ema=0"),
        ({"q": 1}, "q=1"),
        ({"temperature": 0}, "temperature=0"),
        ({"include_full": "yes"}, "include_full='yes'"),
        ({"rule": "cosine"}, "rule='cosine'"),
        ({"final_survival": 1}, "final_survival=1"),
        ({"supervision": "teacher"}, "supervision='teacher'"),
        ({"rule": "linear", "include_full": False}, "rule='linear'"),
        ({"block_range": (5, 4)}, "block_range=(5, 4)"),
        ({"block_range": (1, 2)}, "block_range=(1, 2)"),  # ResNet-14 runs 3..6 blocks
        ({"block_range": "4-5"}, "block_range='4-5'"),
        ({"block_range": (4, 5), "rule": "linear"}, "rule='linear'"),
        ({"block_range": (6, 6), "include_full": False}, "block_range=(6, 6)"),
        ({"knowledge_dtype": "int8"}, "knowledge_dtype='int8'"),
        ({"seed": "a"}, "seed='a'"),
        ({"model": "resnet"}, "model='resnet'"),
        ({"model": keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])}, "StagedNet"),
        ({"model": kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE)}, "no block that can be skipped"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    args = {"model": small_resnet(14), "num_examples": 8, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.GKT(**args)


def test_batches_without_a_valid_index_raise_clear_errors(rng):
    import tensorflow as tf

    gkt = kd.GKT(small_resnet(14), num_examples=8, seed=0)
    gkt.compile(optimizer="sgd")
    x, y = image_batch(rng, 8)
    cases = [
        ((x,), "with_index=True"),
        ((tf.data.Dataset.from_tensor_slices((x, y)).batch(4),), "with_index=True"),
        (((x, np.zeros(8, "float32")), y), "1-D integer"),
        (((x, np.arange(1, 9)), y), "num_examples=8). Received: index=8"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=re.escape(message)):
            gkt.fit(*args, batch_size=None if len(args) == 1 else 4, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=re.escape("with_index=True")):
        gkt.train_on_batch(x, y)  # checked while tracing
    history = gkt.fit((x, np.arange(8)), y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@needs_two_devices
def test_knowledge_rows_exact_under_two_device_data_parallelism():
    result = run_two_device_script("distributed_fit", "gkt")
    assert result["rows_exact"]
    assert np.isfinite(result["loss"]) and result["term"] > 0


def test_default_draws_the_main_net_at_t1_with_eq_7_probability():
    """Eq. 7 as printed: P(main net) = prod_d chi_d[l_d], 0.76 for ResNet-20 at q = 0.2."""
    gkt, draws = kd.GKT(small_resnet(20), num_examples=4), 1000
    sizes = np.asarray(gkt.sampler.sizes)
    expected = np.prod([row[-1] for row in eq7(sizes, 0.2)])
    full = 0
    for _ in range(draws):
        gkt.group.assign(0)
        full += int(np.array_equal(to_np(gkt.next_subnet()), sizes))
    # 4.5 standard errors of a frequency of `draws` Bernoulli trials
    assert abs(full / draws - expected) < 4.5 * np.sqrt(expected * (1 - expected) / draws)


def test_include_full_false_never_draws_the_main_net():
    gkt = kd.GKT(small_resnet(20), num_examples=4, include_full=False, seed=0)
    sizes = np.asarray(gkt.sampler.sizes)
    for _ in range(100):
        gkt.group.assign(0)
        assert not np.array_equal(to_np(gkt.next_subnet()), sizes)


def test_configs_saved_before_the_ablations_load_with_the_paper_method():
    config = kd.GKT(small_resnet(14), num_examples=8, include_full=False, seed=0).get_config()
    for key in ("rule", "final_survival", "supervision"):
        del config[key]
    loaded = kd.GKT.from_config(config)
    assert (loaded.rule, loaded.supervision, loaded.include_full) == ("exponential", "hierarchical", False)


def test_linear_rule_trains_a_subnet_of_its_parent(rng):
    gkt = kd.GKT(small_resnet(14), num_examples=8, rule="linear", seed=1)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = image_batch(rng, 8)
    previous = None
    for step in range(6):
        gkt.train_on_batch((x, np.arange(8)), y)
        mask = to_np(gkt.subnet)
        assert mask.shape == (6,) and np.all(mask[~np.array(gkt.model.skippable)] == 1)
        if step % 3:
            assert np.all(mask <= previous)
        previous = mask


def test_main_net_supervision_is_the_main_nets_output_on_the_batch(rng):
    """lr 0: each step's loss is CE(subnet) + beta KL(softmax(main) || softmax(subnet))."""
    model, beta = small_resnet(14), 2.0
    gkt = kd.GKT(model, num_examples=8, beta=beta, q=0.6, supervision="main_net", seed=2)
    gkt.compile(optimizer=keras.optimizers.SGD(0.0))
    x, y = image_batch(rng, 8)
    for step in range(3):
        logs = gkt.train_on_batch((x[:4], np.arange(4)), y[:4], return_dict=True)
        subnet = to_np(model(x[:4], training=True, block_gates=gkt.sampler.gates(to_np(gkt.subnet))))
        main = to_np(model(x[:4], training=True))
        expected = np_subnet_loss(y[:4], subnet, softmax(main.astype("float64")), np.ones(4, bool), beta, 1.0)
        np.testing.assert_allclose(logs["loss"], expected, rtol=1e-4)


def test_gkt_with_a_block_range_samples_only_the_mini_space():
    gkt = kd.GKT(small_resnet(), num_examples=4, rule="uniform", block_range=(5, 6), include_full=False, seed=0)
    for step in range(30):
        blocks = int(to_np(gkt.next_subnet()).sum())
        gkt.group.assign((step + 1) % 3)
        assert 5 <= blocks <= 6
