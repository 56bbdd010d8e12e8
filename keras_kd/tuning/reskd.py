"""``HyperResStudent``: black-box search of a ResKD res-student (li2021) over handcrafted CIFAR ResNets.

The KerasTuner alternative to ``kd.nas.ResStudentSearch`` (li2021 §III-B1's differentiable search): each
trial builds a res-student ``R_i`` from the family of He et al.'s CIFAR ResNets (``kd.models.cifar_resnet``:
depth, width, shortcut, and the cheap-convolution block notation of ``ArchitectureSpace``) and trains it as
``train_reskd``'s stage does, by a ``ResidualDistiller`` on ``T - S_{i-1}`` (eq. 3) with the fixed teacher
and earlier members.

The objective is the stage's own loss on held-out data: the trainer built here is a ``ResidualDistiller``
whose ``evaluate`` (so fit's validation, ``val_loss``) reports eq. 3, where ``ResidualDistiller``'s reports
the hard-label cross-entropy of ``S_{i-1} + R_i`` only.
"""

import functools

from keras import ops

from keras_kd.api import register
from keras_kd.backend.replica_state import replica_share
from keras_kd.distillers.reskd import DIVERGENCES, HARD_LABEL_TARGETS, ResidualDistiller
from keras_kd.distillers.taps import check_built_model, logits_shape
from keras_kd.losses.kd import check_temperature, check_unit_interval
from keras_kd.models.deploy import image_shape, shapes_agree
from keras_kd.models.profile import profile
from keras_kd.models.resnet import cifar_resnet
from keras_kd.tuning.hypermodels import NetworkSource, StudentHyperModel
from keras_kd.tuning.space import Default, Range, check_knob, is_positive_int, sample, unwrap
from keras_kd.validation import check_choice

SHORTCUTS = ("pad", "conv")
BASE_WIDTHS = (16, 16, 32, 64)  # he2016's CIFAR ResNet: the stem's and the three stages' channels


def is_cifar_resnet_depth(value):
    """Whether ``value`` is a CIFAR ResNet depth, 6n+2 with n >= 1 (8, 14, 20, ...)."""
    return is_positive_int(value) and value >= 8 and (value - 2) % 6 == 0


@register
class StageLossDistiller(ResidualDistiller):
    """A ``ResidualDistiller`` whose ``evaluate`` reports its training loss, eq. 3, not the cross-entropy alone.

    In evaluation (``evaluate``, fit's validation: ``val_loss``) the loss of a labelled batch is
    ``tau * t^2 * L(softmax(R_i / t), softmax((T - S_{i-1}) / t)) + (1 - tau) * CE``, the CE on the
    logits ``hard_labels`` names, with every network in inference mode (BatchNorm's moving statistics),
    plus the res-student's regularization losses (none for the zoo's models), as in training; on
    unlabeled data the KD term alone (and the regularization). ``ResidualDistiller`` reports the CE of
    ``S_{i-1} + R_i`` (and the regularization) instead.
    Compiled metrics still describe ``S_i = S_{i-1} + R_i``.

    Args:
        *args: refused, as ``ResidualDistiller``'s (the networks are keyword-only).
        **kwargs: ``ResidualDistiller``'s arguments (``res_student``, ``teacher``, ``previous``,
            ``temperature``, ``tau``, ``divergence``, ``hard_labels``).
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Eq. 3 in training (``ResidualDistiller``'s) and in evaluation too (its KD term alone on unlabeled data)."""
        if training:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        outputs = {
            "previous": self.previous_logits(x),
            "residual": self.res_student(x, training=False),
            "teacher": self.teacher(x, training=False),
        }
        labels = y if y is not None else ops.zeros(ops.shape(outputs["teacher"])[:1], "int32")
        parts = self.loss_parts(x, labels, outputs, sample_weight)
        if y is None:  # no hard-label term without labels (raising here would break JAX's traced networks)
            parts = {"residual_kd_loss": parts["residual_kd_loss"]}
        total = sum((weight * value for value, weight in parts.values()), 0.0)
        return replica_share(total + self.regularization())


