"""Running a block or its identity, chosen per training step.

``gated(run_block, x, gate, state)`` returns ``run_block()`` where ``gate``
is true and ``x`` where it is false. ``gate`` may be a Python bool (resolved
while tracing: the untaken path is never built) or a scalar boolean tensor
(resolved at run time). For tensors the mechanism is per backend, chosen by
measurement on CPU (``benchmarks/skip_block.py``, results in ``benchmarks/RESULTS.md``):

* ``"cond"`` (TensorFlow, torch): ``keras.ops.cond`` -- the untaken branch
  costs nothing and the taken one runs at full speed;
* ``"mask"`` (JAX): on XLA a conv inside a runtime ``cond`` runs ~55x slower
  and BatchNorm inside it leaks tracers, so the block always runs and its
  output and moving statistics are selected with ``where``. Skipping saves
  no compute there; a trainer that needs the saving compiles a few static
  subnets with Python-bool gates instead.

A block's ``branch_scale`` call argument multiplies its residual branch
(the body, before the shortcut add) for a step: inverted stochastic depth
scales a surviving block by ``1 / p_l`` (``keras_kd.StochasticDepth``).
"""

import keras
from keras import ops

from keras_kd import config
from keras_kd.backend import skip_policy
from keras_kd.validation import check_choice

MODES = config.SKIP_MODES


def resolve_mode(mode=None):
    """The mechanism ``mode`` stands for on the current backend (``None``: the
    runtime setting ``keras_kd.config.skip_mode()``)."""
    mode = config.skip_mode() if mode is None else check_choice(mode, "skip_mode", MODES)
    if mode != "auto":
        return mode
    return skip_policy.auto_mode()


def gated(run_block, x, gate, state, mode=None):
    """``run_block()`` where ``gate`` holds, else ``x``.

    Args:
        run_block: no-argument callable computing the block on ``x``.
        x: the block input, returned unchanged when the block is skipped.
        gate: ``None``/``True`` (run), ``False`` (skip) or a scalar bool tensor.
        state: the block's non-trainable variables (BatchNorm statistics),
            left untouched when the block is skipped.
        mode: ``"auto"``, ``"cond"``, ``"mask"`` or ``None`` (the runtime setting).
    """
    if gate is None or gate is True:
        return run_block()
    if gate is False:
        return x
    gate = ops.cast(ops.reshape(gate, ()), "bool")
    if resolve_mode(mode) == "cond":
        return ops.cond(gate, run_block, lambda: x)
    before = [ops.copy(v.value) for v in state]  # a copy: torch's batch norm updates its statistics in place
    y = run_block()
    for variable, old in zip(state, before):
        variable.assign(ops.where(gate, variable.value, old))
    return ops.where(gate, y, x)


def scale_branch(x, scale):
    """``x * scale`` in ``x``'s dtype; ``x`` itself when ``scale`` is ``None``."""
    return x if scale is None else x * ops.cast(scale, x.dtype)


def identity_sum(branch, inputs, scale, add):
    """The residual branch scaled by ``scale`` (``scale_branch``), plus ``inputs`` where ``add`` holds."""
    branch = scale_branch(branch, scale)
    return branch + inputs if add else branch


class GatedBlock(keras.layers.Layer):
    """Base of blocks a trainer can turn into the identity for a step.

    Subclasses set ``self.filters`` and ``self.strides``, set
    ``self.can_skip`` in ``build`` and implement ``_run(inputs, training,
    branch_scale)``, passing the residual branch through ``scale_branch``;
    ``skip_mode`` is ``None`` (the runtime setting ``keras_kd.config.skip_mode()``,
    read when a step is traced), ``"auto"``, ``"cond"`` or ``"mask"``: how this
    process skips, not saved in the config (files stay backend-neutral).

    Call args:
        gate: ``None``/``True`` (run), ``False`` or a scalar bool tensor.
        branch_scale: ``None`` or a number or scalar tensor multiplying the
            residual branch this step.
    """

    offers_preactivation = False  # whether ``run_with_preactivation`` is available

    def __init__(self, skip_mode=None, **kwargs):
        super().__init__(**kwargs)
        self.skip_mode = check_choice(skip_mode, "skip_mode", MODES, allow_none=True)

    def run_with_preactivation(self, inputs, training=None, branch_scale=None):
        """``(output, pre-activation)`` of one call that runs the block: its output and the tensor its
        final activation reads (the pre-ReLU features of RepDistiller's ``preact=True``, read by AB, OFD
        and ReviewKD; the output itself for a block that ends without one). Blocks offering it
        (``offers_preactivation``) implement ``before_activation(inputs, training, branch_scale)`` and
        ``final_activation(x)``, and their ``_run`` is the composition of the two."""
        if not self.offers_preactivation:
            raise ValueError(f"Block {self.name!r} ({type(self).__name__}) does not expose its pre-activation "
                             "output. Received: a request for it")
        pre = self.before_activation(inputs, training, branch_scale)
        return self.final_activation(pre), pre

    def call(self, inputs, training=None, gate=None, branch_scale=None):
        if gate is not None and gate is not True and not self.can_skip:
            raise ValueError(
                f"Block {self.name!r} has no identity shortcut (it changes the shape of its "
                f"input or has no shortcut) and cannot be skipped. Received: gate={gate}"
            )
        return gated(
            lambda: self._run(inputs, training, branch_scale),
            inputs,
            gate,
            self.non_trainable_variables,
            self.skip_mode,
        )

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        if self.strides > 1:
            height = None if height is None else -(-height // self.strides)
            width = None if width is None else -(-width // self.strides)
        return (batch, height, width, self.filters)


class UnskippableBlock(GatedBlock):
    """A block without a shortcut (the units of VGG, DenseNet, MobileNet v1): never skipped and
    with no residual branch to scale; a ``GatedBlock`` only so that these networks are staged
    like the rest of the zoo (stage taps, the same ``call`` arguments). Subclasses implement
    ``body(inputs, training)`` (not ``forward``: on torch every layer is a ``torch.nn.Module``)."""

    can_skip = False

    def _run(self, inputs, training, branch_scale=None):
        self.check_no_branch_scale(branch_scale)
        return self.body(inputs, training)

    def check_no_branch_scale(self, branch_scale):
        if branch_scale is not None:
            raise ValueError(
                f"Block {self.name!r} has no residual branch to scale. Received: branch_scale={branch_scale}"
            )
