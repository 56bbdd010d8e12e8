"""KerasTuner hypermodels for the distillers: ``HyperDistiller``, ``HyperMutual``.

``build(hp)`` samples the knobs, builds the student network(s) and the
trainer, and compiles it with SGD + momentum and the ``"accuracy"`` metric
of the student (peer 0 for mutual learning), so the objective is
``"val_accuracy"`` on the ``validation_data`` given to ``tuner.search``.
Tune on a split carved from train (``keras_kd.data.load(source,
"validation")``), never on test.

The trainers are built inside ``build(hp)`` (they come out built), so
``tuner.get_best_models()`` can load their checkpoints.
"""

import functools

import keras
import keras_tuner

from keras_kd.distillers.distiller import Distiller
from keras_kd.distillers.mutual import MutualDistiller
from keras_kd.distillers.taps import logits_shape
from keras_kd.losses.terms import KD, AttentionTransfer
from keras_kd.models.registry import get_model
from keras_kd.tuning.space import (
    ArchitectureSpace,
    Range,
    check_knob,
    non_negative_number,
    positive_int,
    positive_number,
    sample,
    unit_interval,
)

TRAINING_KNOBS = ("epochs", "batch_size")


def _network_builder(network, name):
    """A ``builder(num_classes=, block=, residual=, input_shape=)`` for a name or callable."""
    if isinstance(network, str):
        return functools.partial(get_model, network)
    if callable(network):
        return network
    raise ValueError(
        f"`{name}` must be a model name (e.g. 'wrn-16-1') or a callable "
        f"builder(num_classes, block, residual, input_shape). Received: {name}={network!r}"
    )


