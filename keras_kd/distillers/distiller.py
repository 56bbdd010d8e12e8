"""``Distiller``: train a student from a frozen teacher with ``model.fit``.

One implementation for TensorFlow, JAX and torch: the step is customized
through ``call`` / ``compute_loss`` / ``compute_metrics`` only, so each
backend's own ``train_step`` runs it (JAX's stateless one included).

What it guarantees, where ``keras.distillation`` (Keras 3.15) does not:

* the KD term is Hinton's (hinton2015) ``T^2 KL`` of softmaxes (Keras' default
  ``LogitsDistillation`` applies KL to raw scaled logits: 237.47 instead of
  13.83 on the fixed 8x100 logits of ``examples/why_defaults.py``);
* the teacher is frozen (``trainable=False``), always called with
  ``training=False`` (its BN statistics never move) and never in
  ``trainable_variables``;
* the student runs once per step: one pass gives its logits and feature
  taps (``keras.distillation`` runs a second, ``training=True`` student pass
  for features, even in ``evaluate``, which moves BN statistics);
* ``evaluate`` / ``predict`` run the student alone, in inference mode.
"""

import keras

from keras_kd.api import deserialize_fields, register, serialize
from keras_kd.distillers.fit_checks import FitChecks
from keras_kd.distillers.logit_checks import check_compile_arguments, check_logits_model, logits_loss
from keras_kd.distillers.roles import RoleSummary
from keras_kd.distillers.taps import TapExtractor, check_networks_by_keyword, freeze
from keras_kd.distillers.train_logs import TrainingLogs
from keras_kd.losses.supervised import regularization_loss, supervised_loss, weighted_mean
from keras_kd.losses.terms import KD, DistillationTerm
from keras_kd.models.deploy import image_shape
from keras_kd.validation import check_non_negative


