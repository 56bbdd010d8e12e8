"""KerasTuner hypermodels for the distillers: ``HyperDistiller``, ``HyperMutual``.

``build(hp)`` samples the knobs, builds the student network(s) and the
trainer, and compiles it with the sampled optimizer (``keras_kd.optimizers.SGD``
by default) and the ``"accuracy"`` metric of the student (peer 0 for mutual
learning), so the objective is ``"val_accuracy"`` on the ``validation_data``
given to ``tuner.search``. Tune on a split carved from train
(``keras_kd.data.load(source, "validation")``), never on test.

A student (or peer) is a zoo model name, a ``keras.Model`` (cloned with fresh
weights for every trial) or a builder; only the knobs it can take are
searched (``NetworkSource``).

The trainers are built inside ``build(hp)`` (they come out built), so
``tuner.get_best_models()`` can load their checkpoints.
"""

import functools
import inspect

import keras
import keras_tuner

from keras_kd.distillers.distiller import Distiller
from keras_kd.distillers.mutual import MutualDistiller
from keras_kd.distillers.taps import TapExtractor, check_built_model, logits_shape
from keras_kd.losses.attention import AttentionTransfer
from keras_kd.losses.kd import KD
from keras_kd.losses.registry import get as get_term
from keras_kd.losses.registry import names as term_names
from keras_kd.models.auxiliary import dcm_heads
from keras_kd.models.deploy import image_shape, shapes_agree
from keras_kd.models.profile import profile
from keras_kd.models.registry import get_model
from keras_kd.models.staged import is_extra_tap
from keras_kd.optimizers import SGD
from keras_kd.tuning.space import (
    ArchitectureSpace,
    Default,
    Range,
    check_knob,
    knob_values,
    is_positive_int,
    non_negative_number,
    positive_number,
    sample,
    unit_interval,
    unwrap,
)
from keras_kd.validation import check_int

TRAINING_KNOBS = ("epochs", "batch_size")
BUILDER_ARGUMENTS = ("num_classes", "input_shape", "block", "residual")
# Each architecture knob and the builder argument it feeds.
ARCHITECTURE_KNOBS = {"blocks": "block", "groups": "block", "group_size": "block", "bottleneck": "block",
                      "residual": "residual"}
OPTIMIZERS = ("sgd", "adam", "adamw")
WEIGHT_DECAY_OPTIMIZERS = ("sgd", "adamw")
AT_BETA = (0.0, 1e3)


def feature_taps(model):
    """The feature-map taps a built model offers without naming layers (a zoo model's stages)."""
    return [name for name, shape in TapExtractor(model).tap_shapes.items()
            if len(shape) == 4 and not is_extra_tap(name)]


def builder_arguments(builder, name):
    """The names among ``BUILDER_ARGUMENTS`` that ``builder`` takes (all for ``**kwargs``).

    Raises:
        ValueError: if the signature cannot be read or needs another argument.
    """
    try:
        parameters = list(inspect.signature(builder).parameters.values())
    except (TypeError, ValueError) as error:
        raise ValueError(f"Cannot read the signature of the builder `{name}`. Received: {name}={builder!r}") from error
    if any(p.kind is p.VAR_KEYWORD for p in parameters):
        return frozenset(BUILDER_ARGUMENTS)
    by_keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    taken = frozenset(p.name for p in parameters if p.kind in by_keyword and p.name in BUILDER_ARGUMENTS)
    required = [
        p.name for p in parameters
        if p.default is p.empty and p.kind is not p.VAR_POSITIONAL and p.name not in taken
    ]
    if required:
        raise ValueError(
            f"The builder `{name}` requires argument(s) {required}; the hypermodel passes only those of "
            f"{list(BUILDER_ARGUMENTS)} it takes, by keyword (bind the others with functools.partial). "
            f"Received: {name}={builder!r}"
        )
    return taken


