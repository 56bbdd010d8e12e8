"""Trains a keras_kd trainer data-parallel on data from ``keras_kd.data.load`` and saves what it ended with.

    python -m keras_kd.launch --num_processes 2 --seed 0 tests/scripts/multi_process_fit.py distiller OUT [EXIT_AT]
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/scripts/multi_process_fit.py distiller OUT

Under the launcher every process writes ``OUT/process<i>.npz``; alone (one process, its two CPU devices under
``DataParallel``, seeded 0 as the launcher's ``--seed 0``) it writes ``OUT/process0.npz``. The data have a
size that is not a multiple of the global batch (train and test): in several processes ``load``'s defaults
drop the train remainder and pad the test one; alone the script asks for the same explicitly. Saved: the
trained weights (``w<k>``), the history's losses and validation metrics, and for ``gkt`` its knowledge table
and exists marks, for ``reskd`` the stage energies. Trainers: ``distiller`` (KD + AT), ``mutual`` (two peers),
``gkt``, ``reskd`` (``train_reskd``: S_0 and one res-student, its stages saved to ``OUT/stages`` by every
process).

With ``EXIT_AT`` the run is resumable: unshuffled and unaugmented (a resumed epoch must see the batches the
interrupted one saw, and ``load``'s per-epoch draws restart with the process), backed up at every epoch end (``keras.callbacks.BackupAndRestore``, one directory per process under
``OUT``), resuming what ``OUT`` holds; ``EXIT_AT=n > 0`` kills process 1 (``os._exit(17)``, after writing
``OUT/killed``) after its n-th training batch.
"""

import os
import sys

import keras
import numpy as np

TRAIN, TEST, BATCH, EPOCHS, CLASSES = 76, 20, 16, 3, 5  # 76 = 4 x 16 + 12; 20 = 16 + 4


def arrays():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (TRAIN + TEST, 8, 8, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, TRAIN + TEST)
    return {"train": (images[:TRAIN], labels[:TRAIN]), "test": (images[TRAIN:], labels[TRAIN:])}


def optimizer():
    return keras.optimizers.SGD(0.05, momentum=0.9)


def save_reskd(kd, train, validation_x, out):
    """Algorithm 1 with one res-student (the energy rule never stops it early); saves every member's weights
    and the record's energies and threshold."""
    import jax

    def network(depth, name):
        return kd.models.cifar_resnet(depth, CLASSES, input_shape=(8, 8, 3), name=name)

    ensemble, record = kd.distillers.train_reskd(
        network(14, "teacher"), network(8, "s0"), [network(8, "r1")], train, validation_x,
        optimizer_fn=optimizer, fit_kwargs={"epochs": EPOCHS, "verbose": 0}, energy_ratio=1e9,
        directory=os.path.join(out, "stages"))
    saved = {f"{m.name}/{i}": keras.ops.convert_to_numpy(w) for m in ensemble.members for i, w in enumerate(m.weights)}
    saved.update(energies=np.asarray(record["energies"]), threshold=np.asarray(record["threshold"]))
    np.savez(os.path.join(out, f"process{jax.process_index()}.npz"), **saved)


def build(kd, trainer):
    student = kd.models.wide_resnet(16, 1, CLASSES, input_shape=(8, 8, 3))
    if trainer == "gkt":
        return kd.GKT(kd.models.cifar_resnet(14, CLASSES, input_shape=(8, 8, 3)), num_examples=TRAIN, seed=0)
    teacher = kd.models.wide_resnet(16, 2, CLASSES, input_shape=(8, 8, 3))
    if trainer == "mutual":
        return kd.MutualDistiller([student, teacher])
    return kd.Distiller(student=student, teacher=teacher,
                        losses=[kd.losses.KD(4.0, 0.9), kd.losses.AttentionTransfer(1e3)])


class ExitAt(keras.callbacks.Callback):
    """Kills process 1 after its ``step``-th training batch (0: never)."""

    def __init__(self, step, marker):
        super().__init__()
        self.step, self.marker, self.seen = step, marker, 0

    def on_train_batch_end(self, batch, logs=None):
        import jax

        self.seen += 1
        if self.seen == self.step and jax.process_index() == 1:
            with open(self.marker, "w") as f:
                f.write(str(self.seen))
            os._exit(17)


def main(trainer, out, exit_at=None):
    alone = "KERAS_DISTRIBUTION_NUM_PROCESSES" not in os.environ
    if alone:  # the launcher's worker seeds and sets the distribution itself
        keras.utils.set_random_seed(0)
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    import jax

    import keras_kd as kd

    source, with_index = arrays(), trainer == "gkt"
    os.makedirs(out, exist_ok=True)
    resumable = exit_at is not None
    train = kd.data.load(source, "train", batch_size=BATCH, validation_fraction=0, with_index=with_index,
                         shuffle=not resumable, augment=not resumable, remainder="drop" if alone else None)
    test = kd.data.load(source, "test", batch_size=BATCH, remainder="pad" if alone else None)
    if trainer == "reskd":
        return save_reskd(kd, train, source["test"][0], out)
    model = build(kd, trainer)
    model.compile(optimizer=optimizer(), weighted_metrics=["accuracy"])
    callbacks = [] if not resumable else [
        keras.callbacks.BackupAndRestore(os.path.join(out, f"backup{jax.process_index()}")), ExitAt(int(exit_at), os.path.join(out, "killed"))]
    history = model.fit(train, epochs=EPOCHS, validation_data=None if with_index else test, verbose=0,
                        callbacks=callbacks)
    saved = {f"w{k}": keras.ops.convert_to_numpy(w) for k, w in enumerate(model.weights)}
    if not resumable:  # a resumed run's history holds its own epochs only
        saved.update({name: np.asarray(values) for name, values in history.history.items()})
    if trainer == "gkt":
        saved["knowledge"], saved["exists"] = model.group_knowledge()
    np.savez(os.path.join(out, f"process{jax.process_index()}.npz"), **saved)


if __name__ == "__main__":
    main(*sys.argv[1:])
