"""Timing helpers shared by the benchmarks: one process per backend."""

import json
import os
import statistics
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")


def interleaved_ms(steps, repeats, warmup=2):
    """Median, min and max ms of each named no-arg callable in ``steps``.

    The callables are timed round-robin, so machine noise (a shared,
    2-core host) hits every candidate alike and ratios stay meaningful.
    """
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {
        name: (statistics.median(t), min(t), max(t)) for name, t in times.items()
    }


def forwarded_flags(flag_values, names):
    """``--name=value`` for each flag in ``names``, to pass to a worker."""
    return [f"--{name}={flag_values[name].value}" for name in names]


def run_per_backend(module, backends, extra_args=()):
    """Runs ``python -m module --worker`` once per backend; returns their JSON."""
    results = {}
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend)
        out = subprocess.run(
            [sys.executable, "-m", module, "--worker", *extra_args],
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        results[backend] = json.loads(out.strip().splitlines()[-1])
    return results


def train_step_fn(model, x, y):
    """A compiled one-batch SGD train step of ``model`` as a no-arg callable."""
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.MeanSquaredError(),
    )
    return lambda: model.train_on_batch(x, y)
