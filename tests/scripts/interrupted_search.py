"""A RandomSearch over a Distiller (2 trials by default) that can die in the middle.

    KERAS_BACKEND=jax python tests/scripts/interrupted_search.py DIRECTORY [EXIT_AT_FIT [MAX_TRIALS]]

Every fit appends its hyperparameters as one JSON line to
``DIRECTORY/fits.jsonl`` (``fits-<id>.jsonl`` in a distributed search:
KerasTuner's ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP`` and
``KERASTUNER_ORACLE_PORT`` set); with ``EXIT_AT_FIT=n`` the process dies
(``os._exit``, no clean-up) as the n-th fit starts. Otherwise the search
runs to the end (resuming what is in DIRECTORY) and the process that holds
the oracle (alone, or the chief) prints one JSON line:
``{"trials": {trial_id: [status, hyperparameters]}, "lazy": bool}``, where
``lazy`` says ``import keras_kd`` did not import keras_tuner.
"""

import json
import os
import sys

import keras_kd as kd

LAZY = "keras_tuner" not in sys.modules

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402


class LoggedHyperDistiller(kd.tuning.HyperDistiller):
    def __init__(self, *args, log_path, exit_at_fit, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_path, self.exit_at_fit, self.fits = log_path, exit_at_fit, 0

    def fit(self, hp, model, *args, **kwargs):
        with open(self.log_path, "a") as log:
            log.write(json.dumps(hp.values) + "\n")
        self.fits += 1
        if self.fits == self.exit_at_fit:
            os._exit(17)
        return super().fit(hp, model, *args, **kwargs)


def main(directory, exit_at_fit=0, max_trials=2):
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID")
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 8, 8, 3)).astype("float32"), rng.integers(0, 10, 16)
    teacher = kd.models.cifar_resnet(8, 10, input_shape=(8, 8, 3))
    hypermodel = LoggedHyperDistiller(
        teacher, "resnet-8", blocks="S", beta=0.0,
        log_path=os.path.join(directory, f"fits-{tuner_id}.jsonl" if tuner_id else "fits.jsonl"),
        exit_at_fit=exit_at_fit,
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel, objective="val_accuracy", max_trials=max_trials, seed=0,
        directory=directory, project_name="search", overwrite=False,
    )
    tuner.search(x, y, validation_data=(x, y), epochs=1, batch_size=8, verbose=0)
    if tuner_id not in (None, "chief"):  # a worker: the chief holds the oracle
        return
    trials = {t.trial_id: [t.status, t.hyperparameters.values] for t in tuner.oracle.trials.values()}
    print(json.dumps({"trials": trials, "lazy": LAZY}))


if __name__ == "__main__":
    main(sys.argv[1], *map(int, sys.argv[2:]))
