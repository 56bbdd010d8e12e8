"""Checks of the example index of ``((images, index), labels)`` batches (GKT's knowledge table, CRD's
memory): 1-D, integer, in ``[0, num_examples)`` and distinct within a batch (one row update per example:
two updates of one row in a step would be summed)."""

import contextlib
import functools

import numpy as np

from keras_kd.distillers.batch_checks import BatchChecks, to_numpy
from keras_kd.distillers.tf_data_checks import with_index_checks


def no_index(trainer):
    """The start of the error for batches without an index, naming what needs one."""
    return (f"{trainer} trains on batches ((images, index), labels), the index being each example's position in "
            "the training set: use keras_kd.data.load(..., with_index=True) or fit(x=(images, np.arange(n)), "
            "y=labels). ")


def check_index_spec(shape, dtype):
    """Raises ValueError unless the index is 1-D (batch,) and integer."""
    if len(shape) != 1 or "int" not in str(dtype):
        raise ValueError(
            "The index must be a 1-D integer tensor (batch,). Received: "
            f"index with shape {tuple(shape)} and dtype {dtype}"
        )


def check_index_values(index, num_examples):
    """Raises ValueError unless the numpy ``index`` is 1-D, integer, in
    ``[0, num_examples)`` and distinct."""
    check_index_spec(index.shape, index.dtype)
    bad = index[(index < 0) | (index >= num_examples)]
    if bad.size:
        raise ValueError(f"Every index must be in [0, num_examples={num_examples}). Received: index={bad[0]}")
    values, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"Every index must be distinct. Received: index={values[counts > 1][0]} twice")


def batch_index(batch, trainer):
    """``(index,)`` of a ``((images, index), labels[, weights])`` batch, as numpy."""
    x = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if not (isinstance(x, (tuple, list)) and len(x) == 2):
        raise ValueError(no_index(trainer) + f"Received a batch of type {type(x).__name__}")
    return (to_numpy(x[1]),)


@contextlib.contextmanager
def indexed_inputs(x, num_examples, trainer):
    """Context of one ``fit``: yields ``x`` checked by ``check_indexed_inputs`` and raises the first
    failure of a batch read during the fit; ``trainer`` names what needs the index in the errors."""
    checks = BatchChecks(functools.partial(check_index_values, num_examples=num_examples),
                         split=functools.partial(batch_index, trainer=trainer))
    with checks.first_failure_raised():
        yield check_indexed_inputs(x, num_examples, checks, trainer)


def check_indexed_inputs(x, num_examples, checks, trainer):
    """``fit``'s ``x``, validated before training: a ``tf.data`` dataset's element
    structure (its index range and distinctness are then asserted as each
    batch is read, on every backend), a ``PyDataset`` or torch ``DataLoader``
    wrapped in ``checks`` (each batch's index checked as it is read), or
    in-memory ``(images, index)`` arrays, their index range and distinctness."""
    spec = getattr(x, "element_spec", None)
    if spec is not None:
        features = spec[0] if isinstance(spec, tuple) else spec
        if not (isinstance(features, tuple) and len(features) == 2):
            raise ValueError(no_index(trainer) + f"Received dataset elements: element_spec={spec}")
        check_index_spec(features[1].shape, features[1].dtype)
        return with_index_checks(x, num_examples)
    if isinstance(x, np.ndarray):
        raise ValueError(no_index(trainer) + f"Received images only: x with shape {x.shape}")
    if isinstance(x, (tuple, list)) and len(x) == 2 and isinstance(x[1], np.ndarray):
        check_index_values(x[1], num_examples)
    return checks.wrap(x)
