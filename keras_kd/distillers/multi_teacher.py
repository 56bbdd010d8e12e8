"""``MultiTeacherDistiller``: a ``Distiller`` with several frozen teachers.

Every term sees one teacher view ``(logits, {tap: tensor})``, as with one teacher, so every term works
unchanged. A term reads all teachers or those ``term_teachers`` names; when it reads several, their outputs
are combined per example by ``combine``:

* ``"average"``: the weighted mean of their logits (``teacher_weights``, default equal, renormalized over
  the teachers the term reads) and of their taps. Logits, not probabilities, are averaged: every term
  (KD, DKD, DIST...) takes logits, and KD at temperature T then matches ``softmax(mean logits / T)``, the
  normalized geometric mean of the teachers' tempered distributions.
* ``"most_confident_correct"``: per example, the teacher that predicts the label with the highest
  probability on it; if none predicts it, the one with the highest probability on the label. Needs labels.

A tap is in a view only if every teacher read has it with one shape (a feature term that reads teachers
whose maps differ is refused when it connects: give it one teacher with ``term_teachers``). The teachers
run once per step each, in inference mode, before the student.
"""

from keras import ops

from keras_kd.api import register
from keras_kd.distillers.distiller import Distiller
from keras_kd.distillers.taps import check_networks_by_keyword
from keras_kd.losses.supervised import sparse_labels
from keras_kd.validation import check_choice, check_non_negative

COMBINE = ("average", "most_confident_correct")


