"""Running a script of tests/scripts under two CPU devices (TF MirroredStrategy, JAX DataParallel)."""

import json
import os
import subprocess
import sys

import keras
import pytest

DISTRIBUTED = {
    "tensorflow": ("mirrored", {}),
    "jax": ("data_parallel", {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}),
}
needs_two_devices = pytest.mark.skipif(
    keras.backend.backend() not in DISTRIBUTED,
    reason="tf.distribute.MirroredStrategy needs TensorFlow; DataParallel is tested on JAX",
)


def run_two_device_script(name, *args):
    """The JSON of the last line a ``tests/scripts/<name>.py`` run prints under two devices."""
    kind, extra_env = DISTRIBUTED[keras.backend.backend()]
    script = os.path.join(os.path.dirname(__file__), "scripts", f"{name}.py")
    out = subprocess.run(
        [sys.executable, script, kind, *args], env={**os.environ, **extra_env},
        check=True, capture_output=True, text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])
