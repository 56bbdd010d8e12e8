"""KD-guided search of res-students (``kd.nas.search``, li2021 eq. 6 with STACNAS' training, issue 25):
the two-optimizer step (one-level, and DARTS' alternating turns) against numpy, a short search through ``fit``
on every backend, the two stages kept on disk, and ``train_reskd`` with a searched res-student (killed and
resumed in a subprocess)."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import to_np

CLASSES, SHAPE = 3, (8, 8, 3)
SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "resumable_fit.py")


def tiny_supernet(seed=0, **kwargs):
    """3 cells of 2 nodes (5 edges): the search space's structure at a fraction of its compile time. 4 channels,
    not 2: torch 2.13's oneDNN corrupts the heap in the backward pass of a 2-channel supernet (glibc aborts
    under MALLOC_CHECK_=3)."""
    keras.utils.set_random_seed(seed)
    return kd.nas.SuperNet(CLASSES, channels=4, num_cells=3, nodes=2, input_shape=SHAPE, **kwargs)


def data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, *SHAPE)).astype("float32"), rng.integers(0, CLASSES, n)


def test_search_optimizers_step_each_group_with_its_own_rule():
    """One step: the weights by SGD (``w - lr g``), the architecture weights by torch's Adam (first step:
    ``a - lr g / (|g| + eps)``), each counting its own iterations."""
    weights, architecture = keras.Variable(np.ones(3, "float32"), name="kernel"), keras.Variable(
        np.ones(2, "float32"), name="architecture_normal_0")
    optimizer = kd.nas.SearchOptimizers(kd.optimizers.SGD(0.1), kd.optimizers.Adam(0.01))
    optimizer.build([weights, architecture])
    grads = [np.array([1.0, -2.0, 0.5], "float32"), np.array([0.3, -4.0], "float32")]
    optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], [weights, architecture])
    np.testing.assert_allclose(to_np(weights), 1 - 0.1 * grads[0], rtol=1e-6)
    np.testing.assert_allclose(to_np(architecture), 1 - 0.01 * grads[1] / (np.abs(grads[1]) + 1e-8), rtol=1e-5)
    assert int(to_np(optimizer.iterations)) == 1
    assert len(optimizer.variables) == len(optimizer._variables) + 2 + 4  # + each inner's iterations / lr / slots
    assert float(to_np(optimizer.learning_rate)) == pytest.approx(0.1)


def test_alternating_search_optimizers_take_turns_architecture_first():
    """DARTS' first-order bilevel step: step 0 moves only the architecture weights (Adam), step 1 only the
    network weights (SGD with momentum); the idle optimizer's slots and iterations do not move."""
    weights, architecture = keras.Variable(np.ones(3, "float32"), name="kernel"), keras.Variable(
        np.ones(2, "float32"), name="architecture_normal_0")
    optimizer = kd.nas.SearchOptimizers(kd.optimizers.SGD(0.1, momentum=0.9), kd.optimizers.Adam(0.01),
                                        alternate=True)
    optimizer.build([weights, architecture])
    grads = [np.array([1.0, -2.0, 0.5], "float32"), np.array([0.3, -4.0], "float32")]
    tensors = [keras.ops.convert_to_tensor(g) for g in grads]
    optimizer.apply(tensors, [weights, architecture])
    adam_once = 1 - 0.01 * grads[1] / (np.abs(grads[1]) + 1e-8)
    np.testing.assert_array_equal(to_np(weights), np.ones(3))
    np.testing.assert_allclose(to_np(architecture), adam_once, rtol=1e-5)
    assert [int(to_np(o.iterations)) for o in (optimizer.weights_optimizer, optimizer.architecture_optimizer)] == [0, 1]
    assert all(not to_np(v).any() for v in optimizer.weights_optimizer.variables[2:])  # momentum still zero
    optimizer.apply(tensors, [weights, architecture])
    np.testing.assert_allclose(to_np(weights), 1 - 0.1 * grads[0], rtol=1e-6)
    np.testing.assert_allclose(to_np(architecture), adam_once, rtol=1e-6)
    assert [int(to_np(o.iterations)) for o in (optimizer.weights_optimizer, optimizer.architecture_optimizer)] == [1, 1]
    optimizer.apply(tensors, [weights, architecture])  # an architecture step again: Adam's second
    assert [int(to_np(o.iterations)) for o in (optimizer.weights_optimizer, optimizer.architecture_optimizer)] == [1, 2]
    np.testing.assert_allclose(to_np(weights), 1 - 0.1 * grads[0], rtol=1e-6)
    with pytest.raises(ValueError, match="alternate.*'yes'"):
        kd.nas.SearchOptimizers(kd.optimizers.SGD(0.1), kd.optimizers.Adam(0.01), alternate="yes")


