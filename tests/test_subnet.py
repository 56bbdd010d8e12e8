"""keras_kd.distillers.subnet: what every subnet trainer shares (a skipped block's zero gradient)."""

import keras
import numpy as np

import keras_kd as kd
from tests.helpers import image_batch, small_resnet, to_np


class OneGateTrainer(kd.distillers.subnet.SubnetTrainer):
    """Runs every block, or skips block ``skipped`` while ``skip`` is 1."""

    def __init__(self, model, skipped):
        super().__init__(model)
        self.skipped = skipped
        self.skip = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False)

    def train_outputs(self, images, index):
        gates = [None] * len(self.model.blocks)
        gates[self.skipped] = self.skip.value < 1
        return self.run_subnet(images, gates)

    def subnet_loss_parts(self, x, y, logits, sample_weight):
        return {"supervised": (self.supervised_loss(y, logits, sample_weight), 1.0)}


def test_a_skipped_block_gets_a_zero_gradient_on_every_backend(rng, recwarn):
    """Momentum SGD moves a skipped block's weights by momentum x last step,
    on torch too (Keras would otherwise see no gradient and not update them)."""
    model = small_resnet(14)
    skipped = model.skippable.index(True)
    trainer = OneGateTrainer(model, skipped)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    x, y = image_batch(rng, 4)
    kernel = model.blocks[skipped].trainable_weights[0]
    before = to_np(kernel).copy()
    trainer.train_on_batch(x, y)
    after_run = to_np(kernel).copy()
    trainer.skip.assign(1)
    trainer.train_on_batch(x, y)
    assert not np.array_equal(after_run, before)
    np.testing.assert_allclose(to_np(kernel), after_run + 0.9 * (after_run - before), rtol=1e-5, atol=1e-7)
    assert not [w for w in recwarn if "Gradients do not exist" in str(w.message)]
