"""Timing helpers shared by the benchmarks: one process per backend.

A suite is a module with ``PARAMS`` (``{name: (default, help)}``),
``measure_backend(**params)`` (runs inside one backend's process and
returns JSON-able results) and ``report(results, params)`` (a Markdown
table). ``suite_main`` gives it a ``python -m benchmarks.<suite>`` command;
``benchmarks.run`` runs several and writes RESULTS.md.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from keras_kd.files import markdown_table

BACKENDS = ("tensorflow", "jax", "torch")


def interleaved_ms(steps, repeats, warmup=2):
    """``{name: {"median", "min", "max", "first"}}`` ms of each no-arg callable.

    The callables are timed round-robin, so machine noise (a shared,
    2-core host) hits every candidate alike and ratios stay meaningful.
    ``first`` is the first (compiling) call.
    """
    first = {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        first[name] = (time.perf_counter() - start) * 1e3
        for _ in range(warmup - 1):
            step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {
        name: {"median": statistics.median(t), "min": min(t), "max": max(t), "first": first[name]}
        for name, t in times.items()
    }


def medians(timings):
    """``{name: median ms}`` of an ``interleaved_ms`` result."""
    return {name: t["median"] for name, t in timings.items()}


def spread(timing):
    """(max - min) / median of one timing, in percent."""
    return 100.0 * (timing["max"] - timing["min"]) / timing["median"]


def ms_cell(timing):
    """``"201 (±6%)"``: median ms (3 significant digits) and half the relative range."""
    median = timing["median"]
    value = f"{median:.0f}" if median >= 100 else f"{median:.3g}"
    return f"{value} (±{spread(timing) / 2:.0f}%)"


def img_s_cell(timing, batch):
    """Images/s at the median step time, with the same relative spread."""
    return f"{batch * 1e3 / timing['median']:.0f} (±{spread(timing) / 2:.0f}%)"


def captioned_table(caption, header, rows):
    """A suite's report: ``caption``, a blank line, then the markdown table."""
    return caption + "\n\n" + markdown_table(header, rows)


def run_per_backend(module, backends, params):
    """Runs ``module.measure_backend(**params)`` in a fresh process per backend."""
    results = {}
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend)
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.worker", module, json.dumps(params)],
            env=env,
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        results[backend] = json.loads(out.strip().splitlines()[-1])
    return results


def define_flags(params):
    """absl flags named and typed after ``{name: (default, help)}``."""
    from absl import flags

    for name, (default, help_text) in params.items():
        if isinstance(default, bool):
            flags.DEFINE_bool(name, default, help_text)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, help_text)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, help_text)
        elif isinstance(default, (list, tuple)):
            flags.DEFINE_list(name, [str(v) for v in default], help_text)
        else:
            flags.DEFINE_string(name, default, help_text)


def suite_main(module):
    """``python -m benchmarks.<suite> [--backends ...] [--<param> ...]``."""
    from absl import app, flags

    flags.DEFINE_list("backends", list(BACKENDS), "Backends to measure.")
    define_flags(module.PARAMS)

    def main(_):
        params = {name: flags.FLAGS[name].value for name in module.PARAMS}
        results = run_per_backend(module.__spec__.name, flags.FLAGS.backends, params)
        print(module.report(results, params))

    app.run(main)


def int_list(values):
    """Integers of a flag list (absl gives strings)."""
    return [int(v) for v in values]


def random_batch(batch, classes=10, size=32):
    """Seeded random float32 images and integer labels."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, 3)).astype("float32")
    return x, rng.integers(0, classes, batch)


def sgd():
    """SGD with momentum 0.9, lr 0.1 (the papers' optimizer)."""
    import keras

    return keras.optimizers.SGD(0.1, momentum=0.9)


def classifier_step_fn(model, x, y, jit_compile="auto"):
    """A compiled SGD-momentum train step of a logits model (or a Distiller)."""
    import keras

    import keras_kd as kd

    loss = None if isinstance(model, kd.distillers.Trainer) else keras.losses.SparseCategoricalCrossentropy(
        from_logits=True)
    model.compile(sgd(), loss=loss, jit_compile=jit_compile)
    return lambda: model.train_on_batch(x, y)


def train_step_fn(model, x, y):
    """A compiled one-batch SGD train step of ``model`` as a no-arg callable."""
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=keras.losses.MeanSquaredError(),
    )
    return lambda: model.train_on_batch(x, y)
