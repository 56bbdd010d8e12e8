import keras
import numpy as np
import pytest
from keras import ops

import keras_kd as kd
from keras_kd.distillers import reskd
from tests.helpers import dense_net, logits_of, np_ce, np_kl, softmax

CLASSES = 5


def members(count=3):
    keras.utils.set_random_seed(0)
    return [kd.models.cifar_resnet(8, CLASSES, input_shape=(8, 8, 3), name=f"m{i}") for i in range(count)]


def images(n=12):
    return np.random.default_rng(0).standard_normal((n, 8, 8, 3)).astype("float32")


def test_energy_equals_numpy(rng):
    logits = rng.standard_normal((6, CLASSES)) * 3
    np.testing.assert_allclose(kd.distillers.energy(logits), np.sum(softmax(logits) ** 2, axis=-1), rtol=1e-12)
    assert np.all(kd.distillers.energy(logits) > 1 / CLASSES)


def test_call_is_the_sum_of_members():
    nets, x = members(), images()
    ensemble = kd.ResidualEnsemble(nets)
    want = sum(net.predict_on_batch(x) for net in nets)
    np.testing.assert_allclose(ensemble.predict_on_batch(x), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["running", "members"])
def test_threshold_zero_is_s0_and_a_high_threshold_is_the_full_sum_bitwise(mode):
    nets, x = members(), images(16)
    outputs = [np.asarray(net.predict_on_batch(x), np.float32) for net in nets]
    low, used_low = kd.ResidualEnsemble(nets, threshold=0.0, energy_mode=mode).predict_adaptive(x)
    np.testing.assert_array_equal(low, outputs[0])
    assert np.all(used_low == 1)
    high, used_high = kd.ResidualEnsemble(nets, threshold=1e9, energy_mode=mode).predict_adaptive(x)
    np.testing.assert_array_equal(high, (outputs[0] + outputs[1]) + outputs[2])
    assert np.all(used_high == 3)


def test_adaptive_inference_follows_algorithm_2_per_example():
    nets, x = members(), images(16)
    outputs = [np.asarray(net.predict_on_batch(x), np.float64) for net in nets]
    running = outputs[0].copy()
    energies = kd.distillers.energy(running)
    threshold = float(np.median(energies))
    ensemble = kd.ResidualEnsemble(nets, threshold=threshold)
    logits, used = ensemble.predict_adaptive(x, batch_size=16)
    for j in range(16):
        total, count, e = outputs[0][j].copy(), 1, energies[j]
        while e <= threshold and count < 3:
            total = total + outputs[count][j]
            count += 1
            e = kd.distillers.energy(total[None])[0]
        assert used[j] == count
        np.testing.assert_allclose(logits[j], total, rtol=1e-4, atol=1e-4)
    assert 0 < ensemble.skipped_fraction(used) < 1


@pytest.mark.parametrize("mode", ["running", "members"])
def test_a_threshold_sweep_exits_where_algorithm_2_does_at_each_threshold(mode):
    """Fig. 4's curve from one run of every member equals ``predict_adaptive`` run at each threshold."""
    nets, x = members(), images(16)
    energies = kd.distillers.energy(nets[0].predict_on_batch(images(40)[16:]))  # thresholds from other images
    thresholds = [0.0, *np.quantile(energies, [0.25, 0.5, 0.75]), 1e9]
    sweep = kd.ResidualEnsemble(nets, energy_mode=mode).predict_sweep(x, thresholds, batch_size=5)
    assert len(sweep) == len(thresholds)
    assert len({int(used.sum()) for _, used in sweep}) >= 3  # the thresholds exit differently
    for threshold, (logits, used) in zip(thresholds, sweep):
        want, want_used = kd.ResidualEnsemble(nets, threshold=threshold, energy_mode=mode).predict_adaptive(x)
        np.testing.assert_array_equal(used, want_used)
        np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="thresholds=-1"):
        kd.ResidualEnsemble(nets).predict_sweep(x, [0.5, -1])


