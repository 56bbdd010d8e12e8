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

import numbers

import keras

from keras_kd.api import deserialize_fields, register, serialize
from keras_kd.distillers.base import Trainer, split_inputs
from keras_kd.distillers.index_checks import indexed_inputs
from keras_kd.distillers.taps import TapExtractor, check_networks_by_keyword
from keras_kd.losses.kd import KD
from keras_kd.losses.registry import get as get_term
from keras_kd.losses.registry import names as term_names
from keras_kd.losses.supervised import weighted_mean
from keras_kd.losses.term import DistillationTerm, Step
from keras_kd.models.deploy import image_shape
from keras_kd.validation import check_non_negative


def as_term(term):
    """A ``DistillationTerm`` from a term or a registered name."""
    if isinstance(term, str):
        return get_term(term)
    if not isinstance(term, DistillationTerm):
        raise ValueError(
            f"`losses` must hold keras_kd.losses terms or their names ({', '.join(term_names())}). "
            f"Received: {term!r}"
        )
    return term


def readers(terms, term_teachers, count):
    """Per term, the tuple of teacher positions it reads: ``term_teachers[name]`` (an int or a list of
    ints), else all ``count``."""
    term_teachers = {} if term_teachers is None else term_teachers
    names = [term.name for term in terms]
    if not isinstance(term_teachers, dict) or set(term_teachers) - set(names):
        raise ValueError(f"`term_teachers` must map names of the terms ({names}) to teacher positions. "
                         f"Received: term_teachers={term_teachers!r}")
    result = []
    for name in names:
        read = term_teachers.get(name, list(range(count)))
        read = [read] if is_position(read) else read
        if (not isinstance(read, (list, tuple)) or not read or len(set(read)) != len(read)
                or not all(is_position(i) and 0 <= i < count for i in read)):
            raise ValueError(f"`term_teachers[{name!r}]` must be a teacher position or distinct positions in "
                             f"[0, {count}). Received: term_teachers={term_teachers!r}")
        result.append(tuple(int(i) for i in read))
    return result


