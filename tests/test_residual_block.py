"""keras_kd.layers.residual_block: the residual switch (gates and branch scales: tests/test_skip.py)."""

import numpy as np
import pytest
from keras import ops

from keras_kd.layers import SwitchableResidualBlock
from tests.helpers import to_np


def zero_convs(block):
    for conv in block.convs:
        conv.kernel.assign(ops.zeros(conv.kernel.shape))


@pytest.mark.parametrize("block", ["S", "G(2)", "B(2)", "BG(2,M/2)", "S-2x2"])
def test_residual_switch_removes_the_shortcut(rng, block):
    x = rng.standard_normal((2, 8, 8, 8)).astype("float32")
    residual = SwitchableResidualBlock(8, block=block)
    plain = SwitchableResidualBlock(8, block=block, residual=False)
    for layer in (residual, plain):
        layer.build(x.shape)
        zero_convs(layer)
    np.testing.assert_allclose(to_np(residual(x)), x, atol=1e-6)
    np.testing.assert_allclose(to_np(plain(x)), 0.0, atol=1e-6)


def test_non_residual_transition_block_has_no_shortcut_conv():
    residual = SwitchableResidualBlock(16, strides=2)
    plain = SwitchableResidualBlock(16, strides=2, residual=False)
    residual.build((None, 8, 8, 8))
    plain.build((None, 8, 8, 8))
    assert len(residual.projection) == 1 and not plain.projection
    assert plain.count_params() == residual.count_params() - 8 * 16
