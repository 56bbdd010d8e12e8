"""Trains a tiny Distiller, GKT or ResKD run with ``BackupAndRestore``; can die mid-epoch.

    KERAS_BACKEND=jax python tests/scripts/resumable_fit.py TRAINER DIRECTORY [EXIT_AT_STEP]

``TRAINER`` is ``distiller``, ``crd`` (a Distiller with CRD's memories), ``init_stage`` (AB's
initialization stage), ``gkt``, ``reskd`` or ``reskd_search`` (R_1 searched: ``kd.nas.ResStudentSearch``, two
search stages of 2 epochs, cells of 2 nodes). Training state is backed
up in ``DIRECTORY/backup`` at every epoch end (ResKD also keeps its finished
stages in ``DIRECTORY/stages``). With ``EXIT_AT_STEP=n`` the process dies
(``os._exit(17)``, no clean-up) after its n-th training batch. Otherwise
the run goes to the end, resuming whatever ``DIRECTORY`` holds, and writes
the final weights of everything trained (and GKT's knowledge table, CRD's
memories, and their sampling states) to ``DIRECTORY/final.npz`` and the number of training
batches this process ran to ``DIRECTORY/steps.txt``.

Data order is fixed (``shuffle=False``): a resumed epoch must see the
batches the interrupted one saw.
"""

import os
import sys

import keras
import numpy as np

import keras_kd as kd

CLASSES, SHAPE, EXAMPLES, BATCH, EPOCHS = 5, (8, 8, 3), 32, 8, 3


class CountSteps(keras.callbacks.Callback):
    """Counts training batches across fits; kills the process after the ``exit_at``-th."""

    def __init__(self, exit_at=0):
        super().__init__()
        self.exit_at, self.seen = exit_at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.exit_at:
            os._exit(17)


def network(depth, name):
    return kd.models.cifar_resnet(depth, CLASSES, input_shape=SHAPE, name=name)


def optimizer():
    return keras.optimizers.SGD(0.05, momentum=0.9)


def run(trainer, directory, callbacks, x, y):
    """Trains and returns ``{name: array}`` of the final state."""
    fit_kwargs = {"batch_size": BATCH, "epochs": EPOCHS, "shuffle": False, "verbose": 0, "callbacks": callbacks}
    teacher = network(14, "teacher")
    if trainer in ("reskd", "reskd_search"):
        student = network(8, "s0")
        res_student = network(8, "r1") if trainer == "reskd" else kd.nas.ResStudentSearch(
            epochs=(2, 2), cells=(3, 3), channels=4, nodes=2, batch_size=BATCH, network_cells=3, network_channels=4)
        ensemble, _ = kd.distillers.train_reskd(
            teacher, student, [res_student], (x, y), x[:8], optimizer_fn=optimizer, fit_kwargs=fit_kwargs,
            energy_ratio=1e9, directory=os.path.join(directory, "stages"))
        return {f"{m.name}/{i}": keras.ops.convert_to_numpy(w)
                for m in ensemble.members for i, w in enumerate(m.weights)}
    if trainer == "gkt":
        model = network(14, "student")
        fitted = kd.GKT(model, EXAMPLES, seed=0)
        x = (x, np.arange(EXAMPLES))
    elif trainer == "crd":
        fitted = kd.Distiller(student=network(8, "student"), teacher=teacher,
                              losses=[kd.losses.KD(), kd.losses.CRD(labels=y, num_negatives=8, seed=0)])
        x = (x, np.arange(EXAMPLES))
    elif trainer == "init_stage":  # AB's initialization stage: the student's features and the connectors
        fitted = kd.Distiller(student=network(8, "student"), teacher=teacher, losses=[kd.losses.AB()]).init_stage()
    else:
        model = network(8, "student")
        fitted = kd.Distiller(student=model, teacher=teacher)
    fitted.compile(optimizer=optimizer())
    fitted.fit(x, y, **fit_kwargs)
    state = list(fitted.weights) + list(fitted.optimizer.variables)
    if trainer in ("gkt", "crd"):
        state.append((fitted if trainer == "gkt" else fitted.terms[1]).seed_generator.state)
    return {f"{i}/{v.path}": keras.ops.convert_to_numpy(v) for i, v in enumerate(state)}


def main(trainer, directory, exit_at_step=0):
    os.makedirs(directory, exist_ok=True)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(EXAMPLES, *SHAPE)).astype("float32")
    y = rng.integers(0, CLASSES, EXAMPLES)
    steps = CountSteps(exit_at_step)
    state = run(trainer, directory, [keras.callbacks.BackupAndRestore(os.path.join(directory, "backup")), steps],
                x, y)
    np.savez(os.path.join(directory, "final.npz"), **state)
    with open(os.path.join(directory, "steps.txt"), "w") as f:
        f.write(str(steps.seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
