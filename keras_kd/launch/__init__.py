"""Multi-process data-parallel training on one machine: ``python -m keras_kd.launch``.

    python -m keras_kd.launch --num_processes 2 examples/distill.py --epochs 3

starts ``num_processes`` workers on 127.0.0.1, each running the script as ``__main__`` after
``keras.distribution.initialize()`` (JAX; CPU collectives through gloo) and
``keras.distribution.set_distribution(DataParallel(devices=keras.distribution.list_devices()))``, so an
unchanged single-process script trains data-parallel over every process's devices; ``keras_kd.data.load``
then gives every process full batches (``remainder``). The job ends with the first worker that fails
(the others are stopped; its exit code is the launcher's), at ``--timeout`` (exit 124) or on Ctrl-C
(exit 130). On several machines run the worker module with the same variables on each host instead (see
docs/scaling-out.md).
"""

import os
import signal
import socket
import subprocess
import sys
import time

from keras_kd.validation import check_int

WORKER_MODULE = "keras_kd.launch.worker"
SEED_VARIABLE = "KERAS_KD_LAUNCH_SEED"
TIMEOUT_EXIT, INTERRUPT_EXIT = 124, 130
GRACE_SECONDS = 10.0


def free_port():
    """A TCP port of 127.0.0.1 free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_environments(num_processes, port, seed=None, environ=None):
    """The environment of each worker: ``KERAS_DISTRIBUTION_*`` (read by ``keras.distribution.initialize``),
    ``KERAS_BACKEND=jax``, and the launch seed; raises ValueError for another backend.

    Args:
        num_processes: how many workers.
        port: the coordinator's port on 127.0.0.1.
        seed: the launch seed (an integer >= 0) or ``None`` for none.
        environ: the base environment; default ``os.environ``; its ``KERAS_BACKEND`` must be unset or ``"jax"``.
    """
    environ = dict(os.environ if environ is None else environ)
    num_processes = check_int(num_processes, "num_processes")
    backend = environ.get("KERAS_BACKEND", "jax")
    if backend != "jax":
        raise ValueError(
            "Multi-process training runs on JAX (keras.distribution); Keras 3 has no multi-process "
            "distribution for TensorFlow (MultiWorkerMirroredStrategy fails in fit, keras-team/keras issue "
            f"20585) or torch. Received: KERAS_BACKEND={backend!r}")
    environ.update(KERAS_BACKEND="jax", KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port}",
                   KERAS_DISTRIBUTION_NUM_PROCESSES=str(num_processes))
    if seed is not None:
        environ[SEED_VARIABLE] = str(check_int(seed, "seed", low=0))
    return [{**environ, "KERAS_DISTRIBUTION_PROCESS_ID": str(i)} for i in range(num_processes)]


def stop(processes, sig=signal.SIGTERM):
    """Sends ``sig`` to the running ``processes``, then kills those still running after the grace period.

    Args:
        processes: ``subprocess.Popen`` objects.
        sig: the signal sent first (default SIGTERM).
    """
    for process in processes:
        if process.poll() is None:
            process.send_signal(sig)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch(script, args=(), num_processes=2, port=None, timeout=None, seed=None, environ=None):
    """Runs ``script`` with ``args`` in ``num_processes`` workers (see the module) with the variables of
    ``environ`` (default ``os.environ``); returns the exit code: 0 when every worker succeeded, else the
    first failure's, 124 at ``timeout`` seconds, 130 on Ctrl-C.

    Args:
        script: the Python file each worker runs as ``__main__``.
        args: its command-line arguments.
        num_processes: how many worker processes.
        port: the coordinator's port on 127.0.0.1; ``None`` picks a free one (``free_port``).
        timeout: seconds before the workers are stopped (exit 124); ``None``: no limit.
        seed: seeds Keras in every worker (``keras.utils.set_random_seed``); ``None``: not seeded.
        environ: the workers' base environment; default ``os.environ``.
    """
    if not os.path.isfile(script):
        raise ValueError(f"`script` must be a Python file. Received: script={script!r}")
    environments = worker_environments(num_processes, free_port() if port is None else port, seed, environ)
    command = [sys.executable, "-m", WORKER_MODULE, script, *args]
    processes = [subprocess.Popen(command, env=env) for env in environments]
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            codes = [process.poll() for process in processes]
            failed = [code for code in codes if code not in (None, 0)]
            if failed:
                stop(processes)
                return failed[0]
            if all(code == 0 for code in codes):
                return 0
            if deadline is not None and time.monotonic() > deadline:
                print(f"keras_kd.launch: timeout after {timeout} s; stopping the workers", file=sys.stderr)
                stop(processes)
                return TIMEOUT_EXIT
            time.sleep(0.1)
    except KeyboardInterrupt:
        stop(processes, signal.SIGINT)
        return INTERRUPT_EXIT