def test_round_trip_keeps_threshold_and_mode(tmp_path):
    ensemble = kd.ResidualEnsemble(members(2), threshold=0.75, energy_mode="members")
    ensemble.save(tmp_path / "ensemble.keras")
    restored = keras.saving.load_model(tmp_path / "ensemble.keras", safe_mode=True)
    assert (restored.threshold, restored.energy_mode) == (0.75, "members")
    x = images()
    np.testing.assert_array_equal(restored.predict_on_batch(x), ensemble.predict_on_batch(x))


def test_dataset_energy_is_the_mean_example_energy():
    nets, x = members(1), images()
    want = np.mean(kd.distillers.energy(nets[0].predict(x, verbose=0)))
    assert kd.distillers.dataset_energy(nets[0], x) == pytest.approx(want)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"threshold": "0.9"}, "threshold='0.9'"),
        ({"threshold": -1}, "threshold=-1"),
        ({"threshold": True}, "threshold=True"),
        ({"energy_mode": "sum"}, "energy_mode='sum'"),
    ],
)
def test_bad_arguments_name_argument_and_value(kwargs, message):
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        kd.ResidualEnsemble(members(2), **kwargs)


def test_empty_members_and_missing_threshold_are_errors():
    with pytest.raises(ValueError, match="members=\\[\\]"):
        kd.ResidualEnsemble([])
    with pytest.raises(ValueError, match="threshold=None"):
        kd.ResidualEnsemble(members(2)).predict_adaptive(images())


def test_res_student_target_is_teacher_minus_previous_exactly():
    teacher, s0, r1, r2 = members(4)
    stage = kd.ResidualDistiller(res_student=r2, teacher=teacher, previous=[s0, r1])
    x = images()
    want = ops.convert_to_numpy(teacher(x, training=False)) - (
        ops.convert_to_numpy(s0(x, training=False)) + ops.convert_to_numpy(r1(x, training=False))
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(stage.residual_target(x)), want)


@pytest.mark.parametrize("divergence", ["l2", "kl"])
@pytest.mark.parametrize("hard_labels", ["sum", "member"])
def test_stage_loss_equals_numpy(rng, divergence, hard_labels):
    teacher, s0, r1 = (dense_net(rng, name=n) for n in ("t", "s0", "r1"))
    x = rng.standard_normal((8, 6)).astype("float32")
    y = rng.integers(0, 5, 8)
    stage = kd.ResidualDistiller(res_student=r1, teacher=teacher, previous=[s0], temperature=5.0, tau=0.3,
                                 divergence=divergence, hard_labels=hard_labels)
    stage.compile(optimizer="sgd")
    got = float(ops.convert_to_numpy(stage.compute_loss(x, y, stage(x, training=True), None, True)))
    t, s, r = (logits_of(m, x).astype("float64") for m in (teacher, s0, r1))
    target = t - s
    if divergence == "l2":
        gap = np.sum((softmax(r / 5.0) - softmax(target / 5.0)) ** 2, axis=-1)
    else:
        gap = np_kl(target, r, 5.0)
    ce = np_ce(y, s + r if hard_labels == "sum" else r)
    np.testing.assert_allclose(got, np.mean(0.3 * 25.0 * gap + 0.7 * ce), rtol=1e-5)


