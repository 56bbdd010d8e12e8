"""Checks of ``keras.utils.PyDataset`` and torch ``DataLoader`` batches as they are read.

Their values exist only batch by batch, so each is wrapped in a dataset of
the same kind that checks every batch on the way to the training step
(``fit``'s shuffling, workers, epoch hooks and batch count unchanged).
Python generators are not checked. torch is imported only for a
``DataLoader``, which every backend's ``fit`` accepts.

A failed check raises ``ValueError`` where the batch is read. On TensorFlow,
Keras reads all but the first two batches through ``tf.data``, which turns
that error into an ``InvalidArgumentError``, so
``BatchChecks.first_failure_raised`` raises the recorded ``ValueError``
instead. (A PyDataset with ``use_multiprocessing=True`` checks in its worker
processes, where that record is not seen: on TensorFlow the message then
arrives inside ``InvalidArgumentError``.)
"""

import contextlib
import functools

import keras
import numpy as np


def to_numpy(value):
    """A torch or backend tensor as a numpy array; anything without a shape unchanged."""
    if value is None or isinstance(value, np.ndarray) or not hasattr(value, "shape"):
        return value
    if type(value).__module__.startswith("torch"):
        return value.detach().cpu().numpy()
    return keras.ops.convert_to_numpy(value)


def split_batch(batch):
    """``(images, labels)`` of a batch ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``
    as numpy arrays (``x`` may be ``(images, index)``); ``(None, None)`` for a dict."""
    if isinstance(batch, dict):
        return None, None
    parts = tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
    x, y = parts[0] if parts else None, parts[1] if len(parts) > 1 else None
    images = x[0] if isinstance(x, (tuple, list)) and x else x
    return to_numpy(images), to_numpy(y)


def batch_has_labels(batch):
    """Whether a batch carries labels; None for a dict batch."""
    if isinstance(batch, dict):
        return None
    return isinstance(batch, (tuple, list)) and len(batch) > 1 and batch[1] is not None


def is_torch_dataloader(x):
    """Whether ``x`` is a ``torch.utils.data.DataLoader`` (torch imported only if ``x`` comes from it)."""
    if not any(kind.__module__.startswith("torch") for kind in type(x).__mro__):
        return False
    import torch.utils.data

    return isinstance(x, torch.utils.data.DataLoader)


class BatchChecks:
    """Checks batches with ``check(*split(batch))`` (which raises ValueError),
    naming the batch, and keeps the first failure.

    Args:
        check: called with the parts ``split`` returns; by default a batch's
            images and labels as numpy arrays (either may be None).
        split: a batch to the tuple of ``check``'s arguments.
    """

    def __init__(self, check, split=split_batch):
        self.check = check
        self.split = split
        self.failure = None

    def __call__(self, batch, where):
        try:
            self.check(*self.split(batch))
        except ValueError as error:
            if self.failure is None:
                self.failure = ValueError(f"{error} (in {where}, counting from 0)")
            raise self.failure from None
        return batch

    def wrap(self, x):
        """``x`` checked batch by batch if it is a PyDataset or a torch DataLoader; else ``x``."""
        if isinstance(x, keras.utils.PyDataset):
            return CheckedPyDataset(x, self)
        if is_torch_dataloader(x):
            return checked_dataloader(x, self)
        return x

    @contextlib.contextmanager
    def first_failure_raised(self):
        """Raises the first failed check instead of any error that follows from it."""
        try:
            yield
        except Exception as error:
            if self.failure is None or error is self.failure:
                raise
            raise self.failure from None


class CheckedPyDataset(keras.utils.PyDataset):
    """``dataset`` with each batch passed through ``checks`` as it is read.

    Keeps the wrapped dataset's batch count, epoch hooks and its ``workers``,
    ``use_multiprocessing`` and ``max_queue_size`` settings.
    """

    def __init__(self, dataset, checks):
        super().__init__(
            workers=dataset.workers,
            use_multiprocessing=dataset.use_multiprocessing,
            max_queue_size=dataset.max_queue_size,
        )
        self.dataset = dataset
        self.checks = checks

    def __getitem__(self, index):
        return self.checks(self.dataset[index], f"batch {index} of the PyDataset")

    def __len__(self):
        return len(self.dataset)

    @property
    def num_batches(self):
        return self.dataset.num_batches

    def on_epoch_begin(self):
        self.dataset.on_epoch_begin()

    def on_epoch_end(self):
        self.dataset.on_epoch_end()


def unchanged(batch):
    """``collate_fn`` that keeps the wrapped DataLoader's batches as they are."""
    return batch


@functools.cache
def _checked_batch_datasets():
    """The ``IterableDataset`` classes over a checked DataLoader: without and with a length."""
    import torch.utils.data

    class CheckedBatches(torch.utils.data.IterableDataset):
        """The batches of ``loader`` (a new pass, so a new shuffle, per ``iter``), each checked."""

        def __init__(self, loader, checks):
            self.loader = loader
            self.checks = checks

        def __iter__(self):
            for number, batch in enumerate(self.loader):
                yield self.checks(batch, f"batch {number} of the DataLoader")

    class SizedCheckedBatches(CheckedBatches):
        def __len__(self):
            return len(self.loader)

    return CheckedBatches, SizedCheckedBatches


def checked_dataloader(loader, checks):
    """A DataLoader yielding ``loader``'s own batches (its batching, shuffling and
    workers), each passed through ``checks``; as many batches as ``loader`` has."""
    import torch.utils.data

    unsized, sized = _checked_batch_datasets()
    batches = (sized if hasattr(loader.dataset, "__len__") else unsized)(loader, checks)
    return torch.utils.data.DataLoader(batches, batch_size=None, collate_fn=unchanged)
