import keras
import numpy as np
import pytest

import keras_kd as kd
from tests.helpers import CLASSES, dense_net, image_batch, logits_of, np_ce, np_kl, tiny_wrn, to_np


@pytest.mark.parametrize("temperature", [1.0, 3.0])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_mutual_losses_equal_numpy_for_three_peers(rng, temperature, reduction):
    logits = [(rng.standard_normal((6, CLASSES)) * 3).astype("float32") for _ in range(3)]
    y = rng.integers(0, CLASSES, 6)
    parts = kd.distillers.mutual_losses(logits, y, temperature, reduction, kl_weight=0.5)
    scale = 0.5 / 2 if reduction == "mean" else 0.5
    for k, (ce, kl) in enumerate(parts):
        np.testing.assert_allclose(to_np(ce), np_ce(y, logits[k]), rtol=1e-5)
        want = scale * temperature**2 * sum(np_kl(logits[j], logits[k], temperature) for j in range(3) if j != k)
        np.testing.assert_allclose(to_np(kl), want, rtol=1e-5, atol=1e-7)


def test_total_loss_is_the_sum_of_peer_losses(rng):
    peers = [dense_net(rng, name=f"p{i}") for i in range(2)]
    mutual = kd.MutualDistiller(peers)
    mutual.compile(optimizer="sgd")
    x = rng.standard_normal((8, 6)).astype("float32")
    y = rng.integers(0, CLASSES, 8)
    got = float(to_np(mutual.compute_loss(x, y, mutual(x, training=True), None, training=True)))
    a, b = (logits_of(p, x) for p in peers)
    want = np.mean(np_ce(y, a) + np_kl(b, a, 1.0) + np_ce(y, b) + np_kl(a, b, 1.0))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def clone(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def test_one_optimizer_equals_per_peer_optimizers_gradients_are_isolated(rng):
    """Peer B's update comes only from B's own CE and KL terms (targets detached)."""
    a, b = dense_net(rng, name="a"), dense_net(rng, name="b")
    x = rng.standard_normal((8, 6)).astype("float32")
    y = rng.integers(0, CLASSES, 8)
    separate = []
    for student, teacher in ((clone(a), clone(b)), (clone(b), clone(a))):
        one = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.KL(temperature=2.0)],
                           student_loss_weight=1.0)
        one.compile(optimizer=keras.optimizers.SGD(0.5))
        one.train_on_batch(x, y)
        separate.append(student.get_weights())
    a2, b2 = clone(a), clone(b)
    # MutualDistiller's peer term is kl_weight * T^2 * KL; the KL term has no T^2.
    joint = kd.MutualDistiller([a2, b2], temperature=2.0, kl_weight=1 / 4.0, update="simultaneous")
    joint.compile(optimizer=keras.optimizers.SGD(0.5))
    joint.train_on_batch(x, y)
    for got, want in zip((a2.get_weights(), b2.get_weights()), separate):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def np_softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_peer_step(k, weights, x, y, temperature, kl_weight):
    """Peer k's (gradients of W and b, CE, KL) for linear peers, in float64."""
    logits = [x @ w + b for w, b in weights]
    targets = [np_softmax(z / temperature) for j, z in enumerate(logits) if j != k]
    z = logits[k]
    one_hot = np.eye(CLASSES)[y]
    dz = (np_softmax(z) - one_hot + kl_weight * temperature * sum(np_softmax(z / temperature) - p for p in targets))
    dz /= len(x)
    ce = np.mean(np_ce(y, z))
    kl = kl_weight * temperature**2 * np.mean(sum(np_kl(z_j, z, temperature) for j, z_j in enumerate(logits) if j != k))
    return (x.T @ dz, dz.sum(axis=0)), ce, kl


def np_mutual_fit(weights, batches, update, lr, decay, momentum, temperature, kl_weight):
    """Replays ``fit`` in numpy: DML's Algorithm 1 (``"sequential"``: each peer
    steps against the others' predictions recomputed after every update) or
    one step of all peers on the same predictions; Keras' SGD with momentum
    and an exponentially decayed learning rate (one iteration per batch).
    Returns the final weights and each step's per-peer (CE, KL)."""
    weights = [[p.astype("float64") for p in peer] for peer in weights]
    velocity = [[np.zeros_like(p) for p in peer] for peer in weights]
    logged = []
    for t, (x, y) in enumerate(batches):
        rate = lr * decay**t
        x = x.astype("float64")
        if update == "sequential":  # peer k sees peers 0..k-1 already updated
            steps = []
            for k in range(len(weights)):
                steps.append(np_peer_step(k, weights, x, y, temperature, kl_weight))
                np_sgd(weights[k], velocity[k], steps[k][0], rate, momentum)
        else:
            steps = [np_peer_step(k, weights, x, y, temperature, kl_weight) for k in range(len(weights))]
            for k, step in enumerate(steps):
                np_sgd(weights[k], velocity[k], step[0], rate, momentum)
        logged.append([(ce, kl) for _, ce, kl in steps])
    return weights, np.array(logged)


