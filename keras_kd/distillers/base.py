"""``Trainer``: the base of every keras_kd trainer.

A trainer is a ``keras.Model`` over networks it trains or holds frozen. What
every method shares is written here once: the networks (declared by role,
checked, frozen), the split of ``(images, index)`` inputs, the supervised
loss (the compiled ``loss`` or the cross-entropy on logits), the trained
networks' regularization, named loss parts with their trackers (logged in
training, left out of ``evaluate`` / ``test_on_batch``), ``fit`` /
``evaluate`` data checks, ``summary`` lines per role, config written from
the declared networks, and ``deployable()``.

A subclass declares ``networks`` (``{attribute: "trained" | "frozen"}``, in
config order) and says only what differs:

* ``train_outputs(images, index)``: what a training step runs (a tensor of
  logits, or a dict holding ``"logits"``);
* ``loss_parts(x, y, y_pred, sample_weight)``: ``{part: (value, weight)}``,
  each part a batch mean logged under its name; the training loss is the
  weighted sum plus the regularization of the trained networks.

A method whose step is not one gradient of one loss (DML's per-peer
updates) returns its step function from ``custom_step``.
"""

import keras

from keras_kd.api import deserialize_fields, serialize
from keras_kd.backend import saved_optimizer
from keras_kd.backend.peer_steps import clear_gradients, run_stateful
from keras_kd.backend.replica_state import replica_share, replica_whole
from keras_kd.distillers.fit_checks import FitChecks
from keras_kd.distillers.logit_checks import check_compile_arguments, check_logits_model, logits_loss
from keras_kd.distillers.roles import RoleSummary
from keras_kd.distillers.taps import freeze
from keras_kd.distillers.train_logs import TrainingLogs
from keras_kd.losses.supervised import regularization_loss, supervised_loss, weighted_mean

ROLES = ("trained", "frozen")


def split_inputs(inputs):
    """``(images, index)`` from ``(images, index)`` or ``images`` (index None)."""
    if isinstance(inputs, (list, tuple)):
        if len(inputs) != 2:
            raise ValueError(
                "Inputs must be images or a pair (images, index). Received "
                f"{len(inputs)} input tensors: x={inputs!r}"
            )
        return inputs[0], inputs[1]
    return inputs, None


def as_list(networks):
    """A network or a list of networks as a list."""
    return list(networks) if isinstance(networks, (list, tuple)) else [networks]