def is_position(value):
    """Whether ``value`` is an integer (Python or NumPy, not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@register
class Distiller(Trainer):
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
        losses: a term or list of terms from ``keras_kd.losses`` (``KD``,
            ``AttentionTransfer``, ``FeatureHint``, ``SoftmaxL2``, ``LogitL2``,
            ``KL``...), or their names (``"kd"``, ``"at"``: ``kd.losses.names()``)
            for their defaults. Default: ``[KD(temperature=4, alpha=0.9)]`` --
            Hinton KD with the settings of crowley2018 and jha2020.
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

    networks = {"student": "trained", "teacher": "frozen"}

    def __init__(self, *args, student=None, teacher=None, losses=None, student_loss_weight=None, **kwargs):
        check_networks_by_keyword("Distiller", args, student=student, teacher=teacher)
        kwargs.setdefault("name", "distiller")
        super().__init__(**kwargs)
        self.declare_networks(student=student, teacher=teacher)
        self.connect_terms(student, {"teacher": teacher}, losses, student_loss_weight)

    def connect_terms(self, student, teachers, losses, student_loss_weight, term_teachers=None):
        """Checks the networks fit each other, connects the terms (``losses``) to the student and to the
        teachers each term reads (``term_teachers``: ``{term name: position or positions}``, default all).

        Args:
            teachers: ``{argument label: model}`` in order (``{"teacher": t}``, ``{"teachers[0]": t0, ...}``).
        """
        for label, teacher in teachers.items():
            shapes = {"student": image_shape(student), label: image_shape(teacher)}
            if None not in shapes.values() and shapes["student"] != shapes[label]:
                raise ValueError(
                    f"`student` and `{label}` must take the same images (each step feeds both the same "
                    f"batch). Received input shapes: student {shapes['student']}, {label} {shapes[label]}"
                )
        terms = [KD()] if losses is None else losses
        terms = [as_term(term) for term in (list(terms) if isinstance(terms, (list, tuple)) else [terms])]
        names = [term.name for term in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"Loss terms need distinct names. Received: names={names}")
        if student_loss_weight is None:
            implied = [t.student_loss_weight() for t in terms if t.student_loss_weight() is not None]
            student_loss_weight = implied[0] if implied else 1.0
        student_loss_weight = check_non_negative(student_loss_weight, "student_loss_weight")
        self.terms = terms
        self.student_loss_weight = float(student_loss_weight)
        self.readers = readers(terms, term_teachers, len(teachers))
        self.student_taps = TapExtractor(student, self._requested_taps(0, terms))
        self.teacher_taps = [
            TapExtractor(teacher, self._requested_taps(1, [t for t, read in zip(terms, self.readers) if i in read]))
            for i, teacher in enumerate(teachers.values())]
        s_classes = self.student_taps.logits_shape[-1]
        for label, extractor in zip(teachers, self.teacher_taps):
            if s_classes != extractor.logits_shape[-1]:
                raise ValueError(
                    f"`student` and `{label}` must predict the same classes. Received: "
                    f"student outputs {s_classes}, {label} outputs {extractor.logits_shape[-1]}"
                )
        for term, read in zip(terms, self.readers):
            try:
                term.connect(self.student_taps.shapes, self.view_shapes(read))
            except ValueError as error:
                if not self.view_note(read):
                    raise
                raise ValueError(f"{error} ({self.view_note(read)} for term {term.name!r})") from None
            term.connect_networks(student, [list(teachers.values())[i] for i in read])
            term.built = True
        self.student_taps.use([student_tap for term in terms for student_tap, _ in term.taps])
        for i, extractor in enumerate(self.teacher_taps):
            extractor.use([tap for term, read in zip(terms, self.readers) if i in read for _, tap in term.taps])
        self.uses_features = any(term.taps for term in terms)
        self.takes_index = any(term.needs_index for term in terms)
        for term in terms:
            if term.needs_index and not isinstance(getattr(term, "num_examples", None), int):
                raise ValueError(
                    f"Term {term.name!r} has needs_index=True but no integer num_examples (the size of the "
                    f"training set its index refers to). Received: num_examples="
                    f"{getattr(term, 'num_examples', None)!r}")
        logged = [name for term in terms for name in term.logged_names()]
        self.track_parts(["student_loss"] + logged, labelled=["student_loss"])
        self.built = True  # every sub-model is built

    def held_variables(self):
        return [v for term in self.terms for v in term.held_in_distillation()]

    def view_shapes(self, read):
        """``(logits shape, {tap: shape})`` a term reading the teachers at positions ``read`` sees."""
        return self.teacher_taps[read[0]].shapes

    def view_note(self, read):
        """What to add to a term's connection error about the teachers at positions ``read`` ("": nothing)."""
        return ""

    def teacher_view(self, read, teachers, y):
        """``(logits, {tap: tensor})`` of the teachers at positions ``read`` for one term, from every
        teacher's outputs ``teachers`` and the labels ``y``: the one teacher's."""
        return teachers[read[0]]

    @staticmethod
    def _requested_taps(side, terms):
        """Tap names ``terms`` ask of the student (side 0) or teacher (1)."""
        names = []
        for term in terms:
            taps = getattr(term, "taps_arg", None)
            if isinstance(taps, dict):
                names += list(taps.keys() if side == 0 else taps.values())
            elif taps:
                names += list(taps)
        return list(dict.fromkeys(names)) or None

    def run_teachers(self, images):
        """Each teacher's ``(logits, taps)`` on ``images``, in inference mode."""
        return [extractor(images, training=False) for extractor in self.teacher_taps]

    def train_outputs(self, images, index):
        """The student's logits and taps and each teacher's ``(logits, taps)``.

        The teachers run before the student: on torch (CPU), a teacher pass run
        while the student's autograd graph holds its activations page-faults on
        its fresh buffers (WRN-40-2 -> WRN-16-2, batch 64: 73k minor faults per
        step instead of 3.4k; the teacher pass 1.4-1.75x slower). Under jit
        the compiler orders the work, so the order is free there.
        """
        teachers = self.run_teachers(images)
        if self.uses_features:
            logits, features = self.student_taps(images, training=True)
        else:
            logits, features = self.student(images, training=True), {}
        return {"logits": logits, "features": features, "teacher": teachers}

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``; with a term that reads the example index (``CRD``), checks that batches
        carry a valid one (in ``[0, num_examples)`` of every such term, distinct within a batch)."""
        if not self.takes_index:
            return super().fit(x, y, *args, **kwargs)
        readers = [term for term in self.terms if term.needs_index]
        num_examples = min(term.num_examples for term in readers)
        with indexed_inputs(x, num_examples, f"The term {readers[0].name!r}") as checked:
            return super().fit(checked, y, *args, **kwargs)

    def init_stage(self):
        """The initialization stage of the terms that have one (AB, FT, FSP): a trainer of their
        modules on their own loss, sharing this distiller's networks and terms, to ``compile`` and
        ``fit`` before this distiller (``keras_kd.distillers.init_stage.InitStage``)."""
        from keras_kd.distillers.init_stage import InitStage  # the stage module imports this one

        return InitStage(distiller=self)

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

    def loss_parts(self, x, y, y_pred, sample_weight):
        """``student_loss`` (weighted ``student_loss_weight``, absent without labels)
        and each term's parts, ``<term>_<part>``."""
        if isinstance(y_pred, dict):
            student, teacher = (y_pred["logits"], y_pred["features"]), y_pred.get("teacher")
        else:
            student, teacher = (y_pred, {}), None
        images, index = split_inputs(x) if self.takes_index else (x, None)
        if teacher is None:  # given the student's outputs alone: the teachers run here
            teacher = self.run_teachers(images)
        parts = {} if y is None else {"student_loss": (self.supervised_loss(y, student[0], sample_weight),
                                                       self.student_loss_weight)}
        views = {}  # one view per set of teachers read, however many terms read it
        for term, read in zip(self.terms, self.readers):
            if read not in views:
                views[read] = self.teacher_view(read, teacher, y)
            term_parts = term.parts(Step(images, y, student, views[read], index=index))
            if set(term_parts) != set(term.part_names):
                raise ValueError(
                    f"Term {term.name!r} declares part_names={tuple(term.part_names)} but its parts() "
                    f"returned {tuple(term_parts)}"
                )
            for part, per_example in term_parts.items():
                parts[f"{term.name}_{part}"] = (weighted_mean(per_example, sample_weight), 1.0)
        return parts

    def get_config(self):
        config = super().get_config()
        config.update({"losses": serialize(self.terms), "student_loss_weight": self.student_loss_weight})
        return config

    @classmethod
    def from_config(cls, config):
        return super().from_config(deserialize_fields(config, ("losses",)))