class NetworkSource:
    """Where a hypermodel gets a fresh network for each trial.

    Args:
        network: a zoo model name (``keras_kd.models.get_model``; takes every
            architecture knob), a built ``keras.Model`` (cloned with
            ``keras.models.clone_model``, fresh weights, for each trial; the
            given instance is never trained; takes no knob), or a builder
            called with the keyword arguments it takes among ``num_classes``,
            ``input_shape``, ``block`` and ``residual``.
        name: the argument's name for errors (``"student"``, ``"peers[1]"``).
        input_shape: the image shape the network must take.
        num_classes: the classes the network must predict.

    Raises:
        ValueError: for anything else, a model of other classes or input
            shape, a model that cannot be cloned, or a builder that needs
            other arguments.
    """

    def __init__(self, network, name, input_shape, num_classes):
        self.network, self.name, self.model = network, name, None
        if isinstance(network, str):
            self.builder, self.arguments, self.kind = functools.partial(get_model, network), BUILDER_ARGUMENTS, "name"
        elif isinstance(network, keras.Model):
            self._check_model(network, input_shape, num_classes)
            self.model, self.builder, self.arguments, self.kind = network, None, frozenset(), "model"
        elif callable(network):
            self.builder, self.arguments, self.kind = network, builder_arguments(network, name), "builder"
        else:
            raise ValueError(
                f"`{name}` must be a model name (e.g. 'wrn-16-1'), a built keras.Model or a builder "
                f"(a callable taking some of {list(BUILDER_ARGUMENTS)}). Received: {name}={network!r}"
            )

    def _check_model(self, model, input_shape, num_classes):
        check_built_model(model, self.name)
        received = f"Received: {self.name}={model.name!r}"
        shape = image_shape(model)
        if shape is None:
            raise ValueError(
                f"`{self.name}` needs a known input shape (a functional or Sequential model with a keras.Input, "
                f"or a zoo model). {received}"
            )
        classes = logits_shape(model)[-1]
        if classes != num_classes or not shapes_agree(shape, input_shape):
            raise ValueError(
                f"`{self.name}` must take inputs of shape {tuple(input_shape)} and predict {num_classes} classes "
                f"(the teacher's, or HyperMutual's input_shape and num_classes); it takes {shape} and predicts "
                f"{classes}. {received}"
            )
        instead = f"pass a builder that returns a new model instead. {received}"
        try:
            clone = keras.models.clone_model(model)
        except (NotImplementedError, TypeError, ValueError) as error:
            raise ValueError(f"`{self.name}` cannot be cloned for each trial ({error}); {instead}") from error
        if not clone.built:
            raise ValueError(f"The clone of `{self.name}` (keras.models.clone_model) is not built; {instead}")

    def takes(self, argument):
        """Whether the network takes builder argument ``argument`` (``"block"``, ...)."""
        return argument in self.arguments

    def why_not(self, argument):
        """Why the network does not take ``argument``, for errors."""
        if self.kind == "model":
            return f"`{self.name}` is a keras.Model, cloned as it is"
        return f"the builder `{self.name}` takes no `{argument}` argument"

    def has_taps(self):
        """Whether the network offers feature taps; ``None`` for a builder (known once built)."""
        if self.kind == "builder":
            return None
        return self.kind == "name" or bool(feature_taps(self.model))

    def __call__(self, **arguments):
        """A new, untrained network; ``arguments`` it does not take are dropped."""
        if self.model is not None:
            return keras.models.clone_model(self.model)
        return self.builder(**{key: value for key, value in arguments.items() if key in self.arguments})


