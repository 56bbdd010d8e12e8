"""keras_kd.optimizers.SGD against a numpy replay of PyTorch's SGD rule."""

import re

import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.two_devices import needs_two_devices, run_two_device_script

STEPS = 120


def torch_sgd_replay(w0, gradients, learning_rates, momentum, nesterov, weight_decay):
    """PyTorch's ``torch.optim.SGD.step`` rule (dampening 0), written out in numpy."""
    w, buffer = w0.astype(np.float64), None
    for g, lr in zip(gradients, learning_rates):
        g = g + weight_decay * w
        if momentum:
            buffer = g.copy() if buffer is None else momentum * buffer + g
            g = g + momentum * buffer if nesterov else buffer
        w = w - lr * g
    return w


def fixed_gradients(rng, shape):
    return [rng.standard_normal(shape).astype("float32") for _ in range(STEPS)]


def step_schedule():
    """lr 0.1, x0.2 from step 40 and from step 80: drops inside the trajectory."""
    return kd.schedules.MultiStepDecay(0.1, [40, 80], 0.2, steps_per_epoch=1)


def schedule_values():
    return [0.1 if t < 40 else 0.02 if t < 80 else 0.004 for t in range(STEPS)]


def run_keras(optimizer, w0, gradients):
    variable = keras.Variable(w0)
    for g in gradients:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    return keras.ops.convert_to_numpy(variable)


SETTINGS = [
    dict(momentum=0.0, nesterov=False, weight_decay=0.0),
    dict(momentum=0.0, nesterov=False, weight_decay=5e-4),
    dict(momentum=0.9, nesterov=False, weight_decay=5e-4),
    dict(momentum=0.9, nesterov=True, weight_decay=5e-4),
    dict(momentum=0.9, nesterov=True, weight_decay=0.0),
]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_trajectory_equals_pytorch_rule_in_numpy(setting, rng):
    w0 = rng.standard_normal((3, 4)).astype("float32")
    gradients = fixed_gradients(rng, w0.shape)
    got = run_keras(kd.optimizers.SGD(step_schedule(), **setting), w0, gradients)
    expected = torch_sgd_replay(w0, gradients, schedule_values(), **setting)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="compares with torch.optim.SGD itself")
@pytest.mark.parametrize("setting", SETTINGS[2:], ids=["momentum", "nesterov", "nesterov-no-decay"])
def test_trajectory_equals_torch_optim_sgd(setting, rng):
    import torch

    w0 = rng.standard_normal((3, 4)).astype("float32")
    gradients = fixed_gradients(rng, w0.shape)
    parameter = torch.nn.Parameter(torch.tensor(w0))
    reference = torch.optim.SGD([parameter], lr=0.1, **setting)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(reference, milestones=[40, 80], gamma=0.2)
    for g in gradients:
        parameter.grad = torch.tensor(g)
        reference.step()
        scheduler.step()
    got = run_keras(kd.optimizers.SGD(step_schedule(), **setting), w0, gradients)
    np.testing.assert_allclose(got, parameter.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_coupled_decay_shrinks_a_weight_about_ten_times_more_than_keras_decoupled_decay():
    w0, zero = np.ones((2,), "float32"), [np.zeros((2,), "float32")] * 1000
    coupled = run_keras(kd.optimizers.SGD(0.1, momentum=0.9, weight_decay=5e-4), w0, zero)
    decoupled = run_keras(keras.optimizers.SGD(0.1, momentum=0.9, weight_decay=5e-4), w0, zero)
    ratio = np.log(coupled[0]) / np.log(decoupled[0])
    assert 9.5 < ratio < 10.5, ratio  # momentum 0.9 amplifies a coupled decay 1 / (1 - 0.9) times


def test_excluded_variables_do_not_decay():
    optimizer = kd.optimizers.SGD(0.1, weight_decay=0.1)
    decayed, kept = keras.Variable(np.ones(2, "float32"), name="kernel"), keras.Variable(np.ones(2, "float32"), name="bias")
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    zero = keras.ops.zeros((2,))
    optimizer.apply_gradients([(zero, decayed), (zero, kept)])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(decayed), 0.99)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kept), 1.0)


def linear_data(rng):
    x = rng.standard_normal((32, 4)).astype("float32")
    return x, (x @ rng.standard_normal((4, 3))).astype("float32")


def test_fit_equals_replay_with_mse_gradients(rng):
    x, y = linear_data(rng)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    kernel0, bias0 = (keras.ops.convert_to_numpy(w).copy() for w in model.weights)
    model.compile(optimizer=kd.optimizers.SGD(0.05, momentum=0.9, nesterov=True, weight_decay=1e-2), loss="mse")
    model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    expected = mse_replay(x, y, kernel0, bias0, batch=8, epochs=3)
    for got, want in zip(model.weights, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), want, rtol=1e-4, atol=1e-5)


