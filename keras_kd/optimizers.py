"""``SGD`` with PyTorch's update rule, the one every seed paper trained with, and ``Adam`` with PyTorch's
(the architecture optimizer of differentiable search).

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

import math
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


def _bias_correction(beta, step):
    """``1 - beta^step`` as ``-expm1(step * log(beta))``: in float32, ``1 - 0.999^t`` loses ~1e-4 of its value
    (torch computes it in float64)."""
    return -ops.expm1(step * math.log(beta)) if beta > 0 else ops.ones_like(step)


@register
class Adam(keras.optimizers.Optimizer):
    """Adam with PyTorch's semantics (``torch.optim.Adam``), the architecture optimizer of DARTS and
    STACNAS (liu2019, li2019). Per variable ``w`` with gradient ``g`` at step ``t`` (1-based):

        g = g + wd * w                                  (coupled L2, as torch)
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g^2
        w = w - lr * (m / (1 - beta_1^t)) / (sqrt(v) / sqrt(1 - beta_2^t) + epsilon)

    Keras' ``keras.optimizers.Adam`` adds ``epsilon`` to ``sqrt(v)`` before the bias correction
    (``epsilon`` is scaled by ``sqrt(1 - beta_2^t)``) and its ``weight_decay`` is decoupled.

    Args:
        learning_rate: a float or a ``keras.optimizers.schedules.LearningRateSchedule``.
        beta_1: decay of the first moment.
        beta_2: decay of the second moment.
        epsilon: added to the bias-corrected ``sqrt(v)`` (torch's default 1e-8).
        weight_decay: L2 penalty coefficient, *coupled* (added to the gradient).
        **kwargs: Keras' optimizer arguments (``clipnorm``, ``name``, ...).

    Example:

    >>> optimizer = kd.optimizers.Adam(3e-4, beta_1=0.5, weight_decay=1e-3)  # DARTS' architecture optimizer
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0, **kwargs):
        if isinstance(learning_rate, numbers.Real) and not isinstance(learning_rate, bool):
            learning_rate = float(learning_rate)
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = check_number(beta_1, "beta_1", 0, 1, high_open=True)
        self.beta_2 = check_number(beta_2, "beta_2", 0, 1, high_open=True)
        self.epsilon = check_number(epsilon, "epsilon", 0, float("inf"))
        self.weight_decay = check_number(weight_decay, "weight_decay", 0, float("inf"))

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.moments = self.add_optimizer_variables(variables, "m")
        self.second_moments = self.add_optimizer_variables(variables, "v")

    def _apply_weight_decay(self, variables):
        """Keras' decoupled decay is not applied: ``update_step`` couples it."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        learning_rate, gradient = ops.cast(learning_rate, dtype), ops.cast(gradient, dtype)
        if self.weight_decay and self._use_weight_decay(variable):
            gradient = gradient + ops.cast(self.weight_decay, dtype) * variable
        step = ops.cast(self.iterations + 1, dtype)
        index = self._get_variable_index(variable)
        m, v = self.moments[index], self.second_moments[index]
        self.assign(m, self.beta_1 * m + (1 - self.beta_1) * gradient)
        self.assign(v, self.beta_2 * v + (1 - self.beta_2) * ops.square(gradient))
        first = m / _bias_correction(self.beta_1, step)
        second = ops.sqrt(v) / ops.sqrt(_bias_correction(self.beta_2, step))
        self.assign_sub(variable, learning_rate * first / (second + self.epsilon))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon})
        return config