class StudentHyperModel(keras_tuner.HyperModel):
    """Base of the hypermodels: student architecture, optimizer and training knobs.

    Subclasses implement ``build_student(hp)`` (the deployable network,
    untrained), ``build_trainer(hp)`` (an uncompiled, built model) and
    ``deployable(model)`` (the deployable network of a trained trainer).

    Args:
        networks: ``{argument name: network}``, each network as
            ``NetworkSource`` takes it.
        input_shape: image shape (height, width, channels) of the students.
        num_classes: classes of the students' heads.
        optimizer: optimizer knob among ``"sgd"`` (``keras_kd.optimizers.SGD``,
            torch's rule as in the papers), ``"adam"`` and ``"adamw"``
            (``keras.optimizers.Adam`` / ``AdamW``).
        learning_rate: learning-rate knob (constant rate).
        momentum: SGD momentum knob; searched only where the optimizer is
            ``"sgd"``.
        weight_decay: weight-decay knob (>= 0) of ``"sgd"`` (coupled, added to
            the gradient as in ``torch.optim.SGD``) and ``"adamw"``
            (decoupled, Keras' rule); ``"adam"`` has none (use ``"adamw"``).
        blocks: a cheap-convolution knob of the students (``ArchitectureSpace``),
            as are ``groups``, ``group_size``, ``bottleneck`` and ``residual``.
            The first four apply to networks that take ``block`` (zoo names,
            builders with a ``block`` argument), ``residual`` to those that
            take ``residual``; left at their defaults they are not searched
            otherwise, and set explicitly they raise.
        groups: see ``blocks``.
        group_size: see ``blocks``.
        bottleneck: see ``blocks``.
        residual: see ``blocks``.
        epochs: optional knob for ``fit``'s epochs (leave ``None`` with
            Hyperband, which schedules epochs itself).
        batch_size: optional knob for ``fit``'s batch size (array inputs; for
            a tf.data pipeline override ``fit``, as ``tuning/search.py`` does).
        name: see ``keras_tuner.HyperModel``.
        tunable: see ``keras_tuner.HyperModel``.

    Knobs are a fixed value, a list of choices or a ``Range``
    (``keras_kd.tuning.space``). A knob set explicitly that no network or
    chosen optimizer can use is a ``ValueError``.
    """

    def __init__(
        self,
        networks,
        input_shape,
        num_classes,
        optimizer="sgd",
        learning_rate=Range(0.01, 0.2, log=True),
        momentum=Default(0.9),
        weight_decay=Default(0.0),
        blocks=Default(("S", "G", "B", "BG")),
        groups=Default((2, 4)),
        group_size=Default(None),
        bottleneck=Default((2, 4)),
        residual=Default(True),
        epochs=None,
        batch_size=None,
        name=None,
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        num_classes = check_int(num_classes, "num_classes")
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
            raise ValueError(f"`input_shape` must be (height, width, channels). Received: input_shape={input_shape!r}")
        check_knob(optimizer, "optimizer", check=lambda v: isinstance(v, str) and v in OPTIMIZERS, expected=OPTIMIZERS)
        check_knob(learning_rate, "learning_rate", check=positive_number)
        self.optimizer, self.learning_rate = optimizer, learning_rate
        self.momentum = self._optimizer_knob(momentum, "momentum", ("sgd",), lambda v: unit_interval(v) and v < 1)
        self.weight_decay = self._optimizer_knob(
            weight_decay, "weight_decay", WEIGHT_DECAY_OPTIMIZERS, non_negative_number, hint=" ('adam' has none)"
        )
        check_knob(epochs, "epochs", allow_none=True, check=is_positive_int)
        check_knob(batch_size, "batch_size", allow_none=True, check=is_positive_int)
        self.input_shape, self.num_classes = tuple(input_shape), num_classes
        self.networks = [
            NetworkSource(network, argument, self.input_shape, num_classes) for argument, network in networks.items()
        ]
        knobs = dict(blocks=blocks, groups=groups, group_size=group_size, bottleneck=bottleneck, residual=residual)
        self.architecture = ArchitectureSpace(
            **{knob_name: self._architecture_knob(knob_name, knob) for knob_name, knob in knobs.items()}
        )
        self.epochs, self.batch_size = epochs, batch_size

    def _optimizer_knob(self, knob, name, optimizers, check, hint=""):
        """The knob's value; ValueError if set explicitly though no chosen optimizer uses it."""
        value, explicit = unwrap(knob)
        check_knob(value, name, check=check)
        if explicit and not set(knob_values(self.optimizer)) & set(optimizers):
            raise ValueError(
                f"`{name}` applies only to optimizer {' or '.join(map(repr, optimizers))}{hint}. "
                f"Received: {name}={value!r}, optimizer={self.optimizer!r}"
            )
        return value

    def _architecture_knob(self, name, knob):
        """The knob's value if some network takes it, else None; ValueError if set explicitly."""
        value, explicit = unwrap(knob)
        argument = ARCHITECTURE_KNOBS[name]
        if any(network.takes(argument) for network in self.networks):
            return value
        if explicit and value is not None:
            reasons = "; ".join(network.why_not(argument) for network in self.networks)
            raise ValueError(f"`{name}` cannot apply: {reasons}. Received: {name}={value!r}")
        return None

    def build_network(self, hp, network):
        """A network from ``network`` (a ``NetworkSource``) with the architecture knobs of ``hp``.

        Raises:
            keras_tuner.errors.FailedTrialError: when the sampled block does
                not fit the network (e.g. groups that do not divide a width);
                the tuner records the trial as failed and goes on.
        """
        block, residual = self.architecture.sample(hp)
        arguments = dict(num_classes=self.num_classes, input_shape=self.input_shape, block=block, residual=residual)
        try:
            return network(**{key: value for key, value in arguments.items() if value is not None})
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

    def costs(self, student):
        """What ``trial_records`` records of a trial's student: ``keras_kd.models.profile(student)``.

        Args:
            student: the deployable network of a trial (``build_student(hp)``).
        """
        return profile(student)

    def build(self, hp):
        """Builds and compiles the trainer for ``hp``."""
        model = self.build_trainer(hp)
        model.compile(optimizer=self.build_optimizer(hp), metrics=["accuracy"])
        return model

    def build_optimizer(self, hp):
        """The optimizer for ``hp``; ``momentum`` and ``weight_decay`` are active
        only for the optimizers that use them."""
        name = sample(hp, "optimizer", self.optimizer)
        learning_rate = sample(hp, "learning_rate", self.learning_rate)
        momentum = weight_decay = None
        choices = knob_values(self.optimizer)
        if "sgd" in choices:
            with hp.conditional_scope("optimizer", ["sgd"]):
                momentum = sample(hp, "momentum", self.momentum)
        decaying = [choice for choice in WEIGHT_DECAY_OPTIMIZERS if choice in choices]
        if decaying:
            with hp.conditional_scope("optimizer", decaying):
                weight_decay = sample(hp, "weight_decay", self.weight_decay)
        if name == "sgd":
            return SGD(learning_rate, momentum=momentum, weight_decay=weight_decay)
        if name == "adamw":
            return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
        return keras.optimizers.Adam(learning_rate)

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
    when beta > 0 (crowley2018 eq. 1-2); the student is built from
    ``student`` with the sampled knobs at the teacher's input shape and class
    count. The teacher is given, trained, and stays frozen.

    Args:
        teacher: a built, trained Keras model.
        student: a zoo model name (``"wrn-16-1"``, ``"resnet-8"``, ...), a
            built ``keras.Model`` (cloned, fresh weights, for each trial) or a
            builder taking some of ``num_classes``, ``block``, ``residual``,
            ``input_shape`` (see ``NetworkSource``).
        temperature: KD temperature knob (> 0).
        alpha: KD weight knob in [0, 1]; the cross-entropy gets ``1 - alpha``.
        beta: attention-transfer weight knob (>= 0; 0 drops the term). AT
            matches feature taps by name, which zoo models offer
            (``stage1..``). Default: ``[0, 1e3]`` where both networks have
            taps, else fixed 0 (a builder's student is looked at once
            built); beta > 0 with a network without taps is a ``ValueError``.
        methods: ``None``, or ``{term name: {argument: knob}}`` (names of
            ``keras_kd.losses.names()``): each trial adds one of these terms,
            the ``"method"`` hyperparameter, built by
            ``keras_kd.losses.get(name, **arguments)`` with its knobs sampled as
            ``"<name>_<argument>"`` (active only when the method is chosen), e.g.
            ``{"pkt": {"weight": Range(1e3, 1e5, log=True)}, "dkd": {"beta": [4.0, 8.0]},
            "rkd": {}}``. With RepDistiller's protocol (other methods without KD)
            pass ``alpha=0.0``.
        **kwargs: the ``StudentHyperModel`` knobs (``optimizer``,
            ``learning_rate``, ``momentum``, ``weight_decay``, ``blocks``,
            ``groups``, ``group_size``, ``bottleneck``, ``residual``,
            ``epochs``, ``batch_size``).

    Example:

    >>> teacher = kd.models.get_model("wrn-40-2", num_classes=10)  # yours, trained
    >>> hypermodel = HyperDistiller(teacher, "wrn-16-1", blocks=["S", "G"], groups=[2, 4])
    >>> tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy",  # doctest: +SKIP
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
        beta=Default(AT_BETA),
        methods=None,
        **kwargs,
    ):
        check_built_model(teacher, "teacher")
        input_shape = image_shape(teacher)
        if input_shape is None:
            raise ValueError(f"`teacher` needs a known input shape. Received: teacher={teacher.name!r}")
        super().__init__({"student": student}, input_shape, logits_shape(teacher)[-1], **kwargs)
        check_knob(temperature, "temperature", check=positive_number)
        check_knob(alpha, "alpha", check=unit_interval)
        (self.student,) = self.networks
        self.teacher, self.temperature, self.alpha = teacher, temperature, alpha
        self.beta = self._beta(beta)
        self.methods = check_methods(methods)

    def _beta(self, knob):
        """The beta knob, or None for the default of a builder's student (set per trial)."""
        value, explicit = unwrap(knob)
        check_knob(value, "beta", check=non_negative_number)
        taps = {"teacher": bool(feature_taps(self.teacher)), "student": self.student.has_taps()}
        lacking = [network for network, has_taps in taps.items() if has_taps is False]
        if not explicit:
            return 0.0 if lacking else (value if taps["student"] else None)
        if lacking and max(knob_values(value)) > 0:
            raise ValueError(
                f"`beta` > 0 adds attention transfer, which needs feature taps, and the {' and the '.join(lacking)} "
                f"{'have' if len(lacking) > 1 else 'has'} none (zoo models, keras_kd.models, offer stage1..stageN). "
                "For your own models use "
                "keras_kd.Distiller with keras_kd.losses.AttentionTransfer(taps={'student_layer': "
                f"'teacher_layer'}}), or beta=0. Received: beta={value!r}"
            )
        return value

    def build_student(self, hp):
        """The student for ``hp``, untrained."""
        return self.build_network(hp, self.student)

    def build_trainer(self, hp):
        student = self.build_student(hp)
        losses = [KD(sample(hp, "temperature", self.temperature), sample(hp, "alpha", self.alpha))]
        beta = self.beta
        if beta is None:  # the default for a builder's student: AT if it has taps
            check_built_model(student, "student")
            beta = AT_BETA if feature_taps(student) else 0.0
        beta = sample(hp, "beta", beta)
        if beta > 0:
            losses.append(AttentionTransfer(beta))
        if self.methods:
            losses.append(sample_method(hp, self.methods))
        return Distiller(student=student, teacher=self.teacher, losses=losses)

    def deployable(self, model):
        """The student of a trained ``Distiller``."""
        return model.student


