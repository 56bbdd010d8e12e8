"""``SGD`` with PyTorch's update rule, the one every seed paper trained with.

The papers' code (AT / Moonshine, DCM, ResKD, GKT: all PyTorch) uses
``torch.optim.SGD(params, lr, momentum, weight_decay=wd)``: weight decay is
*coupled*, added to the gradient before the momentum, and the momentum
buffer holds gradients, not steps. Per variable ``w`` with gradient ``g``:

    g = g + wd * w                      (every variable, BN and biases too)
    b = momentum * b + g                (b = g on the first step; dampening 0)
    g = g + momentum * b  if nesterov  else  b
    w = w - lr * g

Keras' ``keras.optimizers.SGD(weight_decay=wd)`` is a different rule: its
decay is *decoupled* (``w -= lr * wd * w`` outside the momentum, so momentum
0.9 does not amplify it: at lr 0.1, wd 5e-4 a weight with no data gradient
shrinks ~10x less over 1000 steps) and its velocity stores ``-lr * g``, so
a learning-rate drop takes effect one momentum time-constant later. Use it
where a paper says "decoupled weight decay"; use this class to reproduce
the seed papers.

Which variables decay follows ``torch.optim.SGD(model.parameters(), ...)``:
all of them. ``optimizer.exclude_from_weight_decay(var_names=["gamma",
"beta", "bias"])`` (Keras' own method) leaves some out.
"""

import numbers

import keras
from keras import ops

from keras_kd.api import register
from keras_kd.backend import torch_sgd
from keras_kd.validation import check_number


@register
class SGD(keras.optimizers.Optimizer):
    """Stochastic gradient descent with PyTorch's semantics (``torch.optim.SGD``).

    Args:
        learning_rate: a float or a ``keras.optimizers.schedules.LearningRateSchedule``.
        momentum: momentum factor in [0, 1] (dampening 0, as PyTorch's default).
        nesterov: Nesterov momentum (``torch.optim.SGD(nesterov=True)``).
        weight_decay: L2 penalty coefficient, *coupled*: ``wd * w`` is added
            to the gradient before the momentum.
        **kwargs: Keras' optimizer arguments (``clipnorm``, ``use_ema``,
            ``gradient_accumulation_steps``, ``name``, ...).

    Example:

    >>> optimizer = kd.optimizers.SGD(0.1, momentum=0.9, weight_decay=5e-4)
    >>> distiller.compile(optimizer=optimizer)  # doctest: +SKIP
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0, **kwargs):
        if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
            learning_rate = float(learning_rate)  # Keras refuses NumPy scalars
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.momentum = check_number(momentum, "momentum", 0, 1)
        if not isinstance(nesterov, bool):
            raise ValueError(f"`nesterov` must be True or False. Received: nesterov={nesterov!r}")
        if nesterov and self.momentum == 0:
            raise ValueError("`nesterov=True` needs a momentum > 0. Received: momentum=0")
        self.nesterov = nesterov
        self.weight_decay = check_number(weight_decay, "weight_decay", 0, float("inf"))

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = self.add_optimizer_variables(variables, "momentum") if self.momentum else []

    def _apply_weight_decay(self, variables):
        """Keras' decoupled decay is not applied: ``update_step`` couples it."""

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """On torch, all variables in ``_foreach`` calls (``keras_kd.backend.torch_sgd``)."""
        if keras.backend.backend() != "torch":
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        torch_sgd.sgd_update(self, grads, trainable_variables, learning_rate)

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.weight_decay and self._use_weight_decay(variable):
            gradient = gradient + ops.cast(self.weight_decay, variable.dtype) * variable
        if self.momentum:
            momentum = ops.cast(self.momentum, variable.dtype)
            buffer = self.momentums[self._get_variable_index(variable)]
            new_buffer = momentum * buffer + gradient
            self.assign(buffer, new_buffer)
            gradient = gradient + momentum * new_buffer if self.nesterov else new_buffer
        self.assign_sub(variable, learning_rate * gradient)

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config
