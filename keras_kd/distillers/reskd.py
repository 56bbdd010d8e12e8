"""ResKD's deployable student: ``S_n = S_0 + R_1 + ... + R_n`` (li2021 eq. 5).

``ResidualEnsemble.call`` returns the full sum (for ``fit``/``evaluate``/
export). ``predict_adaptive`` is Algorithm 2, sample-adaptive inference:
each example stops adding res-students once its energy exceeds the
threshold, and the remaining res-students run only on the rows still
active -- gathered into a smaller batch (padded up to a power of two so
jit-compiled backends such as JAX see a few static shapes), so skipped
examples cost nothing.

Energy (eq. 8): ``||softmax(logits)||_2^2`` per example, in (1/C, 1].
Two readings of Algorithm 2's per-example energy ``E_i``:

* ``"running"`` (default): ``E_i = Energy(S_i)``, the energy of the running
  sum. The threshold (eq. 10, ``TH = Energy(S_n, D_v)``) is an energy of
  summed logits, so this compares like with like and stays in (1/C, 1].
* ``"members"``: Algorithm 2 as printed, ``E_i = E_{i-1} + Energy(R_i)``,
  a sum of the members' own energies (not bounded by 1, and a residual's
  softmax is not a class posterior); offered for fidelity to the box.
"""

import math

import keras
import numpy as np

from keras_kd.api import register

ENERGY_MODES = ("running", "members")


def energy(logits):
    """Per-example ``||softmax(logits)||_2^2`` (li2021 eq. 8) of numpy logits."""
    logits = np.asarray(logits, np.float64)
    z = logits - logits.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return np.sum(p * p, axis=-1)


def dataset_energy(model, x, batch_size=256):
    """``Energy(model, D)`` (eq. 9): mean example energy of ``model`` on ``x``.

    Algorithm 1 stops adding res-students once ``dataset_energy(S_i, D_v)``
    exceeds 90% of the teacher's; ``TH_energy = dataset_energy(S_n, D_v)``.
    """
    return float(np.mean(energy(model.predict(x, batch_size=batch_size, verbose=0))))


def _bucket(count, cap):
    """The padded size of a gathered sub-batch: next power of two, at most ``cap``."""
    return min(cap, 2 ** math.ceil(math.log2(count)))


@register
class ResidualEnsemble(keras.Model):
    """A ResKD student ``S_0 + sum R_i`` with sample-adaptive inference.

    Args:
        members: ``[S_0, R_1, ..., R_n]``, built models with equal outputs.
        threshold: ``TH_energy`` for ``predict_adaptive`` (a number >= 0), or
            ``None`` (always the full sum).
        energy_mode: ``"running"`` (default) or ``"members"``; see the module.

    Example:

    >>> ensemble = ResidualEnsemble([s0, r1], threshold=0.9)  # doctest: +SKIP
    >>> logits, used = ensemble.predict_adaptive(x_test)  # doctest: +SKIP
    """

    def __init__(self, members, threshold=None, energy_mode="running", **kwargs):
        kwargs.setdefault("name", "residual_ensemble")
        super().__init__(**kwargs)
        members = list(members) if isinstance(members, (list, tuple)) else members
        if not isinstance(members, list) or not members:
            raise ValueError(f"`members` must be a non-empty list of models. Received: members={members!r}")
        for index, member in enumerate(members):
            if not isinstance(member, keras.Model) or not member.built:
                raise ValueError(
                    f"Every member must be a built keras.Model. Received: members[{index}]={member!r}"
                )
        if threshold is not None and (
            isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0
        ):
            raise ValueError(
                f"`threshold` must be None or a number >= 0. Received: threshold={threshold!r}"
            )
        if energy_mode not in ENERGY_MODES:
            raise ValueError(
                f"`energy_mode` must be one of {ENERGY_MODES}. Received: energy_mode={energy_mode!r}"
            )
        self.members = members
        self.threshold = None if threshold is None else float(threshold)
        self.energy_mode = energy_mode
        self.built = True

    def call(self, inputs, training=None):
        total = self.members[0](inputs, training=training)
        for member in self.members[1:]:
            total = total + member(inputs, training=training)
        return total

    def predict_adaptive(self, x, batch_size=256):
        """Algorithm 2 on numpy inputs.

        Returns:
            ``(logits, used)``: numpy logits of each example's ``S_L`` and the
            number of members each example used (1 = ``S_0`` alone).
        """
        if self.threshold is None:
            raise ValueError("predict_adaptive needs a threshold. Received: threshold=None")
        x = np.asarray(x)
        outputs, counts = [], []
        for start in range(0, len(x), batch_size):
            logits, used = self._adaptive_batch(x[start : start + batch_size])
            outputs.append(logits)
            counts.append(used)
        return np.concatenate(outputs), np.concatenate(counts)

    def _adaptive_batch(self, x):
        logits = np.asarray(self.members[0].predict_on_batch(x), np.float32)
        current = energy(logits)
        used = np.ones(len(x), np.int64)
        for member in self.members[1:]:
            active = np.nonzero(current <= self.threshold)[0]
            if not len(active):
                break
            size = _bucket(len(active), len(x))
            rows = np.concatenate([active, np.repeat(active[:1], size - len(active))])
            residual = np.asarray(member.predict_on_batch(x[rows]), np.float32)[: len(active)]
            logits[active] = logits[active] + residual
            if self.energy_mode == "running":
                current[active] = energy(logits[active])
            else:
                current[active] = current[active] + energy(residual)
            used[active] += 1
        return logits, used

    def skipped_fraction(self, used):
        """Share of res-student evaluations skipped, given ``used`` per example."""
        res_students = len(self.members) - 1
        if not res_students:
            return 0.0
        return 1.0 - float(np.sum(np.asarray(used) - 1)) / (len(used) * res_students)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "members": [keras.saving.serialize_keras_object(m) for m in self.members],
                "threshold": self.threshold,
                "energy_mode": self.energy_mode,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["members"] = [keras.saving.deserialize_keras_object(m) for m in config["members"]]
        return cls(**config)
