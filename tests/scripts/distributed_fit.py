"""Fits a trainer under a data-parallel setup over two CPU devices.

    KERAS_BACKEND=tensorflow python tests/scripts/distributed_fit.py mirrored distiller
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/scripts/distributed_fit.py data_parallel mutual

``distiller``: KD + AT from a WRN-16-2 teacher; ``mutual``: DML of two
peers; ``gkt``: GKT on a CIFAR ResNet-14 with per-example knowledge;
``crd``: the CRD term with its two per-example memories.
Prints one JSON line: the final loss, the distillation term, whether the
teacher (distiller) was untouched and, for ``gkt`` and ``crd``, whether every
per-example row was updated exactly (``rows_exact``); for ``crd``, whether the
replicas drew different negatives. ``single_device``: Distillers and both
MutualDistiller updates of batch-norm-free MLPs, each trained on the two devices
and on one; prints the largest weight difference of each (the replicas' summed
gradients must equal the one device's).
"""

import contextlib
import json
import sys

import keras
import numpy as np


def setup(kind):
    if kind == "mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope()
    devices = keras.distribution.list_devices("cpu")
    assert len(devices) == 2, devices
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return contextlib.nullcontext()


def build(kd, trainer):
    """The trainer, the log name of its distillation term, and the frozen teacher."""
    teacher = kd.models.wide_resnet(16, 2, 5, input_shape=(8, 8, 3))
    student = kd.models.wide_resnet(16, 1, 5, input_shape=(8, 8, 3))
    if trainer == "gkt":
        model = kd.models.cifar_resnet(14, 5, input_shape=(8, 8, 3))
        return kd.GKT(model, num_examples=EXAMPLES, seed=0), "gk_loss", None
    if trainer == "mutual":
        return kd.MutualDistiller([student, teacher]), "peer0_kl", None
    if trainer == "crd":
        term = kd.losses.CRD(labels=LABELS, num_negatives=8, seed=0)
        return kd.Distiller(student=student, teacher=teacher, losses=[term]), "crd_loss", teacher
    losses = [kd.losses.KD(4.0, 0.9), kd.losses.AttentionTransfer(1e3)]
    return kd.Distiller(student=student, teacher=teacher, losses=losses), "kd_loss", teacher


EXAMPLES, BATCH, EPOCHS = 32, 8, 2
LABELS = np.random.default_rng(0).integers(0, 5, EXAMPLES)


def crd_rows_exact(distiller):
    """Every memory row was moved by its updates once per step: unit norm (an update applied twice, or
    lost, leaves another norm: the initial rows are uniform, not unit) and Z set, positive."""
    term = distiller.terms[0]
    norms = [np.linalg.norm(keras.ops.convert_to_numpy(m), axis=1) for m in (term.memory_student, term.memory_teacher)]
    z = keras.ops.convert_to_numpy(term.normalizers)
    return bool(np.allclose(norms, 1.0, atol=1e-5) and (z > 0).all())


def gkt_rows_exact(gkt):
    """Each step marks its batch in its group once; K rows sum to 1 exactly there."""
    expected = np.zeros((gkt.num_groups, EXAMPLES))
    steps_per_epoch = EXAMPLES // BATCH
    for step in range(EPOCHS * steps_per_epoch):
        batch = step % steps_per_epoch
        expected[step % gkt.num_groups, batch * BATCH : (batch + 1) * BATCH] = 1.0
    knowledge, exists = gkt.group_knowledge()
    sums = knowledge.sum(-1)
    group = int(keras.ops.convert_to_numpy(gkt.group))
    return (
        np.array_equal(exists, expected)
        and np.allclose(sums, expected, atol=1e-5)
        and group == EPOCHS * steps_per_epoch % gkt.num_groups
    )


def mlp(seed, name):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    hidden = keras.layers.Dense(16, activation="relu")(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(5)(hidden), name=name)


def mlp_trainers(kd):
    """Fresh trainers of seeded MLPs: a KD Distiller with a compiled loss (Keras' own replica scaling) and
    both MutualDistiller updates (Keras' step, and the custom sequential one)."""
    distiller = kd.Distiller(student=mlp(0, "s"), teacher=mlp(1, "t"), losses=[kd.losses.KD()])
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    trainers = {"distiller": distiller}
    for update in ("simultaneous", "sequential"):
        mutual = kd.MutualDistiller([mlp(2, f"p0_{update}"), mlp(3, f"p1_{update}")], update=update)
        mutual.compile(optimizer=keras.optimizers.SGD(0.1))
        trainers[update] = mutual
    return trainers


def trained_weights(trainers, x, y):
    for trainer in trainers.values():
        trainer.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    return {name: [keras.ops.convert_to_numpy(w) for w in t.trainable_weights] for name, t in trainers.items()}


def single_device_differences(kind, scope, x, y):
    """Largest weight difference of each MLP trainer, two devices against one."""
    import keras_kd as kd

    if kind == "data_parallel":
        distribution = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        one = trained_weights(mlp_trainers(kd), x, y)
        keras.distribution.set_distribution(distribution)
    else:
        one = trained_weights(mlp_trainers(kd), x, y)  # outside the strategy's scope: one device
    with scope:
        trainers = mlp_trainers(kd)
    two = trained_weights(trainers, x, y)
    return {name: max(float(np.abs(a - b).max()) for a, b in zip(one[name], two[name])) for name in one}


def replicas_draw_apart(kind, model):
    """Whether ``replica_uniform`` draws differently on the two replicas (TF; JAX draws globally)."""
    if kind != "mirrored":
        return True
    import tensorflow as tf

    from keras_kd.backend.replica_state import replica_uniform

    strategy = model.distribute_strategy
    with strategy.scope():
        seeds = keras.random.SeedGenerator(0)
        draws = strategy.run(tf.function(lambda: replica_uniform((3,), seeds)))
    first, second = (d.numpy() for d in strategy.experimental_local_results(draws))
    return not np.array_equal(first, second)


def main(kind, trainer):
    scope = setup(kind)
    import keras_kd as kd

    rng = np.random.default_rng(0)
    x = rng.standard_normal((EXAMPLES, 8, 8, 3)).astype("float32")
    y = LABELS
    if trainer == "single_device":
        print(json.dumps(single_device_differences(kind, scope, x, y)))
        return
    with scope:
        model, term, teacher = build(kd, trainer)
        frozen = teacher.weights if teacher is not None else []
        before = [keras.ops.convert_to_numpy(w).copy() for w in frozen]
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), metrics=["accuracy"])
    inputs = (x, np.arange(EXAMPLES)) if trainer in ("gkt", "crd") else x
    history = model.fit(inputs, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in frozen]
    print(json.dumps({
        "loss": history.history["loss"][-1],
        "term": history.history[term][-1],
        "teacher_unchanged": all(np.array_equal(a, b) for a, b in zip(before, after)),
        "rows_exact": {"gkt": gkt_rows_exact, "crd": crd_rows_exact}.get(trainer, lambda _: None)(model),
        "draws_apart": replicas_draw_apart(kind, model) if trainer == "crd" else None,
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
