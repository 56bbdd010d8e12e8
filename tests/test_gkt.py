import itertools
import re

import keras
import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from tests.test_distillation_terms import softmax
from tests.test_distiller import DISTRIBUTED

CLASSES = 5
SHAPE = (8, 8, 3)


def to_np(x):
    return ops.convert_to_numpy(x)


def resnet(depth=20, seed=0):
    """CIFAR ResNet-(6n+2) at 8 px: stages of n blocks, all but none fixed."""
    keras.utils.set_random_seed(seed)
    return kd.models.cifar_resnet(depth, CLASSES, input_shape=SHAPE)


def eq7(parent, q):
    """tang2024 Eq. 5-7 in numpy: row d is P(k_d = 1..l_d)."""
    depth = len(parent)
    rows = []
    for d, size in enumerate(parent, start=1):
        u = q ** (depth - d + 1)
        v = np.array([u ** (size - k + 1) for k in range(1, size + 1)])
        rows.append(v / v.sum())
    return rows


@pytest.mark.parametrize("q", [0.2, 0.6])
@pytest.mark.parametrize("parent", [[3, 3, 3], [3, 1, 2]])
def test_sampler_probabilities_are_eq_5_to_7(q, parent):
    sampler = kd.SubnetSampler(resnet(), q=q)
    got = to_np(sampler.probabilities(np.array(parent)))[0]
    for d, expected in enumerate(eq7(parent, q)):
        np.testing.assert_allclose(got[d, : len(expected)], expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[d, len(expected):], 0.0, atol=1e-7)


def frequencies(counts, stage, size):
    return np.bincount(counts[:, stage] - 1, minlength=size)[:size] / len(counts)


def test_sampler_empirical_distribution_matches_eq_7():
    sampler, draws = kd.SubnetSampler(resnet(), q=0.6), 20000
    seed = keras.random.SeedGenerator(1)
    main = np.tile(sampler.sizes, (draws, 1))
    children = to_np(sampler.sample(main, seed))
    for d, expected in enumerate(eq7([3, 3, 3], 0.6)):
        # 4.5 standard errors of a frequency of `draws` Bernoulli trials.
        tolerance = 4.5 * np.sqrt(expected * (1 - expected) / draws) + 1e-3
        assert np.all(np.abs(frequencies(children, d, 3) - expected) < tolerance)


def test_subnet_in_subnet_children_follow_parent():
    sampler, draws = kd.SubnetSampler(resnet(), q=0.6), 20000
    seed = keras.random.SeedGenerator(2)
    parents = to_np(sampler.sample(np.tile(sampler.sizes, (draws, 1)), seed))
    children = to_np(sampler.sample(parents, seed))
    assert np.all(children <= parents) and np.all(children >= 1)
    for d in range(3):
        for size in (2, 3):
            chosen = children[parents[:, d] == size]
            expected = eq7([size] * 3, 0.6)[d]
            tolerance = 4.5 * np.sqrt(expected * (1 - expected) / len(chosen)) + 1e-3
            assert np.all(np.abs(frequencies(chosen, d, size) - expected) < tolerance)


def test_sample_not_full_is_eq_7_conditioned_on_a_skip():
    sampler, draws = kd.SubnetSampler(resnet(14), q=0.6), 20000  # stages of 2
    counts = to_np(sampler.sample_not_full(keras.random.SeedGenerator(3), batch=draws))
    assert not np.any(np.all(counts == 2, axis=1))
    rows = eq7([2, 2, 2], 0.6)
    configs = list(itertools.product([1, 2], repeat=3))[:-1]  # all but (2, 2, 2)
    joint = np.array([np.prod([rows[d][k - 1] for d, k in enumerate(c)]) for c in configs])
    joint /= joint.sum()
    seen = np.array([np.mean(np.all(counts == c, axis=1)) for c in configs])
    assert np.all(np.abs(seen - joint) < 4.5 * np.sqrt(joint * (1 - joint) / draws) + 1e-3)


def test_gates_keep_the_first_blocks_of_each_stage(rng):
    model = resnet()
    sampler = kd.SubnetSampler(model)
    gates = sampler.gates(np.array([1, 3, 2], dtype="int32"))
    assert [g is None for g in gates] == [True, False, False] * 3
    assert [bool(to_np(g)) for g in gates if g is not None] == [False, False, True, True, True, False]
    x = rng.standard_normal((2,) + SHAPE).astype("float32")
    static = [None, False, False, None, True, True, None, True, False]
    np.testing.assert_allclose(
        to_np(model(x, training=False, block_gates=gates)),
        to_np(model(x, training=False, block_gates=static)),
        rtol=1e-5, atol=1e-6,
    )


def data(rng, n):
    x = rng.standard_normal((n,) + SHAPE).astype("float32")
    return x, rng.integers(0, CLASSES, n)