def test_alternating_batches_split_once_and_take_turns():
    x, y = np.arange(10, dtype="float32")[:, None], np.arange(10)
    batches = kd.nas.AlternatingBatches(x, y, batch_size=2, train_portion=0.6, seed=0)
    assert len(batches) == 4  # 6 weights images (3 batches), 4 architecture images (2 batches): 2 turns each
    first = [batches[i][1] for i in range(len(batches))]
    assert all(set(labels) <= set(range(6, 10)) for labels in first[0::2])  # architecture: the last 40%
    assert all(set(labels) <= set(range(6)) for labels in first[1::2])
    assert sorted(np.concatenate(first[0::2])) == list(range(6, 10))
    np.testing.assert_array_equal(batches[0][0][:, 0], batches[0][1])
    batches.on_epoch_end()
    second = [batches[i][1] for i in range(len(batches))]
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))  # reshuffled within each part
    assert all(set(labels) <= set(range(6, 10)) for labels in second[0::2])
    with pytest.raises(ValueError, match="train_portion.*1.5"):
        kd.nas.AlternatingBatches(x, y, 2, train_portion=1.5)
    with pytest.raises(ValueError, match="train_portion.*empty.*0.05"):
        kd.nas.AlternatingBatches(x, y, 2, train_portion=0.05)


def test_search_optimizers_round_trip_and_refuse_a_network_without_architecture_weights():
    optimizer = kd.nas.stacnas_optimizers(epochs=4, steps_per_epoch=2)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, kd.nas.SearchOptimizers)
    assert restored.get_config() == optimizer.get_config()
    alternating = keras.optimizers.deserialize(keras.optimizers.serialize(
        kd.nas.stacnas_optimizers(epochs=4, steps_per_epoch=2, alternate=True)))
    assert alternating.alternate and not restored.alternate
    config = optimizer.get_config()
    del config["alternate"]  # saved before the option existed
    assert not kd.nas.SearchOptimizers.from_config(config).alternate
    sgd, adam = restored.weights_optimizer, restored.architecture_optimizer
    assert (sgd.momentum, sgd.weight_decay, sgd.global_clipnorm) == (0.9, 3e-4, 3.0)
    assert (adam.beta_1, adam.beta_2, adam.weight_decay) == (0.5, 0.999, 1e-3)
    # the weights' cosine: 0.025 -> 0.001, the scheduler stepped before each epoch
    assert float(to_np(sgd.learning_rate)) == pytest.approx(0.001 + 0.024 * 0.5 * (1 + np.cos(np.pi / 4)), abs=1e-6)
    with pytest.raises(ValueError, match="no architecture weight.*kd.nas.SuperNet.*'kernel'"):
        kd.nas.SearchOptimizers(kd.optimizers.SGD(0.1), kd.optimizers.Adam(0.01)).build(
            [keras.Variable(np.ones(2, "float32"), name="kernel")])


@pytest.mark.parametrize("alternate", [False, True], ids=["one-level", "bilevel"])
def test_a_short_kd_search_changes_the_architecture_weights_and_the_weights(alternate):
    """li2021 eq. 6 (KD from a teacher into the supernet) through ``fit``: one-level as STACNAS (2 steps of
    both groups), or DARTS' first order (2 architecture steps on one half, 2 weights steps on the other)."""
    x, y = data()
    keras.utils.set_random_seed(1)
    teacher = kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE)
    net = tiny_supernet(primitives=kd.nas.STACNAS_STAGE1)
    alphas = [to_np(a).copy() for a in net.architecture_weights]
    weights = [to_np(w).copy() for w in net.network_weights]
    search = kd.Distiller(student=net, teacher=teacher)
    search.compile(optimizer=kd.nas.stacnas_optimizers(epochs=1, steps_per_epoch=2, alternate=alternate))
    if alternate:
        history = search.fit(kd.nas.AlternatingBatches(x, y, batch_size=2), epochs=1, verbose=0)
    else:
        history = search.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    assert all(not np.array_equal(a, to_np(v)) for a, v in zip(alphas, net.architecture_weights))
    changed = [not np.array_equal(w, to_np(v)) for w, v in zip(weights, net.network_weights)]
    assert sum(changed) > len(changed) // 2  # every weight on a path with a gradient (not affine-free BNs)
    optimizer = search.optimizer
    assert [int(to_np(o.iterations)) for o in (optimizer.weights_optimizer, optimizer.architecture_optimizer)] == [2, 2]
    assert len(net.network_weights) + len(net.architecture_weights) == len(net.trainable_weights)
    assert net.architecture_weights[0].name == "architecture_normal_0"


