"""A search's trials as records: hyperparameters, score, student cost; Pareto front."""

from keras_kd.models.profile import profile


def trial_records(tuner):
    """One dict per trial of ``tuner`` (a tuner over a keras_kd hypermodel).

    Returns:
        Records sorted by trial id: ``trial_id``, ``status``, ``score`` (the
        objective, e.g. best ``val_accuracy``; ``None`` unless completed),
        ``hyperparameters`` (active ones only), ``block``, ``residual`` and
        the student's ``params``, ``trainable_params`` and ``flops``
        (``keras_kd.models.profile``).
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
            record.update(profile(hypermodel.build_student(hp)))
        records.append(record)
    return records


def pareto_front(records, score="score", cost="params"):
    """Records no other beats on both higher ``score`` and lower ``cost``.

    Records without a score are ignored; the front is sorted by cost.
    """
    scored = [r for r in records if r.get(score) is not None]
    front = [
        r
        for r in scored
        if not any(
            o[score] >= r[score] and o[cost] <= r[cost] and (o[score] > r[score] or o[cost] < r[cost])
            for o in scored
        )
    ]
    return sorted(front, key=lambda r: r[cost])
