"""A search's trials as records: hyperparameters, score, student cost; Pareto front."""

from keras_kd.models.profile import profile
from keras_kd.validation import check_choice


def trial_records(tuner):
    """One dict per trial of ``tuner`` (a tuner over a keras_kd hypermodel).

    Args:
        tuner: a KerasTuner tuner whose hypermodel is a keras_kd one (``HyperDistiller``...).

    Returns:
        Records sorted by trial id: ``trial_id``, ``status``, ``score`` (the
        objective, e.g. best ``val_accuracy``; ``None`` unless completed),
        ``hyperparameters`` (active ones only), ``block``, ``residual`` and
        the student's ``params``, ``trainable_params`` and ``flops``
        (``keras_kd.models.profile``; the hypermodel's ``costs(student)``, which
        ``HyperResStudent`` extends with li2021 MFLOPs).
    """
    hypermodel = tuner.hypermodel
    records = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        hp = trial.hyperparameters.copy()
        block, residual = hypermodel.architecture.sample(hp)
        record = {
            "trial_id": trial_id,
            "status": trial.status,
            "score": trial.score,
            "hyperparameters": dict(hp.values),
            "block": block,
            "residual": residual,
        }
        if trial.status == "COMPLETED":
            student = hypermodel.build_student(hp)
            record.update(hypermodel.costs(student) if hasattr(hypermodel, "costs") else profile(student))
        records.append(record)
    return records


def pareto_front(records, score="score", cost="params", direction="max"):
    """Records no other beats on both a better ``score`` and lower ``cost``.

    Records without a score are ignored; the front is sorted by cost.

    Args:
        records: dicts (as ``trial_records`` gives).
        score: the key of the score.
        cost: the key of the cost, lower is better.
        direction: ``"max"`` (a higher score is better: ``val_accuracy``) or
            ``"min"`` (a lower one is: a loss, ``HyperResStudent``'s ``val_loss``).
    """
    check_choice(direction, "direction", ("max", "min"))
    sign = 1 if direction == "max" else -1
    scored = [r for r in records if r.get(score) is not None]

    def value(record):
        return sign * record[score]

    front = [
        r
        for r in scored
        if not any(
            value(o) >= value(r) and o[cost] <= r[cost] and (value(o) > value(r) or o[cost] < r[cost])
            for o in scored
        )
    ]
    return sorted(front, key=lambda r: r[cost])
