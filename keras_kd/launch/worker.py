"""One worker of ``keras_kd.launch``: ``python -m keras_kd.launch.worker script [args ...]`` with
``KERAS_DISTRIBUTION_JOB_ADDRESSES``, ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and
``KERAS_DISTRIBUTION_PROCESS_ID`` set (the launcher sets them; on several machines, set them on each
host). Seeds Keras if ``KERAS_KD_LAUNCH_SEED`` is set, initializes the distributed job, sets data
parallelism over every process's devices and runs the script as ``__main__``.

A script that fails ends its process at once (``os._exit``): a normal exit waits in JAX's shutdown barrier
for the other processes, which wait for it in their next collective, so the failure would surface only at
JAX's barrier timeout (minutes) or never."""

import os
import runpy
import sys
import traceback

from keras_kd.launch import SEED_VARIABLE


def main(argv):
    """Runs one worker (see the module): seeds, initializes the distribution, runs the script.

    Args:
        argv: the script's path, then its arguments.
    """
    if not argv:
        raise SystemExit("usage: python -m keras_kd.launch.worker script [args ...]")
    import keras

    if os.environ.get(SEED_VARIABLE) is not None:
        keras.utils.set_random_seed(int(os.environ[SEED_VARIABLE]))
    keras.distribution.initialize()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=keras.distribution.list_devices()))
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exit_:
        if exit_.code in (None, 0):
            raise
        if not isinstance(exit_.code, int):
            print(exit_.code, file=sys.stderr)
        end_now(exit_.code if isinstance(exit_.code, int) else 1)
    except BaseException:  # noqa: BLE001 - any failure ends the process now (see the module)
        traceback.print_exc()
        end_now(1)


def end_now(code):
    """Exits with ``code`` without Python's exit handlers (JAX's shutdown barrier).

    Args:
        code: the exit code.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
