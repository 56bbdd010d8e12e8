"""What the batch-relational terms (``pkt``, ``rkd``, ``sp``) share: flattened feature pairs,
a batch scalar as per-example losses, and ``TapTerm``, a term over one tap both networks
offer (their L2 norms are ``losses.norms``)."""

from keras import ops

from keras_kd.losses.term import DistillationTerm


def flatten_pair(student_features, teacher_features, caller):
    """The student's ``(B, D_s)`` and the teacher's ``(B, D_t)`` features, float32, the
    teacher without gradient; raises ValueError naming ``caller`` unless both have a batch
    axis and (where known) the same batch size."""
    student = ops.cast(student_features, "float32")
    teacher = ops.stop_gradient(ops.cast(teacher_features, "float32"))
    if len(student.shape) < 2 or len(teacher.shape) < 2:
        raise ValueError(
            f"{caller} needs features of shape (batch, ...) with at least 2 axes. Received: student "
            f"shape {tuple(student.shape)}, teacher shape {tuple(teacher.shape)}"
        )
    s_batch, t_batch = student.shape[0], teacher.shape[0]
    if s_batch is not None and t_batch is not None and s_batch != t_batch:
        raise ValueError(
            f"{caller} relates the examples of one batch: the student and teacher features need the "
            f"same batch size. Received: student shape {tuple(student.shape)}, teacher shape "
            f"{tuple(teacher.shape)}"
        )
    return ops.reshape(student, (ops.shape(student)[0], -1)), ops.reshape(teacher, (ops.shape(teacher)[0], -1))


def per_batch(loss, logits):
    """The batch-level scalar ``loss`` as a per-example loss of shape (batch,), float32: the
    ``Distiller``'s weighted batch mean of it is ``loss`` times the mean sample weight."""
    return ops.zeros_like(ops.cast(logits[:, 0], "float32")) + loss


class TapTerm(DistillationTerm):
    """A term over one tap both networks offer under the same name (a zoo model's
    ``"embedding"``, or a layer name of functional models)."""

    def __init__(self, tap="embedding", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(tap, str) or not tap:
            raise ValueError(f"`tap` must be a tap name (a non-empty string). Received: tap={tap!r}")
        self.tap = tap
        self.taps_arg = (tap,)  # the layer the Distiller taps in functional models

    def connect(self, student_shapes, teacher_shapes):
        for side, (_, available) in (("student", student_shapes), ("teacher", teacher_shapes)):
            if self.tap not in available:
                raise ValueError(
                    f"{type(self).__name__} reads the tap {self.tap!r}, which the {side} lacks; the {side} "
                    f"has {list(available)} (zoo models, keras_kd.models, offer 'embedding'). "
                    f"Received: tap={self.tap!r}"
                )
        self.taps = ((self.tap, self.tap),)

    def features(self, student, teacher):
        """The student's and the teacher's tensor of the tap, from ``(logits, {tap: tensor})``."""
        return student[1][self.tap], teacher[1][self.tap]

    def get_config(self):
        return {**super().get_config(), "tap": self.tap}