@pytest.mark.heavy(backend="torch")  # the search's wiring, backend-independent (the step is tested above)
def test_a_bilevel_search_runs_both_stages_in_turns():
    x, y = data(8)
    keras.utils.set_random_seed(2)
    teacher = kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE)
    trainers = []

    def recording(net):
        trainers.append(kd.Distiller(student=net, teacher=teacher))
        return trainers[-1]

    spec = kd.nas.ResStudentSearch(epochs=(1, 2), cells=(3, 3), channels=4, nodes=2, batch_size=2,
                                   optimization="bilevel", train_portion=0.75)
    genotype = spec.search(recording, (x, y), CLASSES, SHAPE, {"verbose": 0, "shuffle": True})
    assert genotype.nodes == 2 and len(trainers) == 2
    for trainer, epochs in zip(trainers, spec.epochs):  # 6 weights images, 2 architecture images: 1 turn each
        optimizer = trainer.optimizer
        assert optimizer.alternate
        assert [int(to_np(o.iterations)) for o in (optimizer.weights_optimizer,
                                                   optimizer.architecture_optimizer)] == [epochs, epochs]


def test_bilevel_needs_arrays_it_can_split():
    spec = kd.nas.ResStudentSearch(optimization="bilevel")
    with pytest.raises(ValueError, match="bilevel.*dataset.*list"):
        spec.search(NoTraining(), [np.zeros((4, *SHAPE)), np.zeros(4)], CLASSES, SHAPE)


@pytest.mark.parametrize("optimizers_fn", [
    lambda epochs, steps, **_: kd.nas.stacnas_optimizers(epochs, steps),  # ignores alternate=True
    lambda epochs, steps, **_: kd.optimizers.SGD(0.1),
], ids=["one-level optimizers", "plain SGD"])
def test_bilevel_refuses_optimizers_that_do_not_take_turns(optimizers_fn):
    x, y = data(8)
    spec = kd.nas.ResStudentSearch(epochs=(1, 1), cells=(3, 3), channels=4, nodes=2, batch_size=2,
                                   optimization="bilevel", optimizers_fn=optimizers_fn)
    with pytest.raises(ValueError, match=r"optimizers_fn\(\.\.\., alternate=True\)"):
        spec.search(lambda net: None, (x, y), CLASSES, SHAPE)


class NoTraining:
    def __call__(self, supernet):
        raise AssertionError("a kept stage was trained again")


@pytest.mark.heavy(backend="torch")  # file handling, backend-independent: a search compiles in seconds on torch, 80 s on TF
def test_the_two_stages_are_kept_and_a_later_call_resumes_after_them(tmp_path):
    x, y = data(8)
    keras.utils.set_random_seed(2)
    teacher = kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE)
    spec = kd.nas.ResStudentSearch(epochs=(1, 1), cells=(3, 3), channels=4, nodes=2, batch_size=4, network_cells=3,
                                   network_channels=4)
    genotype = spec.search(lambda net: kd.Distiller(student=net, teacher=teacher), (x, y), CLASSES, SHAPE,
                           {"verbose": 0}, directory=str(tmp_path))
    stage1 = kd.files.read_json(str(tmp_path / "search_stage1.json"))
    assert all(tuple(names) in kd.nas.STACNAS_CATEGORIES.values() for kind in stage1.values() for names in kind)
    for pairs, _ in (genotype.cell(False), genotype.cell(True)):  # stage 2 chose within each edge's category
        assert all(primitive != "none" for primitive, _ in pairs)
    assert spec.search(NoTraining(), (x, y), CLASSES, SHAPE, directory=str(tmp_path)) == genotype
    os.remove(tmp_path / "genotype.json")  # stage 1 kept: only stage 2 runs again
    candidates = []

    def recording(net):
        candidates.append(len(net.edge_primitives["normal"][0]))
        return kd.Distiller(student=net, teacher=teacher)

    spec.search(recording, (x, y), CLASSES, SHAPE, {"verbose": 0}, directory=str(tmp_path))
    assert candidates == [3]  # one stage, over the categories' members (stage 1 offers 5 representatives)
    model = spec.build(genotype, CLASSES, SHAPE)
    assert model.get_layer("cell0").filters == 4 and genotype.nodes == 2


def test_the_res_student_is_the_widest_within_its_parameter_and_mflops_budgets():
    genotype = kd.nas.DARTS_V2

    def counts(c):
        model = kd.nas.darts_network(genotype, 10, c, 3, SHAPE, pool_norm=True)
        profile = kd.models.profile(model, convention="li2021")
        return profile["trainable_params"], profile["flops"] / 1e6

    channels = kd.nas.ResStudentSearch(network_cells=3, params_budget=6_000).channels_for(genotype, 10, SHAPE)
    assert channels % 2 == 0 and counts(channels)[0] <= 6_000 < counts(channels + 2)[0]
    mflops = counts(channels)[1]  # now the MFLOPs bound binds, one width below
    narrower = kd.nas.ResStudentSearch(network_cells=3, params_budget=6_000, mflops_budget=mflops * 0.99)
    channels = narrower.channels_for(genotype, 10, SHAPE)
    assert counts(channels)[1] <= mflops * 0.99 < counts(channels + 2)[1]


