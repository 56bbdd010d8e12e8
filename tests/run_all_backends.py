"""Runs the test suite once per Keras backend and prints one total line.

    python tests/run_all_backends.py [--backends tensorflow,jax,torch] [--jobs N] [pytest args]

Each backend runs in its own pytest process (KERAS_BACKEND is read at
import); up to ``--jobs`` of them at once (default: one per CPU core, since
most test time is single-threaded tracing). Each backend's output is printed
whole when it ends. Exits non-zero if any backend fails or collects no test.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|deselected)")


def run(backend, pytest_args):
    # Concurrent pytest sessions get separate temp roots, so none cleans up another's tmp_path.
    # KERAS_KD_TEST_FAST_EXIT: the process ends once pytest has reported (tests/conftest.py).
    env = dict(os.environ, KERAS_BACKEND=backend, KERAS_KD_TEST_FAST_EXIT="1",
               PYTEST_DEBUG_TEMPROOT=tempfile.mkdtemp(prefix=f"pytest-{backend}-"))
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]
    start = time.time()
    process = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True)
    print(f"=== KERAS_BACKEND={backend}: {' '.join(command)}\n{process.stdout}"
          f"=== {backend}: exit {process.returncode} in {time.time() - start:.0f} s", flush=True)
    tail = process.stdout.strip().splitlines()[-1] if process.stdout.strip() else ""
    counts = {word.rstrip("s") if word.startswith("error") else word: int(n)
              for n, word in COUNTS.findall(tail)}
    return process.returncode, counts


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="tensorflow,jax,torch")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="backends run at once (default: CPU cores)")
    args, pytest_args = parser.parse_known_args()
    if args.jobs < 1:
        parser.error(f"--jobs must be >= 1. Received: --jobs={args.jobs}")
    backends = args.backends.split(",")
    start = time.time()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(lambda backend: run(backend, pytest_args), backends))
    totals = {"passed": 0, "failed": 0, "skipped": 0, "error": 0}
    ok = True
    for code, counts in results:
        for key in totals:
            totals[key] += counts.get(key, 0)
        ok = ok and code == 0 and counts.get("passed", 0) > 0
    failed = totals["failed"] + totals["error"]
    print(f"all backends: {totals['passed']} passed, {failed} failed, {totals['skipped']} skipped "
          f"in {time.time() - start:.0f} s ({args.jobs} at once)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
