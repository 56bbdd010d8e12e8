"""torch: a zero gradient for the weights of blocks a training step skipped.

TensorFlow (``cond``) and JAX (mask) give a skipped block's weights a zero
gradient; torch's autograd gives them none, so the optimizer would treat them
differently (no momentum or weight-decay step). The subnet trainers note the
skipped blocks in the forward pass and set their zero gradients before the loss
(Keras' torch step has cleared the gradients by then; ``backward`` adds to them).
"""

import keras


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
