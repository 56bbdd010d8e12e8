"""``keras_kd.optimizers.SGD``'s update on the torch backend, all variables at once.

Keras runs a custom optimizer's ``update_step`` variable by variable through
``keras.ops``; on torch each of those ops is an eager call with Keras'
conversion overhead (WRN-16-2, 44 variables: 7x the time of Keras' own SGD,
which uses ``torch._foreach_*``). The same rule here takes one ``_foreach``
call per line of the update, as Keras' torch SGD and ``torch.optim.SGD`` do.
"""


def sgd_update(optimizer, grads, variables, learning_rate):
    """PyTorch's SGD step (coupled decay, dampening 0) on Keras ``variables``."""
    import torch

    with torch.no_grad():
        params = [v.value for v in variables]
        grads = list(grads)
        if optimizer.weight_decay:
            decayed = [i for i, v in enumerate(variables) if optimizer._use_weight_decay(v)]
            decayed_grads = torch._foreach_add([grads[i] for i in decayed], [params[i] for i in decayed],
                                               alpha=optimizer.weight_decay)
            for i, g in zip(decayed, decayed_grads):
                grads[i] = g
        if optimizer.momentum:
            buffers = [optimizer.momentums[optimizer._get_variable_index(v)].value for v in variables]
            torch._foreach_mul_(buffers, optimizer.momentum)
            torch._foreach_add_(buffers, grads)
            grads = torch._foreach_add(grads, buffers, alpha=optimizer.momentum) if optimizer.nesterov else buffers
        torch._foreach_add_(params, grads, alpha=-float(learning_rate))
