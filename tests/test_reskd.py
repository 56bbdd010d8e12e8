import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.test_distillation_terms import softmax

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
