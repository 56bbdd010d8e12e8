"""``DistillationTerm``: one named term of a ``Distiller``'s loss, and the ``Step`` it sees.

A term is a Keras layer: it may own weights (a hint's adapters) and state
(non-trainable variables such as a memory bank, updated in ``parts`` with
``keras_kd.backend.replica_state.add_to_rows``), saved with the trainer and
restored by ``BackupAndRestore``. Each training step gives it a ``Step``;
it returns per-example losses (weights included, so ``sample_weight``
applies), one per named part: the distiller logs part ``p`` of term ``t``
as ``t_p`` (a one-part term's part is ``"loss"``: ``kd_loss``) and adds
every part to the loss.
"""

import keras
from keras import ops


def zero_per_example(logits):
    """A per-example loss of 0 for the batch of ``logits`` (a term whose weight is 0 computes nothing)."""
    return ops.zeros_like(ops.cast(logits[:, 0], "float32"))


class Step:
    """What a term sees of one training step.

    Args:
        inputs: the images of the batch.
        labels: the labels, or None on unlabeled data.
        student: ``(logits, {tap name: tensor})`` from the student's one
            forward pass (taps are those the terms asked for); None in an
            initialization stage that does not run it.
        teacher: ``(logits, {tap name: tensor})`` from the teacher's one forward pass.
        index: each example's position in the training set, when the batch
            is ``((images, index), labels)`` (see ``DistillationTerm.needs_index``),
            else None.
        training: whether the step trains: the mode of the term's own layers
            (batch norm), False when an initialization stage is evaluated.

    Each argument is an attribute of the same name.
    """

    def __init__(self, inputs, labels, student, teacher, index=None, training=True):
        self.inputs, self.labels, self.index = inputs, labels, index
        self.student, self.teacher, self.training = student, teacher, training

    @property
    def student_logits(self):
        return self.student[0]

    @property
    def teacher_logits(self):
        return self.teacher[0]


class DistillationTerm(keras.layers.Layer):
    """Base class: one named term of the distillation loss.

    Subclasses implement ``per_example(student, teacher, y)`` (one part,
    ``student`` and ``teacher`` being ``(logits, {tap name: feature map})``)
    or, for several parts or when they need more of the step, ``parts(step)``
    with the names in ``part_names``. They may override ``connect`` (validate
    shapes, build weights), ``connect_networks`` (read the models) and ``student_loss_weight`` (the cross-entropy
    weight the term implies), and set ``needs_index`` (then also
    ``num_examples``, the size of the training set the index refers to).
    """

    default_name = None  # the term's name unless ``name=`` is given, and its registry key
    part_names = ("loss",)
    needs_index = False  # whether ``parts`` reads ``step.index``
    taps = ()
    # A term with an initialization stage (``Distiller.init_stage``: AB, FT, FSP) names its parts here
    # and implements ``init_parts`` and ``init_variables``.
    init_part_names = ()
    init_reads_student = True  # whether the stage's loss reads the student (FT's reads the teacher only)

    def __init__(self, **kwargs):
        kwargs.setdefault("name", self.default_name)
        super().__init__(**kwargs)

    def connect(self, student_shapes, teacher_shapes):
        """Checks the term fits the networks; ``*_shapes`` = (logits, {tap: shape})."""

    def connect_networks(self, student, teachers):
        """Called once after ``connect`` with the student and the list of teacher models the term reads,
        for a term that reads their weights (OFD's margins from the teacher's batch norm)."""

    def student_loss_weight(self):
        """Cross-entropy weight this term implies, or ``None``."""
        return None

    def logged_names(self):
        """The names the distiller logs this term's parts under."""
        return [f"{self.name}_{part}" for part in self.part_names]

    def parts(self, step):
        """``{part name: per-example loss}`` of one ``Step``."""
        return {"loss": self.per_example(step.student, step.teacher, step.labels)}

    def init_parts(self, step):
        """``{part name: per-example loss}`` of one step of the initialization stage."""
        raise NotImplementedError(f"{type(self).__name__} has no initialization stage")

    def init_variables(self, student):
        """The variables the initialization stage trains (``student``: the student model)."""
        raise NotImplementedError(f"{type(self).__name__} has no initialization stage")

    def held_in_distillation(self):
        """The term's variables that train in its initialization stage only (FT's paraphraser)."""
        return []

    def per_example(self, student, teacher, y):
        raise NotImplementedError(f"{type(self).__name__} implements neither per_example nor parts")
