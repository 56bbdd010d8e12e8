"""Backend-specific code, one small module per concern (TensorFlow, JAX and torch
branches side by side):

* ``replica_state``: row updates of per-example tables, exact under data parallelism;
* ``group_conv_policy``: which grouped-conv computation is fastest per backend and device;
* ``torch_conv``: channels-last convolution on torch without layout copies.

Layers, models and trainers import from here; nothing here imports them.
"""