@register
class MultiTeacherDistiller(Distiller):
    """Distils several frozen ``teachers`` into ``student`` (module docstring).

    Args:
        student: as ``Distiller``.
        teachers: two or more built, trained Keras models predicting the student's classes; frozen here.
        losses: as ``Distiller``.
        student_loss_weight: as ``Distiller``.
        combine: ``"average"`` or ``"most_confident_correct"`` (module docstring).
        teacher_weights: one non-negative weight per teacher for ``"average"`` (default: equal); each term
            must read a teacher of positive weight.
        term_teachers: ``{term name: teacher position or list of positions}``; terms not named read every
            teacher. Every teacher must be read by some term.

    With identical teachers it trains as the ``Distiller`` of one of them (``"average"`` with two: exactly).
    ``distiller.student`` is what to save and deploy.
    """

    networks = {"student": "trained", "teachers": "frozen"}

    def __init__(self, *args, student=None, teachers=None, losses=None, student_loss_weight=None,
                 combine="average", teacher_weights=None, term_teachers=None, **kwargs):
        check_networks_by_keyword("MultiTeacherDistiller", args, student=student, teachers=teachers)
        kwargs.setdefault("name", "multi_teacher_distiller")
        super(Distiller, self).__init__(**kwargs)
        teachers = list(teachers) if isinstance(teachers, (list, tuple)) else teachers
        if not isinstance(teachers, list) or len(teachers) < 2 or len({id(t) for t in teachers}) != len(teachers):
            raise ValueError(f"`teachers` must be a list of two or more distinct models. Received: teachers={teachers!r}")
        self.declare_networks(student=student, teachers=teachers)
        self.combine = check_choice(combine, "combine", COMBINE)
        if teacher_weights is not None and self.combine != "average":
            raise ValueError(f"`teacher_weights` weigh combine='average' only. Received: combine={combine!r} and "
                             f"teacher_weights={teacher_weights!r}")
        self.teacher_weights = self._check_weights(teacher_weights, len(teachers))
        labels = {f"teachers[{i}]": teacher for i, teacher in enumerate(teachers)}
        self.connect_terms(student, labels, losses, student_loss_weight, term_teachers=term_teachers)
        named = term_teachers or {}
        self.term_teachers = {t.name: list(read) for t, read in zip(self.terms, self.readers) if t.name in named}
        self._check_readers(teacher_weights, term_teachers)

    def _check_readers(self, teacher_weights, term_teachers):
        """Every teacher is read by a term, and every term reads a teacher of positive weight."""
        unread = sorted(set(range(len(self.teachers))) - {i for read in self.readers for i in read})
        if unread:
            raise ValueError(f"No term reads teachers {unread} (each would run every step for nothing). "
                             f"Received: term_teachers={term_teachers!r}")
        for term, read in zip(self.terms, self.readers):
            if not sum(self.teacher_weights[i] for i in read) > 0:
                raise ValueError(f"Term {term.name!r} reads teachers {list(read)}, all of weight 0. Received: "
                                 f"teacher_weights={teacher_weights!r}, term_teachers={term_teachers!r}")

    @staticmethod
    def _check_weights(weights, count):
        if weights is None:
            return [1.0] * count
        weights = list(weights) if isinstance(weights, (list, tuple)) else weights
        if not isinstance(weights, list) or len(weights) != count:
            raise ValueError(f"`teacher_weights` must hold one weight per teacher ({count}). "
                             f"Received: teacher_weights={weights!r}")
        weights = [check_non_negative(w, "teacher_weights") for w in weights]
        if not sum(weights) > 0:
            raise ValueError(f"`teacher_weights` must not all be 0. Received: teacher_weights={weights!r}")
        return weights

    def view_shapes(self, read):
        logits_shape = self.teacher_taps[read[0]].logits_shape
        shapes = [self.teacher_taps[i].tap_shapes for i in read]
        common = {name: shape for name, shape in shapes[0].items() if all(s.get(name) == shape for s in shapes)}
        return logits_shape, common

    def view_note(self, read):
        dropped = sorted({name for i in read for name in self.teacher_taps[i].tap_shapes} - set(self.view_shapes(read)[1]))
        if not dropped:
            return ""
        return (f"the combined view of teachers {list(read)} lacks the taps {dropped}, which those teachers do not "
                "share with one shape; read one teacher with term_teachers={term name: position}")

    def mixing(self, read, teachers, y):
        """(B, len(read)) weights of the teachers read, per example."""
        if self.combine == "average":
            weights = [self.teacher_weights[i] for i in read]
            row = ops.convert_to_tensor([w / sum(weights) for w in weights], "float32")
            return ops.zeros_like(ops.cast(teachers[read[0]][0][:, :1], "float32")) + row[None, :]
        if y is None:
            raise ValueError("combine='most_confident_correct' picks teachers by the label: batches need labels. "
                             "Received: unlabeled batches")
        labels = sparse_labels(y, teachers[read[0]][0])
        scores = []
        for i in read:
            probabilities = ops.softmax(ops.cast(teachers[i][0], "float32"), axis=-1)
            on_label = ops.take_along_axis(probabilities, labels[:, None], axis=1)[:, 0]
            correct = ops.cast(ops.equal(ops.cast(ops.argmax(probabilities, axis=-1), "int32"), labels), "float32")
            scores.append(on_label + correct)  # a correct teacher outranks every wrong one
        return ops.one_hot(ops.argmax(ops.stack(scores, axis=1), axis=1), len(read), dtype="float32")

    def teacher_view(self, read, teachers, y):
        if len(read) == 1:
            return teachers[read[0]]
        weights = self.mixing(read, teachers, y)
        logits = sum(weights[:, k:k + 1] * ops.cast(teachers[i][0], "float32") for k, i in enumerate(read))
        taps = {}
        for name in self.view_shapes(read)[1]:
            if name not in teachers[read[0]][1]:  # an extra tap no term reads is not computed
                continue
            tensors = [teachers[i][1][name] for i in read]
            shape = (-1,) + (1,) * (len(tensors[0].shape) - 1)
            taps[name] = sum(ops.reshape(ops.cast(weights[:, k], tensors[k].dtype), shape) * tensors[k]
                             for k in range(len(read)))
        return logits, taps

    def get_config(self):
        config = super().get_config()
        config.update({"combine": self.combine, "teacher_weights": self.teacher_weights,
                       "term_teachers": self.term_teachers})
        return config
