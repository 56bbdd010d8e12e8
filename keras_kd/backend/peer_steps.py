"""Per-network optimizer steps inside one ``train_step``, on every backend.

Deep mutual learning's (zhang2018) Algorithm 1 updates its peers one after another on
the same batch, so one ``fit`` step holds several gradient computations and
optimizer applications. Keras' ``train_step`` differs per backend (JAX:
``train_step(state, data)``, stateless); this module is the only
backend-specific part. The step itself is written once, with Keras'
stateful semantics (``variable.assign``, ``optimizer.apply``):

* ``run_stateful``: on JAX, runs it in a ``keras.StatelessScope`` that holds
  the whole train state and returns the new state; elsewhere calls it.
* ``value_and_grad``: ``tf.GradientTape``; ``torch.autograd.grad``; on JAX
  ``jax.value_and_grad`` of the loss as a function of the differentiated
  variables, with every other variable's value (and any update the loss
  makes, e.g. batch-norm statistics, metric trackers) passed through.
* ``apply_gradients``: ``optimizer.apply``, under ``torch.no_grad`` on torch.
* ``clear_gradients``: before Keras' own torch step, every variable's
  ``.grad`` cleared (Keras' ``zero_grad`` misses variables whose paths
  collide).
* ``without_state_updates``: a forward whose state updates (batch-norm
  moving statistics, dropout seeds) are discarded, output detached.
"""

import contextlib

import keras
from keras import ops


def train_state_variables(model):
    """The four variable lists of JAX's train state, in the trainer's order."""
    return (
        model.trainable_variables,
        model.non_trainable_variables,
        model.optimizer.variables,
        model.metrics_variables,
    )


def run_stateful(model, step, args):
    """``step(data)`` for ``model.train_step(*args)``: JAX passes ``(state, data)``."""
    if keras.backend.backend() != "jax":
        return step(*args)
    state, data = args
    groups = train_state_variables(model)
    mapping = [pair for variables, values in zip(groups, state) for pair in zip(variables, values)]
    with keras.StatelessScope(state_mapping=mapping) as scope:
        logs = step(data)
    return logs, tuple([scope.get_current_value(v) for v in variables] for variables in groups)


def value_and_grad(loss_fn, variables, model):
    """``(aux, gradients)`` of ``loss, aux = loss_fn()`` w.r.t. ``variables``.

    ``model``'s train-state variables are the others ``loss_fn`` may read or
    assign (JAX only).
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss, aux = loss_fn()
        return aux, tape.gradient(loss, variables)
    if backend == "torch":
        import torch

        loss, aux = loss_fn()
        return aux, list(torch.autograd.grad(loss, [v.value for v in variables], allow_unused=True))
    return _jax_value_and_grad(loss_fn, variables, model)


def _jax_value_and_grad(loss_fn, variables, model):
    import jax

    own = {id(v) for v in variables}
    others = [v for group in train_state_variables(model) for v in group if id(v) not in own]

    def loss_of(values):
        mapping = [(v, v.value) for v in others] + list(zip(variables, values))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss, aux = loss_fn()
        return loss, (aux, [scope.get_current_value(v) for v in others])

    (_, (aux, updated)), grads = jax.value_and_grad(loss_of, has_aux=True)([v.value for v in variables])
    for variable, value in zip(others, updated):
        variable.assign(value)
    return aux, grads


def clear_gradients(variables):
    """Drops ``variables``' torch ``.grad`` (no-op on other backends).

    Keras' torch ``train_step`` clears gradients with ``Module.zero_grad``,
    which reaches only the parameters the model registered, keyed by
    variable path: of two peers whose variables share paths (same layer
    names), one keeps its gradient and adds it to the next step's.
    """
    if keras.backend.backend() == "torch":
        for variable in variables:
            variable.value.grad = None


def apply_gradients(optimizer, grads, variables):
    """``optimizer.apply(grads, variables)`` (no autograd graph on torch)."""
    if keras.backend.backend() == "torch":
        import torch

        context = torch.no_grad()
    else:
        context = contextlib.nullcontext()
    with context:
        optimizer.apply(grads, variables)


def without_state_updates(forward, layers):
    """``forward()`` with ``layers``' state updates discarded, outputs detached."""
    mapping = [(v, v.value) for layer in layers for v in layer.variables]
    with keras.StatelessScope(state_mapping=mapping):
        outputs = forward()
    return keras.tree.map_structure(ops.stop_gradient, outputs)