def np_sgd(params, velocity, grads, rate, momentum):
    for p, v, g in zip(params, velocity, grads):
        v *= momentum
        v -= rate * g
        p += v


def fit_linear_peers(rng, update, count):
    """Fits ``count`` linear peers for 3 batches and replays the fit in numpy."""
    peers = [dense_net(rng, name=f"p{i}") for i in range(count)]
    start = [p.get_layer("out").get_weights() for p in peers]
    x = rng.standard_normal((24, 6)).astype("float32")
    y = rng.integers(0, CLASSES, 24)
    settings = dict(lr=0.5, decay=0.5, momentum=0.9, temperature=2.0, kl_weight=0.5)
    mutual = kd.MutualDistiller(peers, temperature=2.0, kl_weight=0.5, update=update)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.5, decay_steps=1, decay_rate=0.5)
    mutual.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9))
    history = mutual.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 24, 8)]
    want, logged = np_mutual_fit(start, batches, update, **settings)
    return mutual, history, want, logged


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize("update", ["sequential", "simultaneous"])
def test_fit_equals_numpy_replay_of_its_update_order(rng, update, count):
    mutual, history, want, logged = fit_linear_peers(rng, update, count)
    assert int(to_np(mutual.optimizer.iterations)) == 3  # the schedule saw one step per batch
    for peer, (w, b) in zip(mutual.peers, want):
        got_w, got_b = peer.get_layer("out").get_weights()
        np.testing.assert_allclose(got_w, w, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(got_b, b, rtol=1e-4, atol=1e-5)
    mean = logged.mean(axis=0)  # per peer: the epoch means of the CE and KL each step used
    for k in range(count):
        np.testing.assert_allclose(history[f"peer{k}_ce"][0], mean[k, 0], rtol=1e-5)
        np.testing.assert_allclose(history[f"peer{k}_kl"][0], mean[k, 1], rtol=1e-5)
    np.testing.assert_allclose(history["loss"][0], logged.sum(axis=(1, 2)).mean(), rtol=1e-5)


def test_sequential_and_simultaneous_orders_differ(rng):
    seed = rng.integers(1 << 30)
    results = [fit_linear_peers(np.random.default_rng(seed), update, 2) for update in ("sequential", "simultaneous")]
    (_, _, sequential, _), (_, _, simultaneous, _) = results
    assert np.abs(sequential[1][0] - simultaneous[1][0]).max() > 1e-2
    got = [r[0].peers[1].get_layer("out").get_weights()[0] for r in results]
    assert np.abs(got[0] - got[1]).max() > 1e-2


def batch_norm_peer(rng, name):
    inputs = keras.Input((6,))
    dense = keras.layers.Dense(CLASSES, name="out")
    outputs = keras.layers.BatchNormalization(momentum=0.5, name="bn")(dense(inputs))
    model = keras.Model(inputs, outputs, name=name)
    dense.set_weights([rng.standard_normal((6, CLASSES)).astype("float32"),
                       rng.standard_normal(CLASSES).astype("float32")])
    return model


def test_sequential_moves_each_peers_batch_statistics_once_per_batch(rng):
    """The forwards that recompute targets leave batch-norm statistics alone."""
    peers = [batch_norm_peer(rng, f"p{i}") for i in range(2)]
    x = rng.standard_normal((8, 6)).astype("float32")
    want = [0.5 * np.mean(logits_of(p, x), axis=0) for p in peers]  # pre-step weights, one update
    mutual = kd.MutualDistiller(peers, update="sequential")
    mutual.compile(optimizer=keras.optimizers.SGD(0.5))
    mutual.train_on_batch(x, rng.integers(0, CLASSES, 8))
    for peer, mean in zip(peers, want):
        np.testing.assert_allclose(to_np(peer.get_layer("bn").moving_mean), mean, rtol=1e-5, atol=1e-6)


def test_update_default_follows_each_paper_and_round_trips(tmp_path):
    a, b = tiny_wrn(10, 1, 1), tiny_wrn(10, 1, 2)
    assert kd.MutualDistiller([a, b]).update == "sequential"  # DML, Algorithm 1
    assert kd.MutualDistiller([tiny_wrn(10, 1, 3), tiny_wrn(10, 1, 4)], auxiliary=True).update == "simultaneous"
    mutual = kd.MutualDistiller([a, b], update="simultaneous")
    assert kd.MutualDistiller.from_config(mutual.get_config()).update == "simultaneous"
    mutual = kd.MutualDistiller([a, b])
    assert kd.MutualDistiller.from_config(mutual.get_config()).update == "sequential"
    mutual.save(tmp_path / "mutual.keras")
    assert keras.saving.load_model(tmp_path / "mutual.keras", safe_mode=True).update == "sequential"


def test_config_saved_before_update_existed_loads_simultaneous():
    config = kd.MutualDistiller([tiny_wrn(10, 1, 1), tiny_wrn(10, 1, 2)]).get_config()
    del config["update"]
    assert kd.MutualDistiller.from_config(config).update == "simultaneous"  # how it was trained


@pytest.mark.parametrize("setting", [dict(use_ema=True), dict(gradient_accumulation_steps=2)])
def test_sequential_rejects_optimizers_it_cannot_step_per_peer(rng, setting):
    mutual = kd.MutualDistiller([dense_net(rng, name="a"), dense_net(rng, name="b")])
    mutual.compile(optimizer=keras.optimizers.SGD(0.1, **setting))
    name, value = next(iter(setting.items()))
    with pytest.raises(ValueError, match=__import__("re").escape(f"{name}={value!r}")):
        mutual.train_on_batch(rng.standard_normal((4, 6)).astype("float32"), np.arange(4))


def test_sequential_with_loss_scaling_trains_or_says_why(rng):
    """A LossScaleOptimizer steps per peer on TF and torch; JAX gets a clear error."""
    mutual = kd.MutualDistiller([dense_net(rng, name="a"), dense_net(rng, name="b")])
    mutual.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)))
    x, y = rng.standard_normal((4, 6)).astype("float32"), np.arange(4)
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="Received: optimizer="):
            mutual.train_on_batch(x, y)
    else:
        assert np.isfinite(mutual.train_on_batch(x, y, return_dict=True)["loss"])
        assert int(to_np(mutual.optimizer.iterations)) == 1


