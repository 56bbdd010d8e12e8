"""L2 norms and normalization with finite gradients at zero vectors, shared by every term
that normalizes (attention maps, NST's channel patterns, DIST's correlations, PKT, RKD, SP).

The reference codes compute ``x / max(sqrt(sum x^2), eps)``: at a zero vector (a dead
ReLU channel, an all-zero attention map, two equal examples of a batch) ``sqrt``'s
infinite derivative times ``maximum``'s zero one is NaN on JAX and torch (TF happens
to give 0). These functions give the same values and a finite gradient there.
"""

from keras import ops

NORM_EPSILON = 1e-12  # the floor of a norm, as torch.nn.functional.normalize


def l2_norm(x, axis=-1):
    """``max(||x||_2, 1e-12)`` along ``axis`` (kept), computed as ``sqrt(max(sum x^2, 1e-24))``:
    the same value, with a finite gradient at a zero vector (where ``sqrt``'s is infinite)."""
    return ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), NORM_EPSILON**2))


def l2_normalize(x, axis=-1):
    """``x / max(||x||_2, 1e-12)`` along ``axis`` (the value of ``torch.nn.functional.normalize``).

    A zero vector stays zero with a zero gradient: the code's formula has a gradient of
    1e12 times the incoming one there (two examples of a batch with equal features, or an
    all-zero map), enough to blow up the student's weights in one step.

    Example:

    >>> import numpy as np
    >>> [[round(float(v), 4) for v in row] for row in l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))]
    [[0.6, 0.8], [0.0, 0.0]]
    """
    squared = ops.sum(ops.square(x), axis=axis, keepdims=True)
    nonzero = squared > 0
    norm = ops.sqrt(ops.where(nonzero, squared, 1.0))  # the where keeps the unselected gradient finite
    return ops.where(nonzero, x / ops.maximum(norm, NORM_EPSILON), 0.0)