def test_group_cycles_and_children_never_exceed_parents(rng):
    gkt = kd.GKT(resnet(), num_examples=8, num_groups=3, q=0.6, seed=0)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data(rng, 8)
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
    gkt = kd.GKT(resnet(14), num_examples=16, seed=0)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data(rng, 16)
    gkt.fit((x, np.arange(16)), y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    assert int(to_np(gkt.group)) == 8 % 3  # 8 steps
    steps = [(step % 3, step % 4) for step in range(8)]  # (group, batch), all distinct
    expected = np.zeros((3, 16))
    for group, batch in steps:
        expected[group, 4 * batch : 4 * batch + 4] = 1
    np.testing.assert_array_equal(gkt.group_knowledge()[1], expected)


def np_loss(y, logits, target, have, beta, temperature):
    ce = -np.log(softmax(logits.astype("float64"))[np.arange(len(y)), y])
    log_q = np.log(softmax(logits.astype("float64") / temperature))
    kl = np.sum(np.where(target > 0, target * (np.log(np.maximum(target, 1e-300)) - log_q), 0.0), -1)
    return np.mean(ce + beta * temperature**2 * np.where(have, kl, 0.0))


@pytest.mark.parametrize("group, temperature", [(0, 1.0), (1, 1.0), (2, 3.0)])
def test_loss_and_update_equal_numpy(rng, group, temperature):
    n, beta, ema = 6, 2.0, 0.3
    gkt = kd.GKT(resnet(14), num_examples=n, beta=beta, ema=ema, temperature=temperature, seed=0)
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
    source = max(group - 1, 0)
    expected = np_loss(y, logits, table[source, index], exists[source, index] > 0.5, beta, temperature)
    np.testing.assert_allclose(float(to_np(loss)), expected, rtol=1e-5)
    p = softmax(logits.astype("float64") / temperature)
    rate = np.where(exists[group, index] > 0.5, ema, 1.0)[:, None]
    table[group, index] += rate * (p - table[group, index])
    exists[group, index] = 1.0
    knowledge, marks = gkt.group_knowledge()
    np.testing.assert_allclose(knowledge, table, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(marks, exists)
    assert int(to_np(gkt.group)) == (group + 1) % 3


def test_table_and_losses_equal_a_numpy_replay_of_the_steps(rng):
    """lr 0: a step's logits are the model's training-mode logits on its subnet."""
    n, ema, beta = 8, 0.5, 2.0
    model = resnet(14)
    gkt = kd.GKT(model, num_examples=n, ema=ema, beta=beta, q=0.6, seed=3)
    gkt.compile(optimizer=keras.optimizers.SGD(0.0))
    x, y = data(rng, n)
    table, exists = np.zeros((3, n, CLASSES)), np.zeros((3, n), bool)
    for step in range(10):
        index = np.arange(4) + 4 * (step % 2)
        group = step % 3
        logs = gkt.train_on_batch((x[index], index), y[index], return_dict=True)
        counts = to_np(gkt.subnet)
        logits = to_np(model(x[index], training=True, block_gates=gkt.sampler.gates(counts)))
        source = max(group - 1, 0)
        expected = np_loss(y[index], logits, table[source, index], exists[source, index], beta, 1.0)
        np.testing.assert_allclose(logs["loss"], expected, rtol=1e-4)
        p = softmax(logits.astype("float64"))
        rate = np.where(exists[group, index], ema, 1.0)[:, None]
        table[group, index] += rate * (p - table[group, index])
        exists[group, index] = True
    knowledge, marks = gkt.group_knowledge()
    np.testing.assert_allclose(knowledge, table, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(marks, exists)


def test_fit_evaluate_and_float16_knowledge(rng, recwarn):
    model = resnet(14)
    gkt = kd.GKT(model, num_examples=16, knowledge_dtype="float16", seed=0)
    assert gkt.knowledge_bytes == 3 * 16 * CLASSES * 2
    assert keras.backend.standardize_dtype(gkt.knowledge.dtype) == "float16"
    gkt.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    x, y = data(rng, 16)
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


def test_keras_round_trip(tmp_path, rng):
    gkt = kd.GKT(resnet(14), num_examples=8, beta=1.5, ema=0.4, q=0.3, temperature=2.0,
                 include_full=True, seed=7)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data(rng, 8)
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
        ({"knowledge_dtype": "int8"}, "knowledge_dtype='int8'"),
        ({"seed": "a"}, "seed='a'"),
        ({"model": "resnet"}, "model='resnet'"),
        ({"model": keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])}, "StagedNet"),
        ({"model": kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE)}, "no block that can be skipped"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    args = {"model": resnet(14), "num_examples": 8, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.GKT(**args)


def test_batches_without_a_valid_index_raise_clear_errors(rng):
    import tensorflow as tf

    gkt = kd.GKT(resnet(14), num_examples=8, seed=0)
    gkt.compile(optimizer="sgd")
    x, y = data(rng, 8)
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


@pytest.mark.skipif(
    keras.backend.backend() not in DISTRIBUTED,
    reason="tf.distribute.MirroredStrategy needs TensorFlow; DataParallel is tested on JAX",
)
def test_knowledge_rows_exact_under_two_device_data_parallelism():
    import json
    import os
    import subprocess
    import sys

    kind, extra_env = DISTRIBUTED[keras.backend.backend()]
    script = os.path.join(os.path.dirname(__file__), "scripts", "distributed_fit.py")
    out = subprocess.run(
        [sys.executable, script, kind, "gkt"], env={**os.environ, **extra_env},
        check=True, capture_output=True, text=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["rows_exact"]
    assert np.isfinite(result["loss"]) and result["term"] > 0


def test_uniform_rule_is_uniform_over_kept_counts():
    sampler, draws = kd.SubnetSampler(resnet(), rule="uniform"), 20000
    children = to_np(sampler.sample(np.tile([3, 2, 3], (draws, 1)), keras.random.SeedGenerator(4)))
    for d, size in enumerate([3, 2, 3]):
        expected = np.full(size, 1.0 / size)
        tolerance = 4.5 * np.sqrt(expected * (1 - expected) / draws) + 1e-3
        assert np.all(np.abs(frequencies(children, d, size) - expected) < tolerance)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_stimulative_training_loss_equals_numpy(rng, temperature):
    st = kd.StimulativeTraining(resnet(14), kl_weight=0.7, temperature=temperature, seed=0)
    st.compile(optimizer="sgd")
    y = rng.integers(0, CLASSES, 4)
    main, sub = (rng.standard_normal((4, CLASSES)).astype("float32") for _ in range(2))
    images = np.zeros((4,) + SHAPE, "float32")
    y_pred = {"logits": ops.convert_to_tensor(main), "subnet_logits": ops.convert_to_tensor(sub)}
    loss = st.compute_loss(images, y, y_pred, training=True)
    p = softmax(main.astype("float64") / temperature)
    kl = np.sum(p * (np.log(p) - np.log(softmax(sub.astype("float64") / temperature))), -1)
    expected = np_loss(y, main, np.zeros_like(p), np.zeros(4, bool), 0.0, 1.0) + 0.7 * temperature**2 * kl.mean()
    np.testing.assert_allclose(float(to_np(loss)), expected, rtol=1e-5)


def test_stimulative_training_fits_and_round_trips(tmp_path, rng):
    st = kd.StimulativeTraining(resnet(14), kl_weight=0.5, seed=1)
    st.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    x, y = data(rng, 16)
    history = st.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert {"loss", "ce_loss", "st_loss", "accuracy"} <= set(history.history)
    assert np.all(np.isfinite(history.history["loss"])) and history.history["st_loss"][-1] > 0
    assert set(st.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    path = str(tmp_path / "st.keras")
    st.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_config() == st.get_config()
    np.testing.assert_array_equal(to_np(loaded.seed_generator.state), to_np(st.seed_generator.state))
    np.testing.assert_allclose(to_np(loaded.model(x)), to_np(st.model(x)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=re.escape("kl_weight=-1")):
        kd.StimulativeTraining(resnet(14), kl_weight=-1)


class OneGateTrainer(kd.distillers.subnet.SubnetTrainer):
    """Runs every block, or skips block ``skipped`` while ``skip`` is 1."""

    def __init__(self, model, skipped):
        super().__init__(model)
        self.skipped = skipped
        self.skip = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False)

    def train_call(self, images, index):
        gates = [None] * len(self.model.blocks)
        gates[self.skipped] = self.skip.value < 1
        return self.run_subnet(images, gates)

    def train_loss(self, x, y, logits, sample_weight):
        return self.supervised(x, y, logits, sample_weight)


def test_a_skipped_block_gets_a_zero_gradient_on_every_backend(rng, recwarn):
    """Momentum SGD moves a skipped block's weights by momentum x last step,
    on torch too (Keras would otherwise see no gradient and not update them)."""
    model = resnet(14)
    skipped = model.skippable.index(True)
    trainer = OneGateTrainer(model, skipped)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    x, y = data(rng, 4)
    kernel = model.blocks[skipped].trainable_weights[0]
    before = to_np(kernel).copy()
    trainer.train_on_batch(x, y)
    after_run = to_np(kernel).copy()
    trainer.skip.assign(1)
    trainer.train_on_batch(x, y)
    assert not np.array_equal(after_run, before)
    np.testing.assert_allclose(to_np(kernel), after_run + 0.9 * (after_run - before), rtol=1e-5, atol=1e-7)
    assert not [w for w in recwarn if "Gradients do not exist" in str(w.message)]


@pytest.mark.parametrize("include_full", [False, True])
def test_first_group_subnet_is_smaller_than_the_main_net_by_default(include_full):
    kwargs = {"include_full": True} if include_full else {}
    gkt = kd.GKT(resnet(20), num_examples=4, q=0.2, seed=0, **kwargs)
    sizes = np.asarray(gkt.sampler.sizes)
    full = 0
    for _ in range(200):
        gkt.group.assign(0)
        full += int(np.array_equal(to_np(gkt.next_subnet()), sizes))
    if include_full:
        assert full > 100  # Eq. 7 keeps all of ResNet-20 with P = 0.8 x 0.96 x 0.992 = 0.76
    else:
        assert full == 0
