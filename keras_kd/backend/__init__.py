"""Backend-specific code, one small module per concern (TensorFlow, JAX and torch
branches side by side):

* ``replica_state``: row updates of per-example tables, exact under data parallelism;
* ``group_conv_policy``: which grouped-conv computation is fastest per backend and device;
* ``torch_conv``: channels-last convolution on torch without layout copies;
* ``torch_batch_norm``: BatchNormalization in one fused torch kernel;
* ``torch_sgd``: ``keras_kd.optimizers.SGD``'s update in torch ``_foreach`` calls;
* ``skip_policy``: how a block is skipped at run time (``cond`` or mask) per backend;
* ``skipped_gradients``: torch's missing zero gradients of skipped blocks;
* ``peer_steps``: several optimizer steps inside one ``train_step`` (deep mutual learning);
* ``saved_optimizer``: optimizers of files saved on another backend made this backend's.

Layers, models and trainers import from here; nothing here imports them.
"""
