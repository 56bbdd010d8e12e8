"""Initial weights drawn from a given seed, whatever ran before.

A network built inside a resumable pipeline (``train_reskd``'s searched res-student, its search networks)
must start from the same weights in a run resumed after a kill as in the uninterrupted run, although the
resumed run skips steps that drew random numbers before it. A Keras 3 initializer created without a seed
takes one from Python's ``random`` module when it is created (``keras.random.make_default_seed``); inside
``seeded_weights(seed)`` that module is seeded with ``seed``, and its state is put back afterwards, so the
caller's random stream is as if the block had not run.
"""

import contextlib
import random


@contextlib.contextmanager
def seeded_weights(seed):
    """Within the block, Python's ``random`` (hence the seeds of new Keras initializers) starts from ``seed``."""
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