class NoBuild(kd.nas.ResStudentSearch):
    def build(self, *args, **kwargs):
        raise AssertionError("the res-student of a saved stage was built again")


def test_a_resumed_train_reskd_loads_a_saved_searched_stage_without_building_it(tmp_path):
    x, y = data(8)
    keras.utils.set_random_seed(3)
    teacher, student = (kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE) for _ in range(2))
    saved = kd.nas.darts_network(kd.nas.DARTS_V2, CLASSES, 4, 3, SHAPE, name="searched_r1")
    kd.files.save_model(student, str(tmp_path / "stage_0.keras"))
    kd.files.save_model(saved, str(tmp_path / "stage_1.keras"))
    os.makedirs(tmp_path / "stage_1_search")
    kd.files.write_json(str(tmp_path / "stage_1_search" / "genotype.json"), kd.nas.DARTS_V2.get_config())
    ensemble, record = kd.distillers.train_reskd(
        teacher, student, [NoBuild(network_cells=3)], (x, y), x, optimizer_fn=NoTraining(),
        directory=str(tmp_path))
    assert [m.name for m in ensemble.members][1] == "searched_r1"
    assert record["searched"][1]["params"] == kd.models.profile(saved)["trainable_params"]
    assert kd.nas.Genotype.from_config(record["searched"][1]["genotype"]) == kd.nas.DARTS_V2


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": (1,)}, "one value per search stage"),
    ({"cells": (2, 3)}, "cells"),
    ({"network_channels": 5}, "network_channels.*even"),
    ({"nodes": 0}, "nodes"),
    ({"params_budget": 0}, "params_budget"),
    ({"mflops_budget": 0}, "mflops_budget"),
    ({"optimization": "unrolled"}, "optimization.*unrolled"),
    ({"train_portion": 1.0}, "train_portion"),
])
def test_bad_search_settings_name_themselves(kwargs, message):
    with pytest.raises(ValueError, match=message):
        kd.nas.ResStudentSearch(**kwargs)


@pytest.mark.heavy  # subprocesses on torch, whatever the backend: the search compiles in seconds there
def test_train_reskd_with_a_searched_res_student_resumes_exactly_after_a_kill(tmp_path):
    """ResKD with R_1 searched (stage 0: 3 epochs; search: 2 + 2 epochs; R_1: 3 epochs; 4 batches each):
    killed in the second epoch of the second search stage and re-run, it ends bitwise where an uninterrupted
    run ends; the record holds R_1's genotype, parameters and MFLOPs."""
    env = dict(os.environ, KERAS_BACKEND="torch")

    def run(directory, *args):
        return subprocess.run([sys.executable, SCRIPT, "reskd_search", str(directory), *map(str, args)],
                              capture_output=True, text=True, env=env)

    whole = run(tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    killed = run(tmp_path / "resumed", 12 + 8 + 6)
    assert killed.returncode == 17, killed.stderr
    assert (tmp_path / "resumed" / "stages" / "stage_1_search" / "search_stage1.json").exists()
    resumed = run(tmp_path / "resumed")
    assert resumed.returncode == 0, resumed.stderr
    assert int((tmp_path / "resumed" / "steps.txt").read_text()) == 40 - 26 + 2  # from the last epoch end
    expected, got = (np.load(tmp_path / name / "final.npz") for name in ("whole", "resumed"))
    assert sorted(got.files) == sorted(expected.files)
    for name in expected.files:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    record = kd.files.read_json(str(tmp_path / "resumed" / "stages" / "reskd.json"))
    searched = record["searched"]["1"]
    assert kd.nas.Genotype.from_config(searched["genotype"]).nodes == 2
    assert searched["params"] > 0 and searched["mflops"] > 0


def test_seeded_weights_give_the_same_network_whatever_ran_before_and_leave_the_random_stream():
    import random

    spec = kd.nas.ResStudentSearch(network_cells=3, network_channels=4, seed=7)
    first = spec.build(kd.nas.DARTS_V2, CLASSES, SHAPE)
    random.seed(1)
    kd.models.cifar_resnet(8, CLASSES, input_shape=SHAPE)  # draws before: the res-student does not change
    state = random.getstate()
    second = spec.build(kd.nas.DARTS_V2, CLASSES, SHAPE)
    assert random.getstate() == state  # the caller's stream is left where it was
    for a, b in zip(first.weights, second.weights):
        np.testing.assert_array_equal(to_np(a), to_np(b))
    other = kd.nas.ResStudentSearch(network_cells=3, network_channels=4, seed=8).build(kd.nas.DARTS_V2, CLASSES, SHAPE)
    assert not np.array_equal(to_np(first.weights[0]), to_np(other.weights[0]))
