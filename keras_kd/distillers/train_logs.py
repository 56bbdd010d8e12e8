"""Loss-part trackers that are logged while training and hidden in ``evaluate``."""


class TrainingLogs:
    """Mixin for a ``keras.Model`` trainer with per-term loss trackers.

    The trainer lists its ``keras.metrics.Mean`` trackers in
    ``self.training_trackers``; ``evaluate`` (and fit's validation) and
    ``test_on_batch`` report the loss and compiled metrics only, not the
    stale training terms.
    """

    training_trackers = ()

    @property
    def metrics(self):
        metrics = super().metrics
        if getattr(self, "_evaluating", False):
            own = {id(m) for m in self.training_trackers}
            metrics = [m for m in metrics if id(m) not in own]
        return metrics

    def _without_training_trackers(self, run, *args, **kwargs):
        self._evaluating = True
        try:
            return run(*args, **kwargs)
        finally:
            self._evaluating = False

    def evaluate(self, *args, **kwargs):
        return self._without_training_trackers(super().evaluate, *args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        return self._without_training_trackers(super().test_on_batch, *args, **kwargs)
