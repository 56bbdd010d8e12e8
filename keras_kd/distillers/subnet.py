"""``SubnetTrainer``: base of the trainers that train sampled subnets of one net.

GKT (tang2024), stochastic depth (Huang et al. 2016, huang2016) and stimulative
training (Ye et al. 2022, ye2022) train a residual network by running, each step,
a subnet of it (some blocks turned into the identity). They share: one
``StagedNet`` (``trainer.model`` is the network to save and deploy), a
seeded ``keras.random.SeedGenerator`` whose state is a variable (saved and
restored with the trainer), batches that are ``(images, labels)`` or
``((images, index), labels)``, and evaluation/prediction on the full net in
inference mode. Subclasses implement ``train_call`` (running subnets
through ``run_subnet``) and ``train_loss``.
"""

import keras

from keras_kd.api import deserialize_fields, serialize
from keras_kd.distillers.fit_checks import FitChecks
from keras_kd.distillers.logit_checks import check_logits_model
from keras_kd.distillers.roles import RoleSummary
from keras_kd.distillers.train_logs import TrainingLogs
from keras_kd.losses.supervised import regularization_loss, supervised_loss, weighted_mean
from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_int

SEED_KEY = "seed_generator_state"


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


def positions_skipped(gates):
    """torch: positions of the blocks whose gate is off this step (else ``()``)."""
    if keras.backend.backend() != "torch" or gates is None:
        return ()
    return tuple(i for i, gate in enumerate(gates) if gate is not None and not bool(gate))


def give_skipped_blocks_a_zero_gradient(model, skipped):
    """torch: a zero ``.grad`` for the weights of ``model``'s blocks ``skipped``.

    Keras' torch step clears the gradients (to ``None``) before the loss and
    accumulates into existing ones in ``backward``, so a skipped block's
    weights end with a zero gradient, as on TensorFlow (``cond``) and JAX
    (mask), instead of none: the optimizer then updates them alike on every
    backend (momentum and weight decay still move them)."""
    if not skipped:
        return
    import torch

    for position in skipped:
        for variable in model.blocks[position].trainable_variables:
            if variable.value.grad is None:
                variable.value.grad = torch.zeros_like(variable.value)


class SubnetTrainer(RoleSummary, FitChecks, TrainingLogs, keras.Model):
    """Base: holds ``model``, splits inputs, evaluates the full net.

    Args:
        model: a built ``keras_kd.models`` ``StagedNet``.
        seed: int seed of the subnet sampling (``None``: random).
    """

    input_network_attribute = "model"
    summary_roles = ("model",)

    def __init__(self, model, seed=None, **kwargs):
        super().__init__(**kwargs)
        check_logits_model(model, "model")
        if not isinstance(model, StagedNet):
            raise ValueError(
                "`model` must be a keras_kd.models network (a StagedNet with "
                f"switchable blocks). Received: model={model!r}"
            )
        seed = None if seed is None else check_int(seed, "seed", low=None)
        self.model, self.seed = model, seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="subnet_seed")
        self.skipped_blocks = ()

    def call(self, inputs, training=None):
        """Training: the method's outputs; otherwise the full net's logits."""
        images, index = split_inputs(inputs)
        if not training:
            return self.model(images, training=training)
        return self.train_call(images, index)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not training:
            return self.supervised(x, y, y_pred, sample_weight, training)
        give_skipped_blocks_a_zero_gradient(self.model, self.skipped_blocks)
        return self.train_loss(x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Compiled metrics on ``y_pred["logits"]`` when the step returns a dict."""
        logits = y_pred["logits"] if isinstance(y_pred, dict) else y_pred
        return super().compute_metrics(x, y, logits, sample_weight)

    def supervised(self, x, y, logits, sample_weight, training=True):
        """Batch cross-entropy of ``logits`` (or the compiled ``loss``) plus regularization."""
        if self._compile_loss is not None:
            return super().compute_loss(x, y, logits, sample_weight, training)
        return weighted_mean(supervised_loss(y, logits), sample_weight) + regularization_loss(self.model)

    def run_subnet(self, images, block_gates, branch_scales=None):
        """The model's training logits with ``block_gates`` (and ``branch_scales``);
        on torch, notes the blocks skipped (``compute_loss`` gives them zero gradients)."""
        self.skipped_blocks = positions_skipped(block_gates)
        return self.model(images, training=True, block_gates=block_gates, branch_scales=branch_scales)

    def train_call(self, images, index):
        raise NotImplementedError

    def train_loss(self, x, y, y_pred, sample_weight):
        raise NotImplementedError

    def save_own_variables(self, store):
        """Also saves the sampling RNG state (Keras saves no SeedGenerator state)."""
        super().save_own_variables(store)
        store[SEED_KEY] = self.seed_generator.state

    def load_own_variables(self, store):
        self.seed_generator.state.assign(store[SEED_KEY])
        super().load_own_variables({key: store[key] for key in store.keys() if key != SEED_KEY})

    def get_config(self):
        config = super().get_config()
        config.update({"model": serialize(self.model), "seed": self.seed})
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_fields(config, ("model",)))
