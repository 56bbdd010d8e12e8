"""Loss-part trackers that are logged while training and hidden in ``evaluate``."""


class TrainingLogs:
    """Mixin for a ``keras.Model`` trainer with per-term loss trackers.

    The trainer lists its ``keras.metrics.Mean`` trackers in
    ``self.training_trackers``; ``evaluate`` (and fit's validation) reports
    the loss and compiled metrics only, not the stale training terms.
    """

    training_trackers = ()

    @property
    def metrics(self):
        metrics = super().metrics
        if getattr(self, "_evaluating", False):
            own = {id(m) for m in self.training_trackers}
            metrics = [m for m in metrics if id(m) not in own]
        return metrics

    def evaluate(self, *args, **kwargs):
        self._evaluating = True
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self._evaluating = False