def test_stage_fit_trains_only_the_res_student_and_reports_s_i():
    teacher, s0, r1 = members(3)
    frozen = [ops.convert_to_numpy(w).copy() for m in (teacher, s0) for w in m.weights]
    before = [ops.convert_to_numpy(w).copy() for w in r1.trainable_weights]
    stage = kd.ResidualDistiller(res_student=r1, teacher=teacher, previous=[s0])
    stage.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    x = images(16)
    y = np.arange(16) % 5
    history = stage.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert {"loss", "residual_kd_loss", "student_loss", "accuracy"} <= set(history.history)
    after = [ops.convert_to_numpy(w) for m in (teacher, s0) for w in m.weights]
    for a, b in zip(frozen, after):
        np.testing.assert_array_equal(a, b)
    assert all(not np.array_equal(a, ops.convert_to_numpy(b)) for a, b in zip(before, r1.trainable_weights))
    s1 = kd.ResidualEnsemble([s0, r1])
    np.testing.assert_allclose(stage.predict(x, verbose=0), s1.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_stage_round_trip_and_bad_arguments(tmp_path):
    teacher, s0, r1 = members(3)
    stage = kd.ResidualDistiller(res_student=r1, teacher=teacher, previous=[s0], temperature=10.0, divergence="kl")
    stage.save(tmp_path / "stage.keras")
    restored = keras.saving.load_model(tmp_path / "stage.keras", safe_mode=True)
    assert (restored.temperature, restored.divergence, restored.tau) == (10.0, "kl", 0.1)
    for kwargs, message in [
        ({"tau": 1.5}, "tau=1.5"),
        ({"temperature": 0}, "temperature=0"),
        ({"divergence": "l1"}, "divergence='l1'"),
        ({"hard_labels": "teacher"}, "hard_labels='teacher'"),
    ]:
        with pytest.raises(ValueError, match=__import__("re").escape(message)):
            kd.ResidualDistiller(res_student=r1, teacher=teacher, previous=[s0], **kwargs)
    with pytest.raises(ValueError, match="previous=\\[\\]"):
        kd.ResidualDistiller(res_student=r1, teacher=teacher, previous=[])
    other = kd.models.cifar_resnet(8, 7, input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="same classes"):
        kd.ResidualDistiller(res_student=other, teacher=teacher, previous=[s0])


def reskd_run(tmp_path, energy_ratio, candidates=2, **kwargs):
    teacher, s0, *res = members(2 + candidates)
    x = images(16)
    y = np.arange(16) % 5
    return kd.distillers.train_reskd(
        teacher, s0, res, (x, y), x[:8],
        optimizer_fn=lambda: keras.optimizers.SGD(0.01),
        fit_kwargs={"epochs": 1, "batch_size": 8, "verbose": 0},
        energy_ratio=energy_ratio, directory=str(tmp_path), **kwargs,
    )


def test_train_reskd_stops_by_the_energy_rule_and_resumes(tmp_path):
    ensemble, record = reskd_run(tmp_path / "stop", energy_ratio=0.0)
    assert len(ensemble.members) == 2  # repeat-until: one res-student, then the rule holds
    assert record["threshold"] == pytest.approx(0.9 * record["energies"][-1]) == pytest.approx(ensemble.threshold)
    assert sorted(p.name for p in (tmp_path / "stop").iterdir()) == ["reskd.json", "stage_0.keras", "stage_1.keras"]
    full, record = reskd_run(tmp_path / "all", energy_ratio=1e9)
    assert len(full.members) == 3 and len(record["energies"]) == 3
    x = images(8)
    first = full.predict_on_batch(x)
    resumed, again = reskd_run(tmp_path / "all", energy_ratio=1e9)  # every stage on disk: no training
    np.testing.assert_array_equal(resumed.predict_on_batch(x), first)
    assert again["energies"] == pytest.approx(record["energies"])
    _, eq10 = reskd_run(tmp_path / "all", energy_ratio=1e9, threshold_ratio=1.0)
    assert eq10["threshold"] == pytest.approx(record["energies"][-1])


@pytest.mark.parametrize("name, value", [("energy_ratio", -0.1), ("threshold_ratio", "0.9"),
                                         ("threshold_ratio", True)])
def test_train_reskd_rejects_bad_ratios_before_training(tmp_path, name, value):
    with pytest.raises(ValueError, match=__import__("re").escape(f"{name}={value!r}")):
        reskd_run(tmp_path, **{"energy_ratio": 0.9, name: value})
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_gathered_rows_are_padded_to_one_of_eight_sizes():
    sizes = {reskd._bucket(count, 256) for count in range(1, 257)}
    assert sizes == {32 * k for k in range(1, 9)}
    assert all(0 <= reskd._bucket(c, 256) - c < 32 for c in range(1, 257))
    assert reskd._bucket(3, 5) == 3 and reskd._bucket(5, 5) == 5


def test_s0_eq3_with_l2_through_a_distiller_equals_numpy(rng):
    """li2021 eq. 3: tau t^2 ||softmax(S/t) - softmax(T/t)||^2 + (1 - tau) CE(y, S)."""
    student, teacher = dense_net(rng, name="s"), dense_net(rng, name="t")
    x = rng.standard_normal((8, 6)).astype("float32")
    y = rng.integers(0, 5, 8)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.SoftmaxL2(temperature=4.0, tau=0.5)])
    distiller.compile(optimizer="sgd")
    got = float(ops.convert_to_numpy(distiller.compute_loss(x, y, distiller(x, training=True), None, True)))
    s, t = (logits_of(m, x).astype("float64") for m in (student, teacher))
    gap = np.sum((softmax(s / 4.0) - softmax(t / 4.0)) ** 2, axis=-1)
    np.testing.assert_allclose(got, np.mean(0.5 * 16.0 * gap + 0.5 * np_ce(y, s)), rtol=1e-5)


