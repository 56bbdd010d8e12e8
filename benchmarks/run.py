"""One entry point for the benchmark suites; writes RESULTS.md and results.json.

Each suite runs in a fresh process per backend, warms up, times repeats
interleaved and reports median and spread. Results of the suites run are
merged into ``results.json`` (others kept), and ``RESULTS.md`` is rendered
from it with the machine, versions and date of the last run, and each
section's own CPU (suites run at different times may have run on different
hosts).

    python -m benchmarks.run --suite all
    python -m benchmarks.run --suite kd_overhead,backends --backends torch --repeats 2
    python -m benchmarks.run --suite backends --param backends.batches=[64]

The repeats below (``RUN_PARAMS``) keep ``--suite all`` under 30 min on a
quiet 2-core CPU.
"""

import datetime
import importlib
import json
import os
import time

from absl import app, flags

from benchmarks import common, machine
from keras_kd.files import write_json, write_text

SUITES = ("kd_overhead", "backends", "cheap_students", "group_conv", "skip_block",
          "data_pipeline", "imagenet_pipeline", "gkt_epoch", "reskd_adaptive", "torch_profile", "method_cost", "multi_process")
# Overrides of each suite's PARAMS defaults for ``benchmarks.run``.
RUN_PARAMS = {
    "kd_overhead": {"repeats": 5},
    "backends": {"repeats": 3},
    "cheap_students": {"repeats": 3},
    "group_conv": {"repeats": 5},
    "skip_block": {"repeats": 3},
    "data_pipeline": {"repeats": 3},
    "imagenet_pipeline": {"repeats": 3},
    "gkt_epoch": {"repeats": 3},
    "reskd_adaptive": {"repeats": 5},
    "torch_profile": {},
    "method_cost": {"repeats": 5},
    "multi_process": {"repeats": 2},
}
HERE = os.path.dirname(os.path.abspath(__file__))

flags.DEFINE_list("suite", ["all"], f"Suites to run, or 'all': {', '.join(SUITES)}.")
flags.DEFINE_list("backends", list(common.BACKENDS), "Backends to measure.")
flags.DEFINE_integer("repeats", 0, "Timed repeats for every suite (0: RUN_PARAMS).")
flags.DEFINE_multi_string("param", [], "suite.name=value (JSON value) overriding a suite param.")
flags.DEFINE_string("out_dir", HERE, "Where RESULTS.md and results.json go.")
FLAGS = flags.FLAGS


def suite_params(name, module, repeats=0, overrides=()):
    """The suite's defaults, then RUN_PARAMS, ``repeats`` and ``suite.name=value`` items."""
    params = {key: default for key, (default, _) in module.PARAMS.items()}
    params.update(RUN_PARAMS.get(name, {}))
    if repeats and "repeats" in params:
        params["repeats"] = repeats
    for item in overrides:
        key, _, value = item.partition("=")
        suite, _, param = key.partition(".")
        if suite != name:
            continue
        if param not in params:
            raise ValueError(f"Suite {name!r} has no param {param!r}. Received: --param={item}")
        try:
            params[param] = json.loads(value)
        except json.JSONDecodeError:
            params[param] = value
    return params


def run_suite(name):
    module = importlib.import_module(f"benchmarks.{name}")
    params = suite_params(name, module, FLAGS.repeats, FLAGS.param)
    start, load = time.time(), os.getloadavg()[0]
    results = common.run_per_backend(module.__name__, FLAGS.backends, params)
    host = machine.describe()
    entry = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": f"{host['cpu']}, {host['cores']} cores",
        "seconds": round(time.time() - start, 1),
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
        "params": params,
        "results": results,
    }
    print(f"\n## {name} ({entry['seconds']:.0f} s)\n\n{module.report(results, params)}", flush=True)
    return entry


def render(record):
    """RESULTS.md text for a results.json record."""
    lines = ["# Benchmark results", "", "Written by `python -m benchmarks.run`; reproduce a "
             "section with the command under it. Ratios within one section come from one "
             "process per backend with interleaved timing, so they hold on a noisy machine "
             "where absolute numbers move. `±x%` is half the range (max - min) over the "
             "repeats, relative to the median.", "", machine.markdown(record["machine"])]
    for name in SUITES:
        if name not in record["suites"]:
            continue
        entry = record["suites"][name]
        module = importlib.import_module(f"benchmarks.{name}")
        params = " ".join(f"--param {name}.{k}={json.dumps(v, separators=(',', ':'))}"
                          for k, v in entry["params"].items())
        lines += [
            "", f"## {name}", "",
            f"{entry['date']}, {entry['seconds']:.0f} s, load average "
            f"{entry['load_average'][0]} -> {entry['load_average'][1]}"
            f"{', on ' + entry['cpu'] if 'cpu' in entry else ''}.", "",
            f"    python -m benchmarks.run --suite {name} --backends {','.join(entry['results'])} "
            f"{params}", "",
            module.report(entry["results"], entry["params"]),
        ]
    return "\n".join(lines) + "\n"


def main(_):
    names = SUITES if "all" in FLAGS.suite else FLAGS.suite
    unknown = sorted(set(names) - set(SUITES))
    if unknown:
        raise app.UsageError(f"Unknown suites {unknown}; choose from {list(SUITES)} or 'all'.")
    json_path = os.path.join(FLAGS.out_dir, "results.json")
    record = {"suites": {}}
    if os.path.exists(json_path):
        with open(json_path) as f:
            record = json.load(f)
    record["machine"] = machine.describe()
    for name in names:
        record["suites"][name] = run_suite(name)
        write_json(json_path, record)
        write_text(os.path.join(FLAGS.out_dir, "RESULTS.md"), render(record))


if __name__ == "__main__":
    app.run(main)
