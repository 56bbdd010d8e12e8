"""``StochasticDepth``: the stochastic-depth baseline of tang2024 (Huang et al. 2016, huang2016).

Each training step, residual block l of L survives with probability

    p_l = 1 - (l / L) * (1 - p_L)        (Huang et al. 2016, §3, linear decay)

(linear decay from p_0 = 1 at the input to ``final_survival`` = p_L at the
last block), drawn independently per block and per step; a dropped block
is the identity. The loss is the cross-entropy of that subnet (tang2024
Eq. 8).

Inverted scaling (where this departs from the paper's code): Huang et al.
train ``x + b_l * f_l(x)`` (``b_l`` ~ Bernoulli(p_l)) and evaluate
``x + p_l * f_l(x)``. Here a surviving block's residual branch is scaled
by ``1 / p_l`` while training and evaluation runs the unchanged net, as
torchvision's ``StochasticDepth`` and timm's ``DropPath`` do. The two are
the same model up to reparametrization: every branch ends in a linear op
(the last BatchNorm of a post-activation block, the last conv of a
pre-activation one), so ``p_l * f_l`` with weights ``w`` is ``f_l`` with
those weights scaled by ``p_l``; only the optimizer's steps and weight
decay on those weights differ. What is gained: ``trainer.model`` is an
ordinary zoo network that saves, loads and deploys with no eval scale.
"""

import keras
import numpy as np
from keras import ops

from keras_kd.api import register
from keras_kd.distillers.subnet import SubnetTrainer
from keras_kd.validation import check_number


def survival_probabilities(model, final_survival):
    """Huang et al.'s (huang2016) linear-decay p_l per block of ``model``; 1 where a block cannot be skipped.

    Args:
        model: a ``StagedNet``; blocks count l = 1..L in call order.
        final_survival: p_L, the survival probability of the last block.
    """
    if not any(model.skippable):
        raise ValueError(
            f"Stochastic depth drops blocks that keep their input's shape; model {model.name!r} has none (a VGG, "
            f"or every block changes its input's shape): training it would be plain training. Received: "
            f"model={model.name!r}"
        )
    depth = len(model.blocks)
    linear = 1.0 - np.arange(1, depth + 1) / depth * (1.0 - final_survival)
    return np.where(model.skippable, linear, 1.0)


@register
class StochasticDepth(SubnetTrainer):
    """Stochastic depth (Huang et al. 2016, huang2016; tang2024 Eq. 8), a GKT baseline.

    Args:
        model: a built ``keras_kd.models`` network (``StagedNet``), trained
            in place; ``trainer.model`` is what to save.
        final_survival: p_L, survival probability of the last block (Huang
            et al.: 0.5 on CIFAR ResNet-110; tang2024's baseline: 0.8).
        seed: int seed of the per-step draws (``None``: random).

    Choices: survival follows the linear rule over all blocks in order, but
    a block that changes the shape of its input always runs (unscaled);
    a dropped block's BatchNorm statistics are untouched; surviving blocks
    are scaled by ``1 / p_l`` in training so evaluation, prediction and
    export use the full net unchanged (module docstring). On JAX the skip is
    a mask (``keras_kd.layers.skip``): every block is computed and no time is saved.
    Batches may carry an index (``((images, index), labels)``); it is
    ignored. Compiled metrics are on the sampled subnet while training.

    Example:

    >>> sd = StochasticDepth(kd.models.cifar_resnet(110, 10), final_survival=0.5, seed=0)
    >>> sd.compile(keras.optimizers.SGD(0.1, momentum=0.9), metrics=["accuracy"])
    >>> sd.fit(train_ds, epochs=500)  # doctest: +SKIP
    >>> sd.model.save("resnet110.keras")  # doctest: +SKIP
    """

    def __init__(self, model, final_survival=0.8, seed=None, **kwargs):
        kwargs.setdefault("name", "stochastic_depth")
        super().__init__(model, seed=seed, **kwargs)
        self.final_survival = check_number(final_survival, "final_survival", 0, 1, low_open=True)
        self.survival = survival_probabilities(model, self.final_survival)
        self.built = True

    def sample_survivors(self, seed, batch=1):
        """(batch, L) bool: which blocks survive, one independent draw per block.

        Args:
            seed: a ``keras.random.SeedGenerator`` (or a seed accepted by
                ``keras.random``).
            batch: number of independent steps to draw.
        """
        uniform = keras.random.uniform((batch, len(self.survival)), seed=seed)
        return uniform < ops.convert_to_tensor(self.survival.astype("float32"))[None, :]

    def subnet_arguments(self, survivors):
        """``block_gates`` and ``branch_scales`` for ``model.call`` from survivors (L,)."""
        droppable = self.survival < 1.0
        gates = [survivors[i] if drop else None for i, drop in enumerate(droppable)]
        scales = [float(1.0 / p) if drop else None for p, drop in zip(self.survival, droppable)]
        return {"block_gates": gates, "branch_scales": scales}

    def train_outputs(self, images, index):
        survivors = self.sample_survivors(self.seed_generator)[0]
        return self.run_subnet(images, **self.subnet_arguments(survivors))

    def subnet_loss_parts(self, x, y, logits, sample_weight):
        """The subnet's supervised loss, logged as ``loss`` alone."""
        return {"supervised": (self.supervised_loss(y, logits, sample_weight), 1.0)}

    def get_config(self):
        config = super().get_config()
        config.update({"final_survival": self.final_survival})
        return config