def mse_replay(x, y, kernel, bias, batch, epochs, lr=0.05, momentum=0.9, weight_decay=1e-2):
    """Nesterov SGD with coupled decay on a linear model's mean squared error."""
    weights = [kernel.astype(np.float64), bias.astype(np.float64)]
    buffers = [np.zeros_like(w) for w in weights]
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            xb, yb = x[start : start + batch], y[start : start + batch]
            error = 2 * (xb @ weights[0] + weights[1] - yb) / yb.size
            for i, g in enumerate([xb.T @ error, error.sum(0)]):
                g = g + weight_decay * weights[i]
                buffers[i] = momentum * buffers[i] + g
                weights[i] = weights[i] - lr * (g + momentum * buffers[i])
    return weights


def test_config_round_trip_and_saved_model_keeps_the_optimizer(tmp_path, rng):
    optimizer = kd.optimizers.SGD(step_schedule(), momentum=0.9, nesterov=True, weight_decay=4e-4, clipnorm=1.0)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is kd.optimizers.SGD
    config = restored.get_config()
    assert (config["momentum"], config["nesterov"], config["weight_decay"], config["clipnorm"]) == (0.9, True, 4e-4, 1.0)
    x, y = linear_data(rng)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is kd.optimizers.SGD
    assert int(loaded.optimizer.iterations) == 4
    assert len(loaded.optimizer.variables) == len(model.optimizer.variables) == 3  # iterations and the momenta of kernel and bias
    for saved, restored in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(restored), keras.ops.convert_to_numpy(saved))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(momentum=1.5), "`momentum` must be a number in [0, 1]. Received: momentum=1.5"),
        (dict(momentum="0.9"), "Received: momentum='0.9'"),
        (dict(weight_decay=-1e-4), "`weight_decay` must be a number in [0, inf]. Received: weight_decay=-0.0001"),
        (dict(nesterov=1, momentum=0.9), "`nesterov` must be True or False. Received: nesterov=1"),
        (dict(nesterov=True), "`nesterov=True` needs a momentum > 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        kd.optimizers.SGD(0.1, **kwargs)


def test_numpy_scalars_are_accepted():
    optimizer = kd.optimizers.SGD(0.1, momentum=np.float32(0.9), weight_decay=np.float64(5e-4))
    assert optimizer.get_config()["momentum"] == pytest.approx(0.9)


@needs_two_devices
def test_two_device_fit_equals_the_replay():
    result = run_two_device_script("distributed_sgd")
    x, y = (np.asarray(result[k], "float32") for k in ("x", "y"))
    expected = mse_replay(x, y, *(np.asarray(w) for w in result["initial"]), batch=8, epochs=3)
    for got, want in zip(result["final"], expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def torch_adam_replay(w0, gradients, learning_rate, beta_1, beta_2, epsilon, weight_decay):
    """PyTorch's ``torch.optim.Adam.step`` rule (coupled L2), written out in numpy."""
    w, m, v = w0.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(gradients, start=1):
        g = g + weight_decay * w
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        w = w - learning_rate * (m / (1 - beta_1 ** t)) / (np.sqrt(v) / np.sqrt(1 - beta_2 ** t) + epsilon)
    return w


ADAM_SETTINGS = [dict(beta_1=0.5, beta_2=0.999, epsilon=1e-8, weight_decay=1e-3),  # DARTS' architecture optimizer
                 dict(beta_1=0.9, beta_2=0.99, epsilon=1e-3, weight_decay=0.0)]  # a large epsilon shows its place


@pytest.mark.parametrize("setting", ADAM_SETTINGS, ids=["darts", "large-epsilon"])
def test_adam_trajectory_equals_pytorch_rule_in_numpy(setting, rng):
    w0 = rng.standard_normal((3, 4)).astype("float32")
    gradients = [g * 1e-2 for g in fixed_gradients(rng, w0.shape)]
    got = run_keras(kd.optimizers.Adam(3e-2, **setting), w0, gradients)
    np.testing.assert_allclose(got, torch_adam_replay(w0, gradients, 3e-2, **setting), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="compares with torch.optim.Adam itself")
def test_adam_trajectory_equals_torch_optim_adam(rng):
    import torch

    w0 = rng.standard_normal((3, 4)).astype("float32")
    gradients = fixed_gradients(rng, w0.shape)
    parameter = torch.nn.Parameter(torch.tensor(w0))
    reference = torch.optim.Adam([parameter], lr=3e-2, betas=(0.5, 0.999), weight_decay=1e-3)
    for g in gradients:
        parameter.grad = torch.tensor(g)
        reference.step()
    got = run_keras(kd.optimizers.Adam(3e-2, beta_1=0.5, weight_decay=1e-3), w0, gradients)
    np.testing.assert_allclose(got, parameter.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_adam_config_round_trip_and_bad_arguments():
    optimizer = kd.optimizers.Adam(3e-4, beta_1=0.5, weight_decay=1e-3)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, kd.optimizers.Adam)
    assert {k: restored.get_config()[k] for k in ("beta_1", "beta_2", "epsilon", "weight_decay")} == {
        "beta_1": 0.5, "beta_2": 0.999, "epsilon": 1e-8, "weight_decay": 1e-3}
    with pytest.raises(ValueError, match=re.escape("beta_1")):
        kd.optimizers.Adam(beta_1=1.0)
    with pytest.raises(ValueError, match=re.escape("weight_decay")):
        kd.optimizers.Adam(weight_decay=-1.0)
