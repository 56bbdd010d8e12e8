import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import CLASSES, SHAPE, image_batch, softmax, to_np


def resnet(depth=20):
    """CIFAR ResNet-(6n+2) at 8 px: the first block of stages 2 and 3 is fixed."""
    return kd.models.cifar_resnet(depth, CLASSES, input_shape=SHAPE)


def huang(skippable, final):
    """Huang et al. 2016's (huang2016) linear decay p_l = 1 - l / L (1 - p_L); 1 for fixed blocks."""
    depth = len(skippable)
    return np.array([1 - l / depth * (1 - final) if s else 1.0 for l, s in enumerate(skippable, 1)])


def ce(logits, y):
    return -np.log(softmax(logits.astype("float64"))[np.arange(len(y)), y]).mean()


def unnamed_config(net):
    return {key: value for key, value in net.get_config().items() if key != "name"}


def test_survival_decays_linearly_to_final_survival():
    model = resnet()
    sd = kd.StochasticDepth(model, final_survival=0.8)
    assert model.skippable == [True, True, True, False, True, True, False, True, True]
    np.testing.assert_allclose(sd.survival, huang(model.skippable, 0.8))
    assert sd.survival[-1] == pytest.approx(0.8)


def test_empirical_survival_frequencies_match_and_blocks_are_independent():
    sd, draws = kd.StochasticDepth(resnet(), final_survival=0.5), 20000
    survived = to_np(sd.sample_survivors(keras.random.SeedGenerator(1), batch=draws))
    p = sd.survival
    # 4.5 standard errors of a frequency of `draws` Bernoulli trials.
    np.testing.assert_array_less(np.abs(survived.mean(0) - p), 4.5 * np.sqrt(p * (1 - p) / draws) + 1e-3)
    both, expected = np.mean(survived[:, 1] & survived[:, 8]), p[1] * p[8]
    assert abs(both - expected) < 4.5 * np.sqrt(expected * (1 - expected) / draws)


def test_loss_is_ce_of_the_scaled_subnet_drawn_with_the_trainer_seed(rng):
    """lr 0: each step's loss is the CE of the subnet drawn from the seed, rebuilt here."""
    model = resnet(14)
    sd = kd.StochasticDepth(model, final_survival=0.5, seed=3)
    sd.compile(optimizer=keras.optimizers.SGD(0.0))
    replay = keras.random.SeedGenerator(3)
    x, y = image_batch(rng, 8)
    dropped = 0
    for _ in range(4):
        survived = to_np(sd.sample_survivors(replay))[0]
        logs = sd.train_on_batch((x, np.arange(8)), y, return_dict=True)
        gates = [bool(s) if p < 1 else None for s, p in zip(survived, sd.survival)]
        scales = [1 / p if p < 1 else None for p in sd.survival]
        logits = to_np(model(x, training=True, block_gates=gates, branch_scales=scales))
        np.testing.assert_allclose(logs["loss"], ce(logits, y), rtol=1e-4)
        dropped += int(np.sum(~survived))
    assert dropped > 0


def test_fit_evaluates_the_full_net_and_round_trips(tmp_path, rng):
    model = resnet(14)
    sd = kd.StochasticDepth(model, final_survival=0.7, seed=1)
    sd.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    x, y = image_batch(rng, 16)
    history = sd.fit((x, np.arange(16)), y, batch_size=8, epochs=2, verbose=0)
    assert {"loss", "accuracy"} <= set(history.history)
    assert np.all(np.isfinite(history.history["loss"]))
    sd.fit(x, y, batch_size=8, epochs=1, verbose=0)  # images without an index
    full = to_np(model(x, training=False))
    result = sd.evaluate(x, y, verbose=0, return_dict=True)
    assert set(result) == {"loss", "accuracy"}
    np.testing.assert_allclose(result["loss"], ce(full, y), rtol=1e-4)
    np.testing.assert_allclose(to_np(sd.predict(x, verbose=0)), full, rtol=1e-4, atol=1e-5)
    assert unnamed_config(model) == unnamed_config(resnet(14))  # the deployed net carries no scale
    path = str(tmp_path / "sd.keras")
    sd.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, kd.StochasticDepth)
    assert loaded.get_config() == sd.get_config()
    np.testing.assert_array_equal(to_np(loaded.seed_generator.state), to_np(sd.seed_generator.state))
    np.testing.assert_allclose(to_np(loaded.model(x)), full, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", [0, 1.5, True, "0.8"])
def test_bad_final_survival_raises_a_clear_error(value):
    with pytest.raises(ValueError, match=re.escape(f"final_survival={value!r}")):
        kd.StochasticDepth(resnet(14), final_survival=value)


@pytest.mark.parametrize("trainer", [kd.StochasticDepth, kd.StimulativeTraining,
                                     lambda model: kd.GKT(model, num_examples=8)])
def test_a_network_without_skippable_blocks_is_refused(trainer):
    model = kd.models.get_model("vgg8", CLASSES, input_shape=SHAPE)
    with pytest.raises(ValueError, match=re.escape("Received: model='vgg8'")):
        trainer(model)
