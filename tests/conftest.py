"""Shared test setup: one backend per run (KERAS_BACKEND), slow tests opt-in, heavy tests once.

Markers (registered in pyproject.toml):

* ``slow``: skipped unless ``pytest --run-slow``.
* ``heavy``: a test that takes more than ~3 s and whose result cannot depend on the backend (counts of
  full-size networks, the CIFAR-10 archive, the docs build, scripts run as subprocesses): it runs on the
  TensorFlow run only and is skipped on the others, so a three-backend run does it once;
  ``heavy(backend="torch")`` runs it on the torch run instead: the example scripts run as subprocesses (a
  script starts in ~6 s there, ~15 s under TensorFlow), and it balances the runs, which
  tests/run_all_backends.py runs two at a time (TensorFlow beside JAX then torch). Never mark a test whose
  numbers could differ by backend (training, numerics, saving and loading).

Plain helpers shared by several test files (numpy references, tiny networks, files on disk) are in
tests/helpers.py; test files never import one another.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# JAX's switch "for code such as smoke tests" (XLA's LLVM backend at -O0, its expensive passes off; the HLO passes
# still run): the suite compiles thousands of small programs once each, so optimizing them costs more than it
# saves (tests/test_mutual.py and tests/test_gkt.py on JAX: 154 s -> 110 s). Inherited by the tests' subprocesses.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run @slow tests")


HEAVY_BACKEND = "tensorflow"  # the one backend that runs @heavy tests that name none
BACKENDS = ("tensorflow", "jax", "torch")  # conftest imports no keras_kd (tests/helpers does)
EXIT_STATUS = pytest.StashKey()


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--run-slow")
    skip_slow = pytest.mark.skip(reason="slow test: pass --run-slow to run it")
    for item in items:
        if not run_slow and "slow" in item.keywords:
            item.add_marker(skip_slow)
        heavy = item.get_closest_marker("heavy")
        if heavy is not None:
            backend = heavy.kwargs.get("backend", HEAVY_BACKEND)
            if backend not in BACKENDS:
                raise pytest.UsageError(f"{item.nodeid}: heavy(backend=...) must be one of {BACKENDS}. "
                                        f"Received: backend={backend!r}")
            if keras.backend.backend() != backend:
                item.add_marker(pytest.mark.skip(reason=f"heavy and backend-independent: run once, on {backend}"))


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


FAST_EXIT = "KERAS_KD_TEST_FAST_EXIT"  # set by tests/run_all_backends.py


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """With ``$KERAS_KD_TEST_FAST_EXIT``, ends the process once pytest has reported: the interpreter's own
    teardown of a whole TensorFlow session (thousands of traced functions and models) took 280 s after the
    summary line (1951 s of tests, exit at 2231 s), the longest wait of CI."""
    if os.environ.get(FAST_EXIT) and EXIT_STATUS in config.stash:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(config.stash[EXIT_STATUS])


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)