class HyperResStudent(StudentHyperModel):
    """Searches a ResKD res-student ``R_i`` among CIFAR ResNets by depth, width and block (li2021).

    Each trial builds ``R_i = kd.models.cifar_resnet(depth, ...)`` with the sampled knobs at the teacher's
    input shape and class count and returns a compiled ``ResidualDistiller`` (a ``StageLossDistiller``) on
    the fixed ``teacher`` and ``previous``, with the stage's fixed ``temperature``, ``tau``, ``divergence``
    and ``hard_labels`` (``train_reskd``'s stage loss, eq. 3), so every trial optimizes and is scored by
    the same loss. Its ``val_loss`` is that loss on the validation data (per example, averaged; see
    ``StageLossDistiller``): search with ``objective="val_loss"`` (minimized), or ``"val_accuracy"`` for
    the accuracy of ``S_i = S_{i-1} + R_i``.

    ``trial_records`` gives ``R_i``'s ``params``, ``trainable_params`` and ``flops`` (multiply-accumulates,
    as for the other hypermodels), its ``mflops`` (li2021's convention, ``kd.models.profile(...,
    convention="li2021")`` / 1e6), and ``student_params`` / ``student_mflops``, those of the whole
    ``S_i = S_{i-1} + R_i`` (summed over its members). ``pareto_front(records, direction="min",
    cost="mflops")`` is the front of a ``val_loss`` search.

    Args:
        teacher: the trained teacher ``T`` (a built Keras model with a known input shape).
        previous: ``[S_0, R_1, ..., R_{i-1}]``, trained, built models predicting the teacher's classes.
        depth: depth knob of the res-student, 6n+2 (8, 14, 20, ...): a value, a list of choices, or a
            ``Range`` whose step is a multiple of 6 (``Range(8, 32, step=6)``).
        width: width-multiplier knob (a positive integer k): the channels are ``k * (16, 16, 32, 64)``,
            the stem's and the three stages' (he2016's CIFAR ResNet for 1).
        shortcut: shortcut knob, ``"pad"`` (option A, parameter-free, he2016 and li2021's ResNets) or
            ``"conv"`` (1x1 conv + BN projection, RepDistiller's).
        temperature: the stage's t (fixed, > 0); li2021 §IV-B2: "t = 20 in all situations".
        tau: the stage's KD weight in [0, 1] (fixed); li2021 §IV-B2: "tau = 0.1 for R_1 on all datasets".
        divergence: the stage's ``L``: ``"l2"`` (li2021's default) or ``"kl"``.
        hard_labels: which logits the stage's CE sees: ``"sum"`` (``S_{i-1} + R_i``) or ``"member"``.
        **kwargs: the ``StudentHyperModel`` knobs (``optimizer``, ``learning_rate``, ``momentum``,
            ``weight_decay``, the block knobs ``blocks``, ``groups``, ``group_size``, ``bottleneck``,
            ``residual``, and ``epochs``, ``batch_size``).

    Example:

    >>> import keras_tuner
    >>> teacher = kd.models.cifar_resnet(20, 10, input_shape=(8, 8, 3))  # yours, trained
    >>> s0 = kd.models.cifar_resnet(8, 10, input_shape=(8, 8, 3), name="s0")  # S_0, trained
    >>> hypermodel = HyperResStudent(teacher, [s0], depth=[8, 14], width=[1, 2], blocks="S")
    >>> hypermodel.build(keras_tuner.HyperParameters()).res_student.name
    'r1-resnet-8'
    """

    def __init__(
        self,
        teacher,
        previous,
        depth=(8, 14, 20),
        width=Default(1),
        shortcut=Default("pad"),
        temperature=20.0,
        tau=0.1,
        divergence="l2",
        hard_labels="sum",
        **kwargs,
    ):
        check_built_model(teacher, "teacher")
        input_shape = image_shape(teacher)
        if input_shape is None:
            raise ValueError(f"`teacher` needs a known input shape. Received: teacher={teacher.name!r}")
        num_classes = logits_shape(teacher)[-1]
        self.previous = self._check_previous(previous, input_shape, num_classes)
        self.teacher = teacher
        super().__init__(
            {"res_student": functools.partial(cifar_resnet, 8)}, input_shape, num_classes, **kwargs
        )
        check_knob(depth, "depth", check=is_cifar_resnet_depth, expected="6n+2 >= 8: 8, 14, 20, ...")
        if isinstance(depth, Range) and (depth.step is None or depth.step % 6):
            raise ValueError(f"A `depth` Range needs a step that is a multiple of 6, e.g. Range(8, 32, step=6). "
                             f"Received: depth={depth!r}")
        (width, _), (shortcut, _) = unwrap(width), unwrap(shortcut)
        check_knob(width, "width", check=is_positive_int, expected="a positive integer")
        check_knob(shortcut, "shortcut", check=lambda v: isinstance(v, str) and v in SHORTCUTS, expected=SHORTCUTS)
        self.depth, self.width, self.shortcut = depth, width, shortcut
        self.temperature = check_temperature(temperature)
        self.tau = check_unit_interval(tau, "tau")
        check_choice(divergence, "divergence", DIVERGENCES)
        check_choice(hard_labels, "hard_labels", HARD_LABEL_TARGETS)
        self.divergence, self.hard_labels = divergence, hard_labels
        self._previous_costs = None

    @staticmethod
    def _check_previous(previous, input_shape, num_classes):
        if not isinstance(previous, (list, tuple)) or not previous:
            raise ValueError(f"`previous` must list S_0 and any earlier res-students. Received: previous={previous!r}")
        for index, member in enumerate(previous):
            check_built_model(member, f"previous[{index}]")
            shape, classes = image_shape(member), logits_shape(member)[-1]
            if classes != num_classes or (shape is not None and not shapes_agree(shape, input_shape)):
                raise ValueError(
                    f"`previous` must take the teacher's inputs {tuple(input_shape)} and predict its {num_classes} "
                    f"classes; previous[{index}] takes {shape} and predicts {classes}. Received: "
                    f"previous={[m.name for m in previous]!r}"
                )
        return list(previous)

    def build_student(self, hp):
        """The res-student ``R_i`` for ``hp``, untrained."""
        depth = sample(hp, "depth", self.depth)
        width = sample(hp, "width", self.width)
        shortcut = sample(hp, "shortcut", self.shortcut)
        name = f"r{len(self.previous)}-resnet-{depth}" + (f"-w{width}" if width != 1 else "")
        builder = functools.partial(cifar_resnet, depth, shortcut=shortcut, name=name,
                                    widths=tuple(width * w for w in BASE_WIDTHS))
        return self.build_network(hp, NetworkSource(builder, "res_student", self.input_shape, self.num_classes))

    def build_trainer(self, hp):
        return StageLossDistiller(
            res_student=self.build_student(hp),
            teacher=self.teacher,
            previous=self.previous,
            temperature=self.temperature,
            tau=self.tau,
            divergence=self.divergence,
            hard_labels=self.hard_labels,
        )

    def deployable(self, model):
        """``R_i`` of a trained trainer (``model.deployable()`` is the ensemble ``S_{i-1} + R_i``)."""
        return model.res_student

    def costs(self, student):
        """``R_i``'s ``profile`` with its li2021 ``mflops``, and ``student_params`` / ``student_mflops`` of
        ``S_{i-1} + R_i`` (the members' sums).

        Args:
            student: a res-student of this hypermodel (``build_student(hp)``).
        """
        if self._previous_costs is None:
            self._previous_costs = (sum(profile(m)["params"] for m in self.previous),
                                    sum(profile(m, convention="li2021")["flops"] for m in self.previous))
        record = profile(student)
        li2021_flops = profile(student, convention="li2021")["flops"]
        record["mflops"] = li2021_flops / 1e6
        record["student_params"] = self._previous_costs[0] + record["params"]
        record["student_mflops"] = (self._previous_costs[1] + li2021_flops) / 1e6
        return record
