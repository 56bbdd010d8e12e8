"""Runs the test suite once per Keras backend and prints one total line.

    python tests/run_all_backends.py [--backends tensorflow,jax,torch] [pytest args]

Each backend runs in its own pytest process (KERAS_BACKEND is read at
import). Exits non-zero if any backend fails or collects no test.
"""

import argparse
import os
import re
import subprocess
import sys
import time

COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected)")


def run(backend, pytest_args):
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]
    print(f"=== KERAS_BACKEND={backend}: {' '.join(command)}", flush=True)
    start = time.time()
    process = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    print(process.stdout, end="", flush=True)
    tail = process.stdout.strip().splitlines()[-1] if process.stdout.strip() else ""
    counts = {word.rstrip("s") if word.startswith("error") else word: int(n)
              for n, word in COUNTS.findall(tail)}
    print(f"=== {backend}: exit {process.returncode} in {time.time() - start:.0f} s", flush=True)
    return process.returncode, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    args, pytest_args = parser.parse_known_args()
    totals = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    ok = True
    for backend in args.backends.split(","):
        code, counts = run(backend, pytest_args)
        for key in totals:
            totals[key] += counts.get(key, 0)
        ok = ok and code == 0 and counts.get("passed", 0) > 0
    failed = totals["failed"] + totals["error"]
    print(f"all backends: {totals['passed']} passed, {failed} failed, {totals['skipped']} skipped")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
