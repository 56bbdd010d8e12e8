"""The processes of a multi-process job (``keras.distribution.initialize`` on JAX; one otherwise)."""

import keras


def process_count():
    """The number of processes of a ``keras.distribution.initialize``-d JAX job (1 without one); never
    initializes JAX's backends itself (``initialize`` must come before them)."""
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count() if jax.distributed.is_initialized() else 1