def test_fit_logs_every_peer_and_predicts_with_all(rng):
    peers = [tiny_wrn(10, 1, 1), kd.models.cifar_resnet(8, CLASSES, input_shape=(8, 8, 3))]
    mutual = kd.MutualDistiller(peers)
    mutual.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    x, y = image_batch(rng)
    history = mutual.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert {"loss", "peer0_ce", "peer0_kl", "peer1_ce", "peer1_kl", "peer0_accuracy",
            "peer1_accuracy", "accuracy"} <= set(history.history)
    np.testing.assert_allclose(history.history["accuracy"], history.history["peer0_accuracy"], rtol=1e-6)
    predictions = mutual.predict(x, verbose=0)
    assert len(predictions) == 2 and predictions[1].shape == (16, CLASSES)


def test_keras_round_trip_with_safe_mode(rng, tmp_path):
    mutual = kd.MutualDistiller([tiny_wrn(10, 1, 1), tiny_wrn(10, 1, 2)], temperature=2.0, reduction="mean")
    x, _ = image_batch(rng, 4)
    mutual.save(tmp_path / "mutual.keras")
    restored = keras.saving.load_model(tmp_path / "mutual.keras", safe_mode=True)
    assert (restored.temperature, restored.reduction) == (2.0, "mean")
    for got, want in zip(restored.predict(x, verbose=0), mutual.predict(x, verbose=0)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda a, b: kd.MutualDistiller([a]), "two or more models"),
        (lambda a, b: kd.MutualDistiller([]), "two or more models"),
        (lambda a, b: kd.MutualDistiller([a, a]), "distinct"),
        (lambda a, b: kd.MutualDistiller([a, kd.models.wide_resnet(10, 1, 3, input_shape=(8, 8, 3))]),
         "class counts [5, 3]"),
        (lambda a, b: kd.MutualDistiller([a, b], temperature=0), "temperature=0"),
        (lambda a, b: kd.MutualDistiller([a, b], reduction="max"), "reduction='max'"),
        (lambda a, b: kd.MutualDistiller([a, b], kl_weight=-1), "kl_weight=-1"),
        (lambda a, b: kd.MutualDistiller([a, b], update="alternating"), "update='alternating'"),
    ],
)
def test_bad_input_raises_clear_error(make, message):
    a, b = tiny_wrn(10, 1, 1), tiny_wrn(10, 1, 2)
    with pytest.raises(ValueError, match=__import__("re").escape(message)):
        make(a, b)