class Trainer(RoleSummary, FitChecks, TrainingLogs, keras.Model):
    """Base of the keras_kd trainers; see the module docstring.

    Subclasses set ``networks`` and call ``declare_networks`` and
    ``track_parts`` in ``__init__``.
    """

    networks = {}
    # Whether training inputs may be ``(images, index)`` (the index given to
    # ``train_outputs``); otherwise inputs go to the networks as they are.
    takes_index = False
    # Whether ``evaluate`` computes (and logs) the loss parts too, as
    # mutual learning does; otherwise it reports the supervised loss.
    parts_in_evaluation = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.part_trackers, self.labelled_parts = {}, ()

    @property
    def input_network_attribute(self):
        return next(iter(self.networks))

    @property
    def summary_roles(self):
        return tuple(self.networks)

    def declare_networks(self, **networks):
        """Checks each network (a built logits model; lists item by item), freezes
        the frozen ones, refuses weights shared between networks, sets the attributes."""
        seen = {}
        for attribute, value in networks.items():
            role = self.networks[attribute]
            if role not in ROLES:
                raise ValueError(f"Role of `{attribute}` must be one of {ROLES}. Received: {role!r}")
            listed = as_list(value)
            for index, network in enumerate(listed):
                label = f"{attribute}[{index}]" if isinstance(value, (list, tuple)) else attribute
                check_logits_model(network, label)
                for weight in network.weights:
                    other = seen.setdefault(id(weight), label)
                    if other != label:
                        raise ValueError(
                            f"`{other}` and `{label}` share weights; each network must be a separate "
                            f"model. Received: {other}={network.name!r}"
                        )
                if role == "frozen":
                    freeze(network)
            setattr(self, attribute, listed if isinstance(value, (list, tuple)) else value)

    def held_variables(self):
        """Trainable variables of the trainer's layers it holds fixed: left out of
        ``trainable_variables`` (the optimizer's, weight decay included) and listed as non-trainable
        (an initialization stage's untrained modules, a term's modules trained in its stage only)."""
        return []

    def _without_held(self, variables):
        held = {id(v) for v in self.held_variables()}
        return [v for v in variables if id(v) not in held]

    def _with_held(self, variables):
        listed = {id(v) for v in variables}
        return variables + [v for v in self.held_variables() if v.trainable and id(v) not in listed]

    @property
    def trainable_variables(self):
        return self._without_held(super().trainable_variables)

    @property
    def trainable_weights(self):
        return self._without_held(super().trainable_weights)

    @property
    def non_trainable_variables(self):
        return self._with_held(super().non_trainable_variables)

    @property
    def non_trainable_weights(self):
        return self._with_held(super().non_trainable_weights)

    def trained_networks(self):
        """The networks whose weights the trainer trains."""
        return [n for a, role in self.networks.items() if role == "trained" for n in as_list(getattr(self, a))]

    def deployable(self):
        """The network to save and deploy: the first trained one (a subclass may say otherwise)."""
        return self.trained_networks()[0]

    def track_parts(self, names, labelled=()):
        """Creates one ``keras.metrics.Mean`` per loss part, logged in training;
        parts in ``labelled`` are computed from labels (not logged on unlabeled data)."""
        if len(set(names)) != len(names):
            raise ValueError(f"Loss parts need distinct names. Received: names={list(names)}")
        self.part_trackers = {name: keras.metrics.Mean(name=name) for name in names}
        self.labelled_parts = tuple(labelled)

    @property
    def training_trackers(self):
        if self.parts_in_evaluation:
            return ()
        return tuple(self.part_trackers.values())

    def compile(self, optimizer="rmsprop", loss=None, *args, **kwargs):
        """``keras.Model.compile``; a cross-entropy ``loss`` name is resolved with
        ``from_logits=True`` (every network outputs logits)."""
        check_compile_arguments(kwargs)
        super().compile(optimizer, logits_loss(loss), *args, **kwargs)

    def compile_from_config(self, config):
        """Re-compiles a loaded trainer (Keras skips models whose ``compile`` is
        overridden): optimizer, its variables and the compiled metrics. A built-in
        optimizer saved on another backend becomes this backend's
        (``keras_kd.backend.saved_optimizer``). ``jit_compile`` is this backend's
        default (``"auto"``), not the saved value: it is a choice about the backend
        that saved the file (JAX saves ``True``, which on torch means ``torch.compile``);
        call ``compile`` again to choose."""
        config = {**saved_optimizer.portable(config), "jit_compile": "auto"}
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=None):
        """Training: what ``train_outputs`` runs; otherwise the deployable's logits."""
        images, index = split_inputs(inputs) if self.takes_index else (inputs, None)
        if not training:
            return self.inference_logits(images, training)
        return self.train_outputs(images, index)

    def inference_logits(self, images, training=None):
        return self.deployable()(images, training=training)

    def train_outputs(self, images, index):
        raise NotImplementedError

    def loss_parts(self, x, y, y_pred, sample_weight):
        raise NotImplementedError

    def supervised_loss(self, y, logits, sample_weight):
        """The compiled ``loss`` on ``logits``, else their cross-entropy; batch mean."""
        if self._compile_loss is not None:  # Keras' losses divide by the replicas: whole again, as every part
            return replica_whole(self._compile_loss(y, logits, sample_weight))
        return weighted_mean(supervised_loss(y, logits), sample_weight)

    def regularization(self, networks=None):
        """Sum of the regularization losses of ``networks`` (default: the trained ones)."""
        return sum((regularization_loss(n) for n in networks or self.trained_networks()), 0.0)

    def add_parts(self, parts, batch):
        """Logs each ``{part: (value, weight)}`` that has a tracker (``track_parts``), weighing the batch by
        its size as Keras' loss tracker does (the epoch's value is the mean over examples, also with a
        smaller or zero-weight-padded last batch: ``keras_kd.data.batching``), and returns their weighted
        sum. ``batch``: a tensor with the batch axis first."""
        total, examples = 0.0, keras.ops.shape(batch)[0]
        for name, (value, weight) in parts.items():
            if name in self.part_trackers:
                self.part_trackers[name].update_state(value, sample_weight=examples)
            total = total + weight * value
        return total

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The batch loss, each replica's share of it under ``tf.distribute`` (``replica_share``)."""
        if training or self.parts_in_evaluation:
            parts = self.loss_parts(x, y, y_pred, sample_weight)
            return replica_share(self.add_parts(parts, keras.tree.flatten(x)[0]) + self.regularization())
        logits = self.metric_logits(y_pred)
        supervised = 0.0 if y is None else self.supervised_loss(y, logits, sample_weight)
        return replica_share(supervised + self.regularization())

    def metric_logits(self, y_pred):
        """The logits compiled metrics see: ``y_pred["logits"]`` of a dict."""
        return y_pred["logits"] if isinstance(y_pred, dict) else y_pred

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y is None:  # unlabeled data: the loss and its parts, no label metrics
            unlabeled = [m for name, m in self.part_trackers.items() if name not in self.labelled_parts]
            return {m.name: m.result() for m in [self._loss_tracker, *unlabeled]}
        return super().compute_metrics(x, y, self.metric_logits(y_pred), sample_weight)

    def custom_step(self):
        """A step function ``step(data) -> logs`` replacing Keras' one-gradient step, or None."""
        return None

    def train_step(self, *args):
        """Keras' step, or ``custom_step``'s (JAX: ``train_step(state, data)``). On
        torch every trained variable's ``.grad`` is cleared first: Keras' own
        clearing misses variables whose paths collide (two networks whose layers
        share names)."""
        clear_gradients(self.trainable_variables)
        step = self.custom_step()
        if step is None:
            return super().train_step(*args)
        return run_stateful(self, step, args)

    def get_config(self):
        config = super().get_config()
        config.update({attribute: serialize(getattr(self, attribute)) for attribute in self.networks})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_fields(config, tuple(cls.networks)))
