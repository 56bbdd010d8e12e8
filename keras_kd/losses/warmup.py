"""Linear epoch warm-up of a term's weight, ``min(epoch / warmup_epochs, 1)`` with epochs counted from 1.

The rule of megvii-research/mdistiller's DKD and ReviewKD (``min(kwargs["epoch"] / warmup, 1.0)``, its
trainer counting epochs from 1). A term cannot see the epoch, so it counts its own training steps in a
non-trainable variable saved with the trainer (the warm-up resumes where it stopped) and divides by
``steps_per_epoch``.
"""

from keras import ops

from keras_kd.validation import check_int


class EpochWarmup:
    """Mixin for a ``DistillationTerm`` whose loss is scaled by ``min(epoch / warmup_epochs, 1)``.

    The term calls ``init_warmup(warmup_epochs, steps_per_epoch)`` in ``__init__`` (after the layer's),
    reads ``warmup_weight()`` once per training step, then ``count_step()``, and adds
    ``warmup_config()`` to its config.
    """

    def init_warmup(self, warmup_epochs, steps_per_epoch):
        """Checks the arguments, sets ``warmup_epochs`` and ``steps_per_epoch`` and creates the ``steps``
        counter (int32, saved, counted on the first replica only)."""
        self.warmup_epochs = check_int(warmup_epochs, "warmup_epochs", low=0)
        if self.warmup_epochs and steps_per_epoch is None:
            raise ValueError(
                f"{type(self).__name__}'s warm-up counts epochs from training steps: pass steps_per_epoch (e.g. "
                f"len(train_dataset)), or warmup_epochs=0. Received: steps_per_epoch=None, "
                f"warmup_epochs={warmup_epochs!r}"
            )
        self.steps_per_epoch = None if steps_per_epoch is None else check_int(steps_per_epoch, "steps_per_epoch")
        self.steps = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False,
                                     name="steps", aggregation="only_first_replica")

    def warmup_weight(self):
        """``min(epoch / warmup_epochs, 1)`` of the current step (epochs from 1); 1.0 without a warm-up."""
        if not self.warmup_epochs:
            return 1.0
        epoch = ops.cast(self.steps // self.steps_per_epoch + 1, "float32")
        return ops.minimum(epoch / self.warmup_epochs, 1.0)

    def count_step(self):
        """Counts one training step (call once per step, after ``warmup_weight``)."""
        self.steps.assign_add(1)

    def warmup_config(self):
        return {"warmup_epochs": self.warmup_epochs, "steps_per_epoch": self.steps_per_epoch}