def record_trainers(monkeypatch):
    """Lists every Distiller / ResidualDistiller ``train_reskd`` builds."""
    built = []

    def recorder(cls):
        return lambda *args, **kwargs: built.append(cls(*args, **kwargs)) or built[-1]

    monkeypatch.setattr(reskd, "Distiller", recorder(kd.Distiller))
    monkeypatch.setattr(reskd, "ResidualDistiller", recorder(kd.ResidualDistiller))
    return built


@pytest.mark.parametrize("settings, student_tau, candidates", [(None, 0.9, 2), ("cifar100", 0.5, 1)])
def test_train_reskd_defaults_are_li2021_section_4b2(tmp_path, monkeypatch, settings, student_tau, candidates):
    built = record_trainers(monkeypatch)
    reskd_run(tmp_path, energy_ratio=1e9, candidates=candidates,
              **({} if settings is None else {"settings": settings}))
    s0, *stages = built
    assert isinstance(s0, kd.Distiller) and len(stages) == candidates
    (term,) = s0.terms
    assert isinstance(term, kd.losses.SoftmaxL2)
    assert (term.temperature, term.tau) == (20.0, student_tau)
    assert s0.student_loss_weight == pytest.approx(1 - student_tau)
    for stage in stages:
        assert isinstance(stage, kd.ResidualDistiller)
        assert (stage.temperature, stage.tau, stage.divergence) == (20.0, 0.1, "l2")


def test_train_reskd_takes_hinton_kd_and_kl_stages(tmp_path, monkeypatch):
    built = record_trainers(monkeypatch)
    reskd_run(tmp_path, energy_ratio=1e9, candidates=1, student_losses=[kd.losses.KD(4.0, 0.9)],
              stage_kwargs={"divergence": "kl"})
    s0, r1 = built
    assert [type(t) for t in s0.terms] == [kd.losses.KD] and s0.terms[0].temperature == 4.0
    assert (r1.temperature, r1.tau, r1.divergence) == (20.0, 0.1, "kl")


def test_train_reskd_rejects_unknown_settings_before_training(tmp_path):
    with pytest.raises(ValueError, match="settings='svhn'"):
        reskd_run(tmp_path, energy_ratio=0.9, settings="svhn")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_one_res_student_stage_alone_takes_the_papers_settings_and_overrides():
    teacher, s0, r1 = members()
    trainer = kd.distillers.res_student_trainer(r1, teacher, [s0], "imagenet", divergence="kl", tau=0.3)
    assert isinstance(trainer, kd.ResidualDistiller) and trainer.res_student is r1
    assert (trainer.temperature, trainer.tau, trainer.divergence) == (20.0, 0.3, "kl")
    assert kd.distillers.res_student_trainer(r1, teacher, [s0]).tau == 0.1  # li2021 §IV-B2, every dataset
    with pytest.raises(ValueError, match="settings='svhn'"):
        kd.distillers.res_student_trainer(r1, teacher, [s0], "svhn")