def test_dcm_loss_pairs_every_classifier_across_peers(rng):
    a = [(rng.standard_normal((4, CLASSES)) * 2).astype("float32") for _ in range(3)]
    b = [(rng.standard_normal((4, CLASSES)) * 2).astype("float32") for _ in range(3)]
    y = rng.integers(0, CLASSES, 4)
    (ce_a, kl_a), (ce_b, kl_b) = kd.distillers.mutual_losses([a, b], y)
    np.testing.assert_allclose(to_np(ce_a), sum(np_ce(y, z) for z in a), rtol=1e-5)
    want_a = sum(np_kl(t, z, 1.0) for z in a for t in b)
    want_b = sum(np_kl(t, z, 1.0) for z in b for t in a)
    np.testing.assert_allclose(to_np(kl_a), want_a, rtol=1e-5)
    np.testing.assert_allclose(to_np(kl_b), want_b, rtol=1e-5)


def test_dcm_fit_trains_heads_and_keeps_plain_peers(rng, tmp_path):
    peers = [tiny_wrn(16, 1, 1), kd.models.cifar_resnet(14, CLASSES, input_shape=(8, 8, 3))]
    mutual = kd.MutualDistiller(peers, auxiliary=True)
    assert len(mutual.aux_classifiers) == 4
    mutual.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    heads_before = [to_np(w).copy() for w in mutual.aux_classifiers[0].trainable_weights]
    x, y = image_batch(rng)
    history = mutual.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    heads_after = [to_np(w) for w in mutual.aux_classifiers[0].trainable_weights]
    assert all(not np.array_equal(b, a) for b, a in zip(heads_before, heads_after))
    assert [p.shape for p in mutual.predict(x, verbose=0)] == [(16, CLASSES)] * 2
    mutual.save(tmp_path / "dcm.keras")
    restored = keras.saving.load_model(tmp_path / "dcm.keras", safe_mode=True)
    for got, want in zip(restored.aux_classifiers[0].weights, mutual.aux_classifiers[0].weights):
        np.testing.assert_array_equal(to_np(got), to_np(want))
    peers[0].save(tmp_path / "peer.keras")
    plain = keras.saving.load_model(tmp_path / "peer.keras", safe_mode=True)
    assert plain.count_params() == peers[0].count_params()


def test_dcm_mobilenet_v2_heads_follow_table_6_and_train():
    mobile = kd.models.mobilenet_v2(CLASSES, input_shape=(16, 16, 3))
    heads = kd.models.dcm_heads(mobile)
    assert heads["stage5"].stages_arg == [(6, 160, 3, 1), (3, 320, 1, 1)]
    assert heads["stage5"].head_filters == 1280
    assert heads["stage6"].stages_arg == [(6, 480, 1, 1)] and heads["stage6"].head_filters == 1920
    mutual = kd.MutualDistiller([mobile, kd.models.mobilenet_v2(CLASSES, input_shape=(16, 16, 3))],
                                auxiliary=True)
    mutual.compile(optimizer="sgd")
    x = np.random.default_rng(0).standard_normal((4, 16, 16, 3)).astype("float32")
    assert np.isfinite(mutual.train_on_batch(x, np.arange(4) % CLASSES, return_dict=True)["loss"])


def test_dcm_densenet_heads_train_with_the_peers():
    """DenseNets' heads (supp. Table 2's rule, tiny) read the dense-block outputs and train in DCM."""
    peers = [kd.models.DenseNet((2, 2, 2), (2, 2, 2), CLASSES, stem_filters=4, input_shape=(16, 16, 3),
                                name=f"dense{k}") for k in range(2)]
    mutual = kd.MutualDistiller(peers, auxiliary=True)
    c2, c3 = mutual.aux_classifiers[:2]
    assert (c2.growth_rates, c3.stage_layers) == ([6], [2, 1])
    mutual.compile(optimizer="sgd")
    heads_before = [to_np(w) for w in c3.trainable_weights]
    x = np.random.default_rng(0).standard_normal((4, 16, 16, 3)).astype("float32")
    assert np.isfinite(mutual.train_on_batch(x, np.arange(4) % CLASSES, return_dict=True)["loss"])
    heads_after = [to_np(w) for w in c3.trainable_weights]
    assert all(not np.array_equal(b, a) for b, a in zip(heads_before, heads_after))


def test_dcm_needs_a_supported_backbone():
    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.Dense(CLASSES)(keras.layers.Flatten()(inputs)), name="plain")
    with pytest.raises(ValueError, match="model='plain'"):
        kd.MutualDistiller([plain, tiny_wrn(10, 1, 1)], auxiliary=True)