@register
class Distiller(RoleSummary, FitChecks, TrainingLogs, keras.Model):
    """Distils ``teacher`` into ``student`` (crowley2018, jha2020; Hinton et al., hinton2015).

    The training loss is
    ``student_loss_weight * CE(y, s) + sum of the terms in losses`` plus the
    student's own regularization losses (``kernel_regularizer``...), unscaled:
    weight decay does not depend on how the distillation terms are weighted,
    and it applies on unlabeled data too.

    ``student`` and ``teacher`` are keyword-only: ``keras.distillation``
    takes ``(teacher, student)``, and a swapped positional call would train
    the teacher and freeze the student.

    Args:
        student: a built Keras model producing logits (a model ending in a
            softmax is refused with a clear error). Zoo models
            (``keras_kd.models``) also expose ``stage1..`` feature taps; for a
            functional model, taps are layer names.
        teacher: a built, trained Keras model with the same number of classes.
            It is frozen here (``teacher.trainable = False``).
        losses: a term or list of terms from ``keras_kd.losses``
            (``KD``, ``AttentionTransfer``, ``FeatureHint``, ``SoftmaxL2``,
            ``LogitL2``, ``KL``). Default: ``[KD(temperature=4, alpha=0.9)]`` -- Hinton KD
            with the settings of crowley2018 and jha2020.
        student_loss_weight: weight of the cross-entropy on the labels.
            Default: ``1 - alpha`` of the ``KD`` term when there is one (so the
            total is Hinton's), else 1 (attention transfer's eq. 2).

    Compile as any model: ``compile(optimizer, metrics=["accuracy"])``; a
    ``loss`` given to ``compile`` replaces the cross-entropy (it receives the
    student's logits: the names ``"sparse_categorical_crossentropy"``,
    ``"categorical_crossentropy"`` and ``"binary_crossentropy"`` resolve with
    ``from_logits=True``; an instance with ``from_logits=False`` is refused).
    keras.io's ``compile(student_loss_fn=, distillation_loss_fn=, alpha=,
    temperature=)`` raises a TypeError that maps them to keras_kd's. Logs: ``loss``, ``student_loss``, one
    ``<term>_loss`` per term, and the compiled metrics on the student logits.

    Example:

    >>> teacher = kd.models.wide_resnet(16, 2, 10)
    >>> student = kd.models.wide_resnet(16, 1, 10)
    >>> distiller = Distiller(student=student, teacher=teacher, losses=[
    ...     kd.losses.KD(temperature=4, alpha=0.9),
    ...     kd.losses.AttentionTransfer(beta=1e3)])
    >>> distiller.compile(keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
    >>> distiller.fit(train_ds, epochs=1)  # doctest: +SKIP
    >>> distiller.student.save("student.keras")  # doctest: +SKIP
    """

    input_network_attribute = "student"
    summary_roles = ("student", "teacher")

    def __init__(self, *args, student=None, teacher=None, losses=None, student_loss_weight=None, **kwargs):
        check_networks_by_keyword("Distiller", args, student=student, teacher=teacher)
        kwargs.setdefault("name", "distiller")
        super().__init__(**kwargs)
        check_logits_model(student, "student")
        check_logits_model(teacher, "teacher")
        if student is teacher or {id(v) for v in student.weights} & {id(v) for v in teacher.weights}:
            raise ValueError(
                "`student` and `teacher` share weights; distil into a separate "
                f"model. Received: student={student.name!r}, teacher={teacher.name!r}"
            )
        shapes = {name: image_shape(model) for name, model in (("student", student), ("teacher", teacher))}
        if None not in shapes.values() and shapes["student"] != shapes["teacher"]:
            raise ValueError(
                "`student` and `teacher` must take the same images (each step feeds both the same "
                f"batch). Received input shapes: student {shapes['student']}, teacher {shapes['teacher']}"
            )
        terms = [KD()] if losses is None else losses
        terms = list(terms) if isinstance(terms, (list, tuple)) else [terms]
        for term in terms:
            if not isinstance(term, DistillationTerm):
                raise ValueError(
                    "`losses` must hold keras_kd.losses terms (KD, AttentionTransfer, "
                    f"FeatureHint, SoftmaxL2, LogitL2, KL). Received: {term!r}"
                )
        names = [term.name for term in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"Loss terms need distinct names. Received: names={names}")
        if student_loss_weight is None:
            implied = [t.student_loss_weight() for t in terms if t.student_loss_weight() is not None]
            student_loss_weight = implied[0] if implied else 1.0
        student_loss_weight = check_non_negative(student_loss_weight, "student_loss_weight")
        freeze(teacher)
        self.student, self.teacher = student, teacher
        self.terms = terms
        self.student_loss_weight = float(student_loss_weight)
        self.student_taps = TapExtractor(student, self._requested_taps(0))
        self.teacher_taps = TapExtractor(teacher, self._requested_taps(1))
        s_classes, t_classes = self.student_taps.logits_shape[-1], self.teacher_taps.logits_shape[-1]
        if s_classes != t_classes:
            raise ValueError(
                "`student` and `teacher` must predict the same classes. Received: "
                f"student outputs {s_classes}, teacher outputs {t_classes}"
            )
        for term in terms:
            term.connect(self.student_taps.shapes, self.teacher_taps.shapes)
            term.built = True
        self.uses_features = any(term.taps for term in terms)
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.term_trackers = [keras.metrics.Mean(name=f"{name}_loss") for name in names]
        self._evaluating = False
        self.built = True  # every sub-model is built

    def compile(self, optimizer="rmsprop", loss=None, *args, **kwargs):
        """``keras.Model.compile``; a cross-entropy ``loss`` name is resolved with
        ``from_logits=True`` (the student outputs logits)."""
        check_compile_arguments(kwargs)
        super().compile(optimizer, logits_loss(loss), *args, **kwargs)

    def compile_from_config(self, config):
        """Re-compiles a loaded distiller (Keras skips models whose ``compile`` is
        overridden): optimizer, its variables and the compiled metrics."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)

    def _requested_taps(self, side):
        """Tap names the terms ask of the student (side 0) or teacher (1)."""
        names = []
        for term in self.terms:
            taps = getattr(term, "taps_arg", None)
            if isinstance(taps, dict):
                names += list(taps.keys() if side == 0 else taps.values())
            elif taps:
                names += list(taps)
        return list(dict.fromkeys(names)) or None

    def call(self, inputs, training=None):
        """Student logits; while training, a dict that adds the student's taps
        and the teacher's ``(logits, taps)``.

        The teacher runs before the student: on torch (CPU), a teacher pass run
        while the student's autograd graph holds its activations page-faults on
        its fresh buffers (WRN-40-2 -> WRN-16-2, batch 64: 73k minor faults per
        step instead of 3.4k; the teacher pass 1.4-1.75x slower). Under jit
        the compiler orders the work, so the order is free there.
        """
        if not training:
            return self.student(inputs, training=training)
        teacher = self.teacher_taps(inputs, training=False)
        if self.uses_features:
            logits, features = self.student_taps(inputs, training=True)
        else:
            logits, features = self.student(inputs, training=True), {}
        return {"logits": logits, "features": features, "teacher": teacher}

    def export(self, filepath, *args, **kwargs):
        """Exports the deployable network, the student (``keras.Model.export``),
        first calling it once on a zero image (Keras exports only models that
        have been called)."""
        shape = image_shape(self.student)
        if shape is not None and None not in shape:
            self.student(keras.ops.zeros((1, *shape)), training=False)
        return self.student.export(filepath, *args, **kwargs)

    @property
    def needs_labels(self):
        """Whether ``fit`` needs labels: unless the cross-entropy weighs 0 and
        no compiled ``loss`` replaces it (unlabeled distillation)."""
        return bool(self.student_loss_weight) or self._compile_loss is not None

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if isinstance(y_pred, dict):
            student, teacher = (y_pred["logits"], y_pred["features"]), y_pred.get("teacher")
        else:
            student, teacher = (y_pred, {}), None
        student_loss = 0.0 if y is None else self._student_loss(y, student[0], sample_weight)
        regularization = regularization_loss(self.student)
        if not training:
            return student_loss + regularization
        if teacher is None:
            teacher = self.teacher_taps(x, training=False)
        total = self.student_loss_weight * student_loss + regularization
        for term, tracker in zip(self.terms, self.term_trackers):
            value = weighted_mean(term.per_example(student, teacher, y), sample_weight)
            tracker.update_state(value)
            total = total + value
        if y is not None:
            self.student_loss_tracker.update_state(student_loss)
        return total

    def _student_loss(self, y, logits, sample_weight):
        """The compiled ``loss`` on the student's logits, else the cross-entropy."""
        if self._compile_loss is not None:
            return self._compile_loss(y, logits, sample_weight)
        return weighted_mean(supervised_loss(y, logits), sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None:  # unlabeled distillation: the loss and its terms, no label metrics
            return {m.name: m.result() for m in [self._loss_tracker, *self.term_trackers]}
        logits = y_pred["logits"] if isinstance(y_pred, dict) else y_pred
        return super().compute_metrics(x, y, logits, sample_weight)

    @property
    def training_trackers(self):
        """Loss parts logged while training and left out of ``evaluate``."""
        return (self.student_loss_tracker, *self.term_trackers)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "student": serialize(self.student),
                "teacher": serialize(self.teacher),
                "losses": serialize(self.terms),
                "student_loss_weight": self.student_loss_weight,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_fields(config, ("student", "teacher", "losses")))