def check_methods(methods):
    """``methods`` as ``{name: {argument: knob}}``; raises naming ``methods`` unless every name is a term of
    ``keras_kd.losses`` that takes its arguments at the knobs' values."""
    if methods is None:
        return {}
    if not isinstance(methods, dict) or not methods or not all(isinstance(a, dict) for a in methods.values()):
        raise ValueError("`methods` must map term names to {argument: knob} dicts, e.g. {'pkt': {'weight': "
                         f"[1e3, 3e4]}}. Received: methods={methods!r}")
    for name, arguments in methods.items():
        if name in ("kd", "at"):
            raise ValueError(f"`methods` cannot add {name!r}: HyperDistiller searches KD and AT by its temperature, "
                             f"alpha and beta knobs. Received: methods={methods!r}")
        if name not in term_names():
            raise ValueError(f"`methods` names an unknown term {name!r}; terms: {term_names()}. "
                             f"Received: methods={methods!r}")
        for argument, knob in arguments.items():
            check_knob(knob, f"methods[{name!r}][{argument!r}]", check=_scalar)
        for values in _corner_values(arguments):
            try:
                method = get_term(name, **values)
            except (TypeError, ValueError) as error:
                raise ValueError(f"`methods` gives term {name!r} arguments it refuses ({error}). "
                                 f"Received: methods={methods!r}") from None
            if method.student_loss_weight() is not None:
                raise ValueError(
                    f"`methods` cannot add {name!r}: it implies its own cross-entropy weight "
                    f"({method.student_loss_weight()}), which the searched KD's 1 - alpha would override; train it "
                    f"with keras_kd.Distiller(losses=[...]). Received: methods={methods!r}")
            if method.needs_index:
                raise ValueError(
                    f"`methods` cannot add {name!r}: it reads each example's index, so its trials would need "
                    "((images, index), labels) batches that the other methods refuse; train it with "
                    f"keras_kd.Distiller(losses=[...]). Received: methods={methods!r}")
    return methods


