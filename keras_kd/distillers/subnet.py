"""``SubnetTrainer``: base of the trainers that train sampled subnets of one net.

GKT (tang2024), stochastic depth (Huang et al. 2016, huang2016) and stimulative
training (Ye et al. 2022, ye2022) train a residual network by running, each step,
a subnet of it (some blocks turned into the identity). They share: one
``StagedNet`` (``trainer.model`` is the network to save and deploy), a
seeded ``keras.random.SeedGenerator`` whose state is a variable (saved and
restored with the trainer), batches that are ``(images, labels)`` or
``((images, index), labels)``, and evaluation/prediction on the full net in
inference mode. Subclasses implement ``train_outputs`` (running subnets
through ``run_subnet``) and ``subnet_loss_parts``.
"""

import keras

from keras_kd.backend.skipped_gradients import give_skipped_blocks_a_zero_gradient, positions_skipped
from keras_kd.distillers.base import Trainer
from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_int

SEED_KEY = "seed_generator_state"


class SubnetTrainer(Trainer):
    """Base: holds ``model``, splits inputs, evaluates the full net.

    Args:
        model: a built ``keras_kd.models`` ``StagedNet``.
        seed: int seed of the subnet sampling (``None``: random).
    """

    networks = {"model": "trained"}
    takes_index = True

    def __init__(self, model, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.declare_networks(model=model)
        if not isinstance(model, StagedNet):
            raise ValueError(
                "`model` must be a keras_kd.models network (a StagedNet with "
                f"switchable blocks). Received: model={model!r}"
            )
        self.seed = None if seed is None else check_int(seed, "seed", low=None)
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="subnet_seed")
        self.skipped_blocks = ()

    def run_subnet(self, images, block_gates, branch_scales=None):
        """The model's training logits with ``block_gates`` (and ``branch_scales``);
        on torch, notes the blocks skipped (``loss_parts`` gives them zero gradients)."""
        self.skipped_blocks = positions_skipped(block_gates)
        return self.model(images, training=True, block_gates=block_gates, branch_scales=branch_scales)

    def loss_parts(self, x, y, y_pred, sample_weight):
        """``subnet_loss_parts``; on torch first a zero gradient for the skipped blocks
        (Keras' torch step clears gradients after the forward pass, before the loss)."""
        give_skipped_blocks_a_zero_gradient(self.model, self.skipped_blocks)
        return self.subnet_loss_parts(x, y, y_pred, sample_weight)

    def subnet_loss_parts(self, x, y, y_pred, sample_weight):
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
        config.update({"seed": self.seed})
        return config
