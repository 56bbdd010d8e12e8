"""keras_kd.layers.skip: gated blocks (a Python-bool or tensor gate runs a block or its identity) and
branch scales, on single blocks and through a network."""

import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_kd.layers import InvertedResidualBlock, SwitchableResidualBlock
from keras_kd.models import wide_resnet
from tests.helpers import to_np


@pytest.mark.parametrize("gate", [False, "tensor"])
def test_skipped_block_is_identity_and_keeps_bn_statistics(rng, gate):
    x = rng.standard_normal((4, 8, 8, 8)).astype("float32") + 3.0
    block = SwitchableResidualBlock(8, block="G(2)")
    block.build(x.shape)
    before = [to_np(v) for v in block.non_trainable_variables]
    gate = ops.convert_to_tensor(False) if gate == "tensor" else gate
    y = block(x, training=True, gate=gate)
    np.testing.assert_array_equal(to_np(y), x)
    for old, variable in zip(before, block.non_trainable_variables):
        np.testing.assert_array_equal(to_np(variable), old)


def test_true_tensor_gate_runs_block_and_updates_bn_statistics(rng):
    x = rng.standard_normal((4, 8, 8, 8)).astype("float32") + 3.0
    block = SwitchableResidualBlock(8)
    block.build(x.shape)
    want = to_np(block(x, training=False))
    gated = block(x, training=False, gate=ops.convert_to_tensor(True))
    np.testing.assert_allclose(to_np(gated), want, rtol=1e-6, atol=1e-6)
    block(x, training=True, gate=ops.convert_to_tensor(True))
    assert not np.allclose(to_np(block.norms[0].moving_mean), 0.0)


def test_shape_changing_block_refuses_to_be_skipped():
    block = SwitchableResidualBlock(16, strides=2)
    block.build((None, 8, 8, 8))
    assert not block.can_skip
    with pytest.raises(ValueError, match="cannot be skipped. Received: gate=False"):
        block(np.zeros((1, 8, 8, 8), "float32"), gate=False)


@pytest.mark.parametrize("preactivation", [True, False])
@pytest.mark.parametrize("gate", [None, "tensor"])
def test_branch_scale_multiplies_the_residual_branch(rng, preactivation, gate):
    x = rng.standard_normal((2, 8, 8, 8)).astype("float32")
    block = SwitchableResidualBlock(8, preactivation=preactivation)
    block.build(x.shape)
    gate = ops.convert_to_tensor(True) if gate == "tensor" else gate
    branch = to_np(block._body(x, False)[0])
    want = x + 2.5 * branch
    want = want if preactivation else np.maximum(want, 0.0)
    got = block(x, training=False, gate=gate, branch_scale=2.5)
    np.testing.assert_allclose(to_np(got), want, rtol=1e-5, atol=1e-5)
    skipped = block(x, training=False, gate=ops.convert_to_tensor(False), branch_scale=2.5)
    np.testing.assert_array_equal(to_np(skipped), x)


def test_branch_scale_of_the_inverted_residual_block(rng):
    x = rng.standard_normal((2, 8, 8, 8)).astype("float32")
    block = InvertedResidualBlock(8, expansion=2)
    block.build(x.shape)
    branch = to_np(block(x, training=False)) - x
    scaled = block(x, training=False, branch_scale=ops.convert_to_tensor(0.5))
    np.testing.assert_allclose(to_np(scaled), x + 0.5 * branch, rtol=1e-5, atol=1e-5)


# Through a network: StagedNet.call's per-block `block_gates` and `branch_scales`.


class GatedNet(keras.Model):
    """Trains a WRN with block gates read from a variable (a trainer's job)."""

    def __init__(self, net, gates):
        super().__init__()
        self.net = net
        self.gates = keras.Variable(gates, trainable=False, dtype="float32")

    def call(self, x, training=None):
        gates = [
            self.gates[i] > 0.5 if block.can_skip else None
            for i, block in enumerate(self.net.blocks)
        ]
        return self.net(x, training=training, block_gates=gates)


def test_fit_with_runtime_gates_trains_only_active_blocks(rng):
    net = wide_resnet(16, 1, 4, input_shape=(8, 8, 3))
    gates = [1.0] * len(net.blocks)
    skipped = net.blocks[1]
    assert skipped.can_skip
    gates[1] = 0.0
    model = GatedNet(net, gates)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x = rng.standard_normal((8, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, 8)
    before = {b.name: [to_np(w) for w in b.weights] for b in net.blocks}
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    for block in net.blocks:
        changed = [not np.array_equal(to_np(w), old) for w, old in zip(block.weights, before[block.name])]
        if block is skipped:
            assert not any(changed), block.name
        else:
            assert all(changed), block.name


def test_block_gates_need_one_entry_per_block():
    net = wide_resnet(10, 1, 4, input_shape=(8, 8, 3))
    with pytest.raises(ValueError, match="one entry per block \\(3\\)"):
        net(np.zeros((1, 8, 8, 3), "float32"), block_gates=[True])


def test_branch_scales_reach_each_block_and_need_one_entry_per_block(rng):
    net = wide_resnet(10, 1, 4, input_shape=(8, 8, 3))
    x = rng.standard_normal((2, 8, 8, 3)).astype("float32")
    ones = net(x, training=False, branch_scales=[1.0, 1.0, 1.0])
    np.testing.assert_allclose(to_np(ones), to_np(net(x, training=False)), rtol=1e-6, atol=1e-6)
    assert not np.allclose(to_np(net(x, training=False, branch_scales=[None, None, 3.0])), to_np(ones))
    with pytest.raises(ValueError, match=re.escape("`branch_scales` needs one entry per block (3)")):
        net(x, branch_scales=[2.0])



def test_mask_mode_skips_without_moving_bn_statistics_on_every_backend(rng):
    """Mask mode (JAX's default, a choice elsewhere) restores a copy of the statistics: torch's and TensorFlow's
    batch norms update them in place, so restoring the variables' own values kept the update."""
    x = rng.standard_normal((4, 8, 8, 8)).astype("float32") + 3.0
    block = SwitchableResidualBlock(8, block="G(2)", skip_mode="mask")
    block.build(x.shape)
    before = [to_np(v) for v in block.non_trainable_variables]
    np.testing.assert_array_equal(to_np(block(x, training=True, gate=ops.convert_to_tensor(False))), x)
    for old, variable in zip(before, block.non_trainable_variables):
        np.testing.assert_array_equal(to_np(variable), old)