def _scalar(value):
    """A knob value ``methods`` can pass: a number, a string or a bool (a list is a choice of them)."""
    return isinstance(value, (int, float, str, bool))


def _corner_values(arguments):
    """One ``{argument: value}`` per value any knob can take (the others at their first)."""
    first = {argument: knob_values(knob)[0] for argument, knob in arguments.items()}
    yield first
    for argument, knob in arguments.items():
        for value in knob_values(knob)[1:]:
            yield {**first, argument: value}


def sample_method(hp, methods):
    """The term of the ``"method"`` hyperparameter, its arguments sampled under its conditional scope."""
    name = sample(hp, "method", list(methods))
    arguments = {}
    for method, knobs in methods.items():
        with hp.conditional_scope("method", [method]):
            values = {argument: sample(hp, f"{method}_{argument}", knob) for argument, knob in knobs.items()}
        if method == name:
            arguments = values
    return get_term(name, **arguments)


class HyperMutual(StudentHyperModel):
    """Searches a ``MutualDistiller`` (DML / DCM) and its peers' cheap convs.

    Every peer that takes the architecture knobs gets the same sampled block
    and residual switch; the objective ``"val_accuracy"`` is peer 0's
    (``val_peer<k>_accuracy`` are logged too).

    Args:
        peers: two or more model names, built models or builders (see
            ``HyperDistiller``'s ``student``).
        input_shape: image shape (height, width, channels).
        num_classes: classes of the peers' heads.
        temperature: peer-KL temperature knob (> 0; DML uses 1).
        kl_weight: peer-KL weight knob (>= 0).
        auxiliary: DCM auxiliary classifiers on / off knob (bool); ``True``
            needs peers DCM defines heads for (``keras_kd.models.dcm_heads``).
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
        super().__init__({f"peers[{k}]": peer for k, peer in enumerate(peers)}, input_shape, num_classes, **kwargs)
        check_knob(temperature, "temperature", check=positive_number)
        check_knob(kl_weight, "kl_weight", check=non_negative_number)
        check_knob(auxiliary, "auxiliary", check=lambda v: isinstance(v, bool))
        if True in knob_values(auxiliary):
            for peer in self.networks:
                if peer.model is not None:
                    self._check_dcm_heads(peer, auxiliary)
        self.peers = self.networks
        self.temperature, self.kl_weight, self.auxiliary = temperature, kl_weight, auxiliary

    @staticmethod
    def _check_dcm_heads(peer, auxiliary):
        try:
            dcm_heads(peer.model)
        except ValueError as error:
            raise ValueError(
                f"`auxiliary` needs DCM heads on `{peer.name}`: {error}. Received: auxiliary={auxiliary!r}"
            ) from error

    def build_student(self, hp):
        """Peer 0 for ``hp``, untrained."""
        return self.build_network(hp, self.peers[0])

    def build_trainer(self, hp):
        peers = [self.build_network(hp, peer) for peer in self.peers]
        return MutualDistiller(
            peers,
            temperature=sample(hp, "temperature", self.temperature),
            kl_weight=sample(hp, "kl_weight", self.kl_weight),
            auxiliary=sample(hp, "auxiliary", self.auxiliary),
        )

    def deployable(self, model):
        """Peer 0 of a trained ``MutualDistiller``."""
        return model.peers[0]
