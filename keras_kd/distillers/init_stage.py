"""``InitStage``: the initialization stage some methods train through ``fit`` before distillation.

The authors' code of the CRD benchmark (RepDistiller, tian2020, ``train_student.py`` and
``helper/pretrain.py``) runs, before the distillation epochs, ``--init_epochs`` (30) epochs of an
initialization stage with its own SGD (momentum 0.9, weight decay 5e-4 added to the gradient) at a
*constant* learning rate: the run's learning rate, 0.01 for FT on the CIFAR ResNets and WRNs.
There the loss is the method's alone (no cross-entropy): AB (heo2019a) trains its connectors and
the student's feature modules (stem and stages: not the head's batch norm or classifier), FSP
(yim2017) the student's feature modules, FT (kim2018) its
paraphraser (the student does not run). The teacher runs in inference mode; the trained modules in
training mode (their batch norm statistics move: ``init_modules.train()`` comes after
``model_s.eval()``); the student's layers the stage does not train keep their batch norm statistics
(the code's head in ``eval()``; FitNets' first stage does not run the layers beyond the guided one).
Those layers are not in the stage's optimizer, so weight decay leaves them alone; here they are left
out of ``trainable_variables``.

Usage::

    distiller = kd.Distiller(student=student, teacher=teacher, losses=[kd.losses.AB()])
    stage = distiller.init_stage()
    stage.compile(kd.optimizers.SGD(0.05, momentum=0.9, weight_decay=5e-4))
    stage.fit(train, epochs=30)   # resumable: keras.callbacks.BackupAndRestore
    distiller.compile(...)
    distiller.fit(train, epochs=240)

The stage shares the distiller's networks and terms (the same variables): what it trains, the
distiller starts from. It saves and loads as a ``.keras`` file holding its distiller.
"""

from keras import ops

from keras_kd.api import deserialize_fields, register, serialize
from keras_kd.distillers.base import Trainer, split_inputs
from keras_kd.distillers.distiller import Distiller
from keras_kd.losses.supervised import weighted_mean
from keras_kd.losses.term import Step


def untrained_state(student, trained):
    """The non-trainable variables (batch norm statistics) of the student's layers (``student.layers``) of
    which the stage trains no weight (``trained``: ``{id: variable}``): FitNets' stage does not run the
    layers beyond the guided one, so their statistics do not move."""
    return [v for layer in student.layers if not any(id(w) in trained for w in layer.trainable_weights)
            for v in layer.non_trainable_weights]


@register
class InitStage(Trainer):
    """The initialization stage of a ``Distiller``'s terms that have one (``term.init_part_names``).

    The loss is the sum of those terms' ``init_parts`` (logged as ``<term>_<part>``) plus the
    regularization of the student when the stage trains it; ``trainable_variables`` are the union
    of the terms' ``init_variables``. Labels may be given; the stage's losses do not read them (a
    ``MultiTeacherDistiller`` picking a teacher per example does). ``evaluate`` reports the
    stage's loss on the data, the student in inference mode.

    Args:
        distiller: a ``keras_kd.Distiller`` holding at least one term with an initialization stage
            (``AB``, ``FT``, ``FSP``); usually ``distiller.init_stage()``.
    """

    parts_in_evaluation = True
    needs_labels = False

    def __init__(self, *, distiller=None, **kwargs):
        if not isinstance(distiller, Distiller):
            raise ValueError(f"`distiller` must be a keras_kd.Distiller. Received: distiller={distiller!r}")
        staged = [term for term in distiller.terms if term.init_part_names]
        if not staged:
            raise ValueError(
                "None of the distiller's terms has an initialization stage (AB, FT and FSP have one). Received "
                f"terms: {[term.name for term in distiller.terms]}")
        kwargs.setdefault("name", f"{distiller.name}_init_stage")
        super().__init__(**kwargs)
        self.distiller, self.staged_terms = distiller, staged
        self.takes_index = distiller.takes_index
        self.reads_student = any(term.init_reads_student for term in staged)
        trained = {}
        for term in staged:
            trained.update({id(v): v for v in term.init_variables(distiller.student)})
        self.trained = list(trained.values())
        student_ids = {id(v) for v in distiller.student.weights}
        self.trains_student = any(id(v) in student_ids for v in self.trained)
        self.kept_state = untrained_state(distiller.student, trained)
        self.track_parts([f"{term.name}_{part}" for term in staged for part in term.init_part_names])
        self.built = True

    def held_variables(self):
        trained = {id(v) for v in self.trained}
        return [v for v in self.distiller.trainable_variables if id(v) not in trained]

    def trained_networks(self):
        return [self.distiller.student] if self.trains_student else []

    def compile(self, optimizer="rmsprop", loss=None, *args, **kwargs):
        """``keras.Model.compile`` with an optimizer only: the stage trains no classifier, so it takes
        no ``loss`` or ``metrics``."""
        extra = {**({"loss": loss} if loss is not None else {}),
                 **{k: v for k, v in kwargs.items() if k in ("metrics", "weighted_metrics") and v}}
        if args or extra:
            raise ValueError(
                "An initialization stage trains the terms' own modules on their own loss: compile it with an "
                f"optimizer only. Received: {', '.join(f'{k}={v!r}' for k, v in extra.items()) or args}")
        super().compile(optimizer, **kwargs)

    def call(self, inputs, training=None):
        images, index = split_inputs(inputs) if self.takes_index else (inputs, None)
        teachers = self.distiller.run_teachers(images)
        student = None
        if self.reads_student:
            kept = [ops.copy(v.value) for v in self.kept_state]  # a copy: torch's batch norm updates in place
            student = self.distiller.student_taps(images, training=bool(training))
            for variable, value in zip(self.kept_state, kept):  # layers the stage does not train keep their state
                variable.assign(value)
        return {"student": student, "teacher": teachers}

    def loss_parts(self, x, y, y_pred, sample_weight):
        images, index = split_inputs(x) if self.takes_index else (x, None)
        student, teachers, parts = y_pred["student"], y_pred["teacher"], {}
        for term, read in zip(self.distiller.terms, self.distiller.readers):
            if term not in self.staged_terms:
                continue
            view = self.distiller.teacher_view(read, teachers, y)
            step = Step(images, y, student, view, index=index, training=self.step_training)
            for part, per_example in term.init_parts(step).items():
                parts[f"{term.name}_{part}"] = (weighted_mean(per_example, sample_weight), 1.0)
        return parts

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        self.step_training = training  # read while tracing: the mode of the terms' own layers
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        return {m.name: m.result() for m in [self._loss_tracker, *self.part_trackers.values()]}

    def deployable(self):
        return self.distiller.student

    def _input_network(self):
        return self.distiller.student

    def get_config(self):
        return {**super().get_config(), "distiller": serialize(self.distiller)}

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_fields(config, ("distiller",)))