class StudentHyperModel(keras_tuner.HyperModel):
    """Base of the hypermodels: student architecture, optimizer and training knobs.

    Subclasses implement ``build_student(hp)`` (the deployable network,
    untrained), ``build_trainer(hp)`` (an uncompiled, built model) and
    ``deployable(model)`` (the deployable network of a trained trainer).

    Args:
        input_shape: image shape (height, width, channels) of the students.
        num_classes: classes of the students' heads.
        learning_rate: SGD learning rate knob (constant rate).
        momentum: SGD momentum knob.
        blocks, groups, group_size, bottleneck, residual: the students'
            cheap-convolution knobs (``ArchitectureSpace``).
        epochs: optional knob for ``fit``'s epochs (leave ``None`` with
            Hyperband, which schedules epochs itself).
        batch_size: optional knob for ``fit``'s batch size (array inputs; for
            a tf.data pipeline override ``fit``, as ``tuning/search.py`` does).
        name, tunable: see ``keras_tuner.HyperModel``.

    Knobs are a fixed value, a list of choices or a ``Range``
    (``keras_kd.tuning.space``).
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        learning_rate=Range(0.01, 0.2, log=True),
        momentum=0.9,
        blocks=("S", "G", "B", "BG"),
        groups=(2, 4),
        group_size=None,
        bottleneck=(2, 4),
        residual=True,
        epochs=None,
        batch_size=None,
        name=None,
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        if not positive_int(num_classes):
            raise ValueError(f"`num_classes` must be a positive int. Received: num_classes={num_classes!r}")
        check_knob(learning_rate, "learning_rate", check=positive_number)
        check_knob(momentum, "momentum", check=lambda v: unit_interval(v) and v < 1)
        check_knob(epochs, "epochs", allow_none=True, check=positive_int)
        check_knob(batch_size, "batch_size", allow_none=True, check=positive_int)
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self.learning_rate, self.momentum = learning_rate, momentum
        self.architecture = ArchitectureSpace(blocks, groups, group_size, bottleneck, residual)
        self.epochs, self.batch_size = epochs, batch_size

    def build_network(self, hp, builder):
        """A student network from ``builder`` with the architecture knobs of ``hp``.

        Raises:
            keras_tuner.errors.FailedTrialError: when the sampled block does
                not fit the network (e.g. groups that do not divide a width);
                the tuner records the trial as failed and goes on.
        """
        block, residual = self.architecture.sample(hp)
        try:
            return builder(
                num_classes=self.num_classes, block=block, residual=residual, input_shape=self.input_shape
            )
        except ValueError as error:
            raise keras_tuner.errors.FailedTrialError(
                f"Cannot build a student with block={block!r}, residual={residual}: {error}"
            ) from error

    def build_student(self, hp):
        """The deployable network for ``hp``, untrained."""
        raise NotImplementedError

    def build_trainer(self, hp):
        """The uncompiled trainer (a built ``keras.Model``) for ``hp``."""
        raise NotImplementedError

    def deployable(self, model):
        """The network to save from a trained trainer."""
        raise NotImplementedError

    def build(self, hp):
        """Builds and compiles the trainer for ``hp``."""
        model = self.build_trainer(hp)
        learning_rate = sample(hp, "learning_rate", self.learning_rate)
        momentum = sample(hp, "momentum", self.momentum)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum), metrics=["accuracy"])
        return model

    def declare_hyperparameters(self, hp):
        """Registers the training knobs before the first trial."""
        self.training_knobs(hp)

    def training_knobs(self, hp):
        """``{"epochs": e, "batch_size": b}`` for the knobs that are set."""
        knobs = {
            name: sample(hp, name, getattr(self, name)) for name in TRAINING_KNOBS if getattr(self, name) is not None
        }
        if "epochs" in knobs and "tuner/epochs" in hp.values:
            raise ValueError(f"Hyperband schedules the epochs; use epochs=None. Received: epochs={self.epochs!r}")
        return knobs

    def fit(self, hp, model, *args, **kwargs):
        """``model.fit``; the tuned ``epochs`` / ``batch_size`` replace the given ones.

        Override it to tune other training knobs; ``kwargs`` carries the
        tuner's callbacks (keep them).
        """
        return model.fit(*args, **{**kwargs, **self.training_knobs(hp)})


class HyperDistiller(StudentHyperModel):
    """Searches a ``Distiller``'s KD / AT weights and the student's cheap convs.

    The loss is ``KD(temperature, alpha)`` plus ``AttentionTransfer(beta)``
    when beta > 0 (crowley2018 eq. 1-2); the student is ``student`` built
    with the sampled block and residual switch at the teacher's input shape
    and class count. The teacher is given, trained, and stays frozen.

    Args:
        teacher: a built, trained Keras model.
        student: a model name (``"wrn-16-1"``, ``"resnet-8"``, ...) or a
            builder ``f(num_classes, block, residual, input_shape)``.
        temperature: KD temperature knob (> 0).
        alpha: KD weight knob in [0, 1]; the cross-entropy gets ``1 - alpha``.
        beta: attention-transfer weight knob (>= 0; 0 drops the term).
        **kwargs: the ``StudentHyperModel`` knobs (``learning_rate``,
            ``momentum``, ``blocks``, ``groups``, ``group_size``,
            ``bottleneck``, ``residual``, ``epochs``, ``batch_size``).

    Example:

    >>> hypermodel = HyperDistiller(teacher, "wrn-16-1", blocks=["S", "G"], groups=[2, 4])
    >>> tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy",
    ...                                  max_trials=10, directory="search")
    >>> tuner.search(train_ds, validation_data=val_ds, epochs=5)  # doctest: +SKIP
    >>> student = hypermodel.deployable(tuner.get_best_models(1)[0])  # doctest: +SKIP
    """

    def __init__(
        self,
        teacher,
        student,
        temperature=Range(1.0, 16.0, log=True),
        alpha=Range(0.5, 1.0),
        beta=(0.0, 1e3),
        **kwargs,
    ):
        if not isinstance(teacher, keras.Model) or not teacher.built:
            raise ValueError(f"`teacher` must be a built Keras model. Received: teacher={teacher!r}")
        input_shape = getattr(teacher, "input_shape_arg", None) or teacher.input_shape[1:]
        super().__init__(input_shape, logits_shape(teacher)[-1], **kwargs)
        check_knob(temperature, "temperature", check=positive_number)
        check_knob(alpha, "alpha", check=unit_interval)
        check_knob(beta, "beta", check=non_negative_number)
        self.teacher, self.student = teacher, _network_builder(student, "student")
        self.temperature, self.alpha, self.beta = temperature, alpha, beta

    def build_student(self, hp):
        """The student for ``hp``, untrained."""
        return self.build_network(hp, self.student)

    def build_trainer(self, hp):
        student = self.build_student(hp)
        losses = [KD(sample(hp, "temperature", self.temperature), sample(hp, "alpha", self.alpha))]
        beta = sample(hp, "beta", self.beta)
        if beta > 0:
            losses.append(AttentionTransfer(beta))
        return Distiller(student=student, teacher=self.teacher, losses=losses)

    def deployable(self, model):
        """The student of a trained ``Distiller``."""
        return model.student


class HyperMutual(StudentHyperModel):
    """Searches a ``MutualDistiller`` (DML / DCM) and its peers' cheap convs.

    Every peer gets the same sampled block and residual switch; the
    objective ``"val_accuracy"`` is peer 0's (``val_peer<k>_accuracy`` are
    logged too).

    Args:
        peers: two or more model names or builders (see ``HyperDistiller``).
        input_shape: image shape (height, width, channels).
        num_classes: classes of the peers' heads.
        temperature: peer-KL temperature knob (> 0; DML uses 1).
        kl_weight: peer-KL weight knob (>= 0).
        auxiliary: DCM auxiliary classifiers on / off knob (bool).
        **kwargs: the ``StudentHyperModel`` knobs.

    Example:

    >>> hypermodel = HyperMutual(["wrn-16-1", "resnet-8"], (32, 32, 3), 10,
    ...                          kl_weight=Range(0.5, 2.0), auxiliary=[False, True])
    """

    def __init__(
        self,
        peers,
        input_shape,
        num_classes,
        temperature=1.0,
        kl_weight=Range(0.5, 2.0),
        auxiliary=False,
        **kwargs,
    ):
        if not isinstance(peers, (list, tuple)) or len(peers) < 2:
            raise ValueError(f"`peers` must list two or more networks. Received: peers={peers!r}")
        super().__init__(input_shape, num_classes, **kwargs)
        check_knob(temperature, "temperature", check=positive_number)
        check_knob(kl_weight, "kl_weight", check=non_negative_number)
        check_knob(auxiliary, "auxiliary", check=lambda v: isinstance(v, bool))
        self.peers = [_network_builder(peer, f"peers[{k}]") for k, peer in enumerate(peers)]
        self.temperature, self.kl_weight, self.auxiliary = temperature, kl_weight, auxiliary

    def build_student(self, hp):
        """Peer 0 for ``hp``, untrained."""
        return self.build_network(hp, self.peers[0])

    def build_trainer(self, hp):
        peers = [self.build_network(hp, builder) for builder in self.peers]
        return MutualDistiller(
            peers,
            temperature=sample(hp, "temperature", self.temperature),
            kl_weight=sample(hp, "kl_weight", self.kl_weight),
            auxiliary=sample(hp, "auxiliary", self.auxiliary),
        )

    def deployable(self, model):
        """Peer 0 of a trained ``MutualDistiller``."""
        return model.peers[0]
