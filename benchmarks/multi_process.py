"""Data-parallel KD step over two processes against one process with two devices (issue 23).

JAX only (the one backend with a multi-process ``keras.distribution``): a ``keras_kd.Distiller`` from a
WRN-40-2 teacher to a WRN-16-2 student (Hinton KD, random CIFAR-shaped data, global batch ``batch``)
trains ``steps`` steps under ``DataParallel`` over two CPU devices, either in one process
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``) or in two processes of one device each
(``python -m keras_kd.launch --num_processes 2``; gloo collectives over 127.0.0.1). The two setups
alternate ``repeats`` times; each run reports the median train-step ms after its first (compiling) steps.
On this 2-core machine both setups share the same two cores: the ratio measures what the processes and
their collectives cost over in-process devices, not a scaling gain.

    python -m benchmarks.multi_process [--batch 64] [--steps 20] [--repeats 2]
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from benchmarks import common

PARAMS = {
    "batch": (64, "Global batch size."),
    "steps": (20, "Train steps per run (the first 3 are left out: compiling)."),
    "repeats": (2, "Runs of each setup, alternated."),
}
SETUPS = ("one_process", "two_processes")
WARMUP_STEPS = 3


def job(batch, steps, out):
    """One run (in each process of it): times ``steps`` KD steps; process 0 writes the ms of each to ``out``."""
    import keras

    alone = "KERAS_DISTRIBUTION_NUM_PROCESSES" not in os.environ
    if alone:
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    import jax
    import tensorflow as tf

    import keras_kd as kd

    x, y = common.random_batch(batch, classes=10)
    teacher, student = kd.models.wide_resnet(40, 2, 10), kd.models.wide_resnet(16, 2, 10)
    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.KD()])
    distiller.compile(common.sgd())
    ends = []
    timer = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: ends.append(time.perf_counter()))
    distiller.fit(tf.data.Dataset.from_tensors((x, y)).repeat(steps), epochs=1, callbacks=[timer], verbose=0)
    if jax.process_index() == 0:
        with open(out, "w") as f:
            json.dump([1e3 * (b - a) for a, b in zip(ends[WARMUP_STEPS - 1:], ends[WARMUP_STEPS:])], f)


def run(setup, batch, steps):
    """The step ms of one run of ``setup``."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "ms.json")
        args = [__file__, str(batch), str(steps), out]
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # ``benchmarks`` importable by path
        env = dict(os.environ, KERAS_BACKEND="jax",
                   PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        if setup == "one_process":
            env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
            command = [sys.executable, *args]
        else:
            command = [sys.executable, "-m", "keras_kd.launch", "--num_processes", "2", "--timeout", "1800", *args]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def measure_backend(batch, steps, repeats):
    import keras

    if keras.backend.backend() != "jax":
        return None
    times = {setup: [] for setup in SETUPS}
    for _ in range(repeats):
        for setup in SETUPS:
            times[setup].extend(run(setup, batch, steps))
    return {setup: {"median": statistics.median(t), "min": min(t), "max": max(t)} for setup, t in times.items()}


def report(results, params):
    rows = [[backend, *(common.ms_cell(t[s]) for s in SETUPS),
             f"{t['two_processes']['median'] / t['one_process']['median']:.2f}"]
            for backend, t in results.items() if t is not None]
    header = ["backend", "1 process, 2 devices", "2 processes, 1 device each", "2 processes / 1 process"]
    caption = (f"WRN-40-2 -> WRN-16-2 KD under DataParallel over 2 CPU devices, global batch {params['batch']}, "
               f"train-step ms (median over {params['repeats']} alternated runs of {params['steps']} steps, "
               f"±half range); JAX only")
    return common.captioned_table(caption, header, rows)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1].isdigit():  # one run's job (see ``run``)
        job(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
    else:
        common.suite_main(sys.modules[__name__])
