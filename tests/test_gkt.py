import itertools
import re

import keras
import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from tests.test_distillation_terms import softmax
from tests.two_devices import needs_two_devices, run_two_device_script

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


# Group (0-based) whose knowledge supervises group t, from tang2024's definitions.
SOURCES = {"hierarchical": lambda t: max(t - 1, 0), "largest_group": lambda t: 0, "self_group": lambda t: t}


@pytest.mark.parametrize(
    "group, temperature, supervision, ema",
    [(0, 1.0, "hierarchical", 0.3), (1, 1.0, "hierarchical", 0.3), (2, 3.0, "hierarchical", 0.3),
     (2, 1.0, "largest_group", 0.3), (1, 2.0, "self_group", 0.3), (2, 1.0, "hierarchical", 1.0)],
)
def test_loss_and_update_equal_numpy(rng, group, temperature, supervision, ema):
    n, beta = 6, 2.0
    gkt = kd.GKT(resnet(14), num_examples=n, beta=beta, ema=ema, temperature=temperature,
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
    expected = np_loss(y, logits, table[source, index], exists[source, index] > 0.5, beta, temperature)
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


@pytest.mark.parametrize(
    "ablation",
    [{"include_full": False, "rule": "uniform", "block_range": (4, 5)},
     {"rule": "linear_stagewise", "final_survival": 0.6, "supervision": "main_net"}],
)
def test_keras_round_trip(tmp_path, rng, ablation):
    gkt = kd.GKT(resnet(14), num_examples=8, beta=1.5, ema=0.4, q=0.3, temperature=2.0, seed=7, **ablation)
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


@needs_two_devices
def test_knowledge_rows_exact_under_two_device_data_parallelism():
    result = run_two_device_script("distributed_fit", "gkt")
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


def test_default_draws_the_main_net_at_t1_with_eq_7_probability():
    """Eq. 7 as printed: P(main net) = prod_d chi_d[l_d], 0.76 for ResNet-20 at q = 0.2."""
    gkt, draws = kd.GKT(resnet(20), num_examples=4), 1000
    sizes = np.asarray(gkt.sampler.sizes)
    expected = np.prod([row[-1] for row in eq7(sizes, 0.2)])
    full = 0
    for _ in range(draws):
        gkt.group.assign(0)
        full += int(np.array_equal(to_np(gkt.next_subnet()), sizes))
    # 4.5 standard errors of a frequency of `draws` Bernoulli trials
    assert abs(full / draws - expected) < 4.5 * np.sqrt(expected * (1 - expected) / draws)


def test_include_full_false_never_draws_the_main_net():
    gkt = kd.GKT(resnet(20), num_examples=4, include_full=False, seed=0)
    sizes = np.asarray(gkt.sampler.sizes)
    for _ in range(100):
        gkt.group.assign(0)
        assert not np.array_equal(to_np(gkt.next_subnet()), sizes)


def test_configs_saved_before_the_ablations_load_with_the_paper_method():
    config = kd.GKT(resnet(14), num_examples=8, include_full=False, seed=0).get_config()
    for key in ("rule", "final_survival", "supervision"):
        del config[key]
    loaded = kd.GKT.from_config(config)
    assert (loaded.rule, loaded.supervision, loaded.include_full) == ("exponential", "hierarchical", False)


# tang2024 Table 7, WRN-28-10 (36.54M parameters): shares of tiny (7.4-17.17M),
# medium (17.17-26.85M) and large (26.85-36.54M) subnets and the mean size.
# "Group#k" ranks the groups by size: Group#3, the largest, is generation t = 1.
TABLE_7 = {3: ([0.06, 0.15, 0.79], 30.43), 2: ([0.19, 0.29, 0.52], 25.50), 1: ([0.35, 0.34, 0.31], 21.54)}


def test_eq_7_at_q_half_with_the_main_net_reproduces_table_7():
    """Exact: the distribution of each generation over WRN-28-10's 64 ordered subnets."""
    model = kd.models.wide_resnet(28, 10, num_classes=100, input_shape=SHAPE)
    sampler = kd.SubnetSampler(model, q=0.5)
    block = np.array([sum(int(np.prod(w.shape)) for w in b.trainable_weights) for b in model.blocks])
    other = sum(int(np.prod(w.shape)) for w in model.trainable_weights) - block.sum()
    subnets = np.array(list(itertools.product(range(1, 5), repeat=3)))  # kept counts per stage
    millions = np.array([other + sum(block[4 * d : 4 * d + k].sum() for d, k in enumerate(c)) for c in subnets]) / 1e6
    rows = to_np(sampler.probabilities(subnets)).astype("float64")  # (64, D, L): P(k_d | parent)
    transition = np.prod([rows[:, d, subnets[:, d] - 1] for d in range(3)], axis=0)  # parent -> child
    distribution = transition[np.flatnonzero((subnets == 4).all(1))[0]]  # t = 1: drawn from the main net
    for generation in (1, 2, 3):
        shares, mean = TABLE_7[4 - generation]
        size_class = np.digitize(millions, [17.17, 26.85])
        np.testing.assert_allclose(np.bincount(size_class, distribution, 3), shares, atol=0.02)
        assert abs(distribution @ millions - mean) < 0.1
        distribution = distribution @ transition


@pytest.mark.parametrize("rule", ["uniform", "exponential"])
def test_ordered_rule_probabilities_follow_their_definitions(rule):
    parent = np.array([[3, 3, 3], [3, 1, 2]])
    got = to_np(kd.SubnetSampler(resnet(), rule=rule, q=0.3).probabilities(parent))
    for row, counts in zip(got, parent):
        expected = eq7(counts, 0.3) if rule == "exponential" else [np.full(k, 1.0 / k) for k in counts]
        for d, stage in enumerate(expected):
            np.testing.assert_allclose(row[d, : len(stage)], stage, rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(row[d, len(stage):], 0.0, atol=1e-7)


def linear_survival(parent, fixed, stage_of_block, final_survival, stagewise):
    """Huang et al.'s (huang2016) p = 1 - (r / R)(1 - p_L) over the parent's kept blocks, in numpy."""
    survival = np.zeros(len(parent))
    groups = stage_of_block if stagewise else np.zeros_like(stage_of_block)
    for group in np.unique(groups):
        kept = np.flatnonzero((groups == group) & (parent == 1))
        for rank, block in enumerate(kept, start=1):
            survival[block] = 1.0 if fixed[block] else 1 - rank / len(kept) * (1 - final_survival)
    return survival


@pytest.mark.parametrize("rule", ["linear", "linear_stagewise"])
def test_linear_rules_survival_and_draws_follow_huang_et_al(rule):
    model = resnet()  # 3 stages of 3 blocks, the first of each fixed
    sampler = kd.SubnetSampler(model, rule=rule, final_survival=0.6)
    fixed, stage_of_block = ~np.array(model.skippable), np.repeat(np.arange(3), 3)
    parents = np.array([np.ones(9, int), [1, 0, 1, 1, 1, 0, 1, 0, 1]])
    expected = [linear_survival(p, fixed, stage_of_block, 0.6, rule == "linear_stagewise") for p in parents]
    np.testing.assert_allclose(to_np(sampler.survival(parents)), expected, rtol=1e-6, atol=1e-7)
    draws = 20000
    children = to_np(sampler.sample(np.repeat(parents, draws, axis=0), keras.random.SeedGenerator(5)))
    for k, (parent, survival) in enumerate(zip(parents, expected)):
        seen = children[k * draws : (k + 1) * draws]
        assert np.all(seen <= parent)
        tolerance = 4.5 * np.sqrt(survival * (1 - survival) / draws) + 1e-3
        assert np.all(np.abs(seen.mean(0) - survival) < tolerance)


def test_linear_rule_trains_a_subnet_of_its_parent(rng):
    gkt = kd.GKT(resnet(14), num_examples=8, rule="linear", seed=1)
    gkt.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data(rng, 8)
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
    model, beta = resnet(14), 2.0
    gkt = kd.GKT(model, num_examples=8, beta=beta, q=0.6, supervision="main_net", seed=2)
    gkt.compile(optimizer=keras.optimizers.SGD(0.0))
    x, y = data(rng, 8)
    for step in range(3):
        logs = gkt.train_on_batch((x[:4], np.arange(4)), y[:4], return_dict=True)
        subnet = to_np(model(x[:4], training=True, block_gates=gkt.sampler.gates(to_np(gkt.subnet))))
        main = to_np(model(x[:4], training=True))
        expected = np_loss(y[:4], subnet, softmax(main.astype("float64")), np.ones(4, bool), beta, 1.0)
        np.testing.assert_allclose(logs["loss"], expected, rtol=1e-4)


def mini_space(parent, low, high, weights):
    """Children of ``parent`` running low..high blocks and their probabilities (numpy):
    ``weights[d][k - 1]`` of each stage, renormalized over the mini-space."""
    children = [c for c in itertools.product(*(range(1, k + 1) for k in parent)) if low <= sum(c) <= high]
    p = np.array([np.prod([weights[d][k - 1] for d, k in enumerate(c)]) for c in children])
    return children, p / p.sum()


@pytest.mark.parametrize(
    "rule, parent, block_range", [("uniform", [3, 3, 3], (5, 6)), ("exponential", [3, 3, 2], (6, 7))]
)
def test_block_range_renormalizes_the_rule_over_the_mini_space(rule, parent, block_range):
    """tang2024 Table 6's UR(low~high): subnets with low..high blocks only."""
    sampler = kd.SubnetSampler(resnet(), rule=rule, q=0.4, block_range=block_range)
    weights = eq7(parent, 0.4) if rule == "exponential" else [np.ones(k) for k in parent]
    children, expected = mini_space(parent, *block_range, weights)
    joint = softmax(to_np(sampler.joint_log_weights(np.array(parent))).astype("float64"))[0]
    got = {tuple(c): p for c, p in zip(sampler.subnets, joint)}
    np.testing.assert_allclose([got[c] for c in children], expected, rtol=1e-5)
    assert sum(got[c] for c in children) == pytest.approx(1.0, abs=1e-6)
    draws = 20000
    drawn = to_np(sampler.sample(np.tile(parent, (draws, 1)), keras.random.SeedGenerator(6)))
    seen = np.array([np.mean(np.all(drawn == c, axis=1)) for c in children])
    assert np.all(np.abs(seen - expected) < 4.5 * np.sqrt(expected * (1 - expected) / draws) + 1e-3)


def test_gkt_with_a_block_range_samples_only_the_mini_space():
    gkt = kd.GKT(resnet(), num_examples=4, rule="uniform", block_range=(5, 6), include_full=False, seed=0)
    for step in range(30):
        blocks = int(to_np(gkt.next_subnet()).sum())
        gkt.group.assign((step + 1) % 3)
        assert 5 <= blocks <= 6
