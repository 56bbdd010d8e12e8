"""keras_kd.SubnetSampler (keras_kd/distillers/gkt_sampler.py): tang2024's Eq. 5-7, the uniform, linear and
block-range rules, and the gates of a drawn subnet."""

import itertools

import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import SHAPE, eq7, small_resnet, softmax, to_np


@pytest.mark.parametrize("q", [0.2, 0.6])
@pytest.mark.parametrize("parent", [[3, 3, 3], [3, 1, 2]])
def test_sampler_probabilities_are_eq_5_to_7(q, parent):
    sampler = kd.SubnetSampler(small_resnet(), q=q)
    got = to_np(sampler.probabilities(np.array(parent)))[0]
    for d, expected in enumerate(eq7(parent, q)):
        np.testing.assert_allclose(got[d, : len(expected)], expected, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[d, len(expected):], 0.0, atol=1e-7)


def frequencies(counts, stage, size):
    return np.bincount(counts[:, stage] - 1, minlength=size)[:size] / len(counts)


def test_sampler_empirical_distribution_matches_eq_7():
    sampler, draws = kd.SubnetSampler(small_resnet(), q=0.6), 20000
    seed = keras.random.SeedGenerator(1)
    main = np.tile(sampler.sizes, (draws, 1))
    children = to_np(sampler.sample(main, seed))
    for d, expected in enumerate(eq7([3, 3, 3], 0.6)):
        # 4.5 standard errors of a frequency of `draws` Bernoulli trials.
        tolerance = 4.5 * np.sqrt(expected * (1 - expected) / draws) + 1e-3
        assert np.all(np.abs(frequencies(children, d, 3) - expected) < tolerance)


def test_subnet_in_subnet_children_follow_parent():
    sampler, draws = kd.SubnetSampler(small_resnet(), q=0.6), 20000
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
    sampler, draws = kd.SubnetSampler(small_resnet(14), q=0.6), 20000  # stages of 2
    counts = to_np(sampler.sample_not_full(keras.random.SeedGenerator(3), batch=draws))
    assert not np.any(np.all(counts == 2, axis=1))
    rows = eq7([2, 2, 2], 0.6)
    configs = list(itertools.product([1, 2], repeat=3))[:-1]  # all but (2, 2, 2)
    joint = np.array([np.prod([rows[d][k - 1] for d, k in enumerate(c)]) for c in configs])
    joint /= joint.sum()
    seen = np.array([np.mean(np.all(counts == c, axis=1)) for c in configs])
    assert np.all(np.abs(seen - joint) < 4.5 * np.sqrt(joint * (1 - joint) / draws) + 1e-3)


def test_gates_keep_the_first_blocks_of_each_stage(rng):
    model = small_resnet()
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


def test_uniform_rule_is_uniform_over_kept_counts():
    sampler, draws = kd.SubnetSampler(small_resnet(), rule="uniform"), 20000
    children = to_np(sampler.sample(np.tile([3, 2, 3], (draws, 1)), keras.random.SeedGenerator(4)))
    for d, size in enumerate([3, 2, 3]):
        expected = np.full(size, 1.0 / size)
        tolerance = 4.5 * np.sqrt(expected * (1 - expected) / draws) + 1e-3
        assert np.all(np.abs(frequencies(children, d, size) - expected) < tolerance)


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
    got = to_np(kd.SubnetSampler(small_resnet(), rule=rule, q=0.3).probabilities(parent))
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
    model = small_resnet()  # 3 stages of 3 blocks, the first of each fixed
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
    sampler = kd.SubnetSampler(small_resnet(), rule=rule, q=0.4, block_range=block_range)
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
