"""Which computation ``GroupConv2D(implementation="auto")`` uses.

Measured with ``python -m benchmarks.group_conv`` (train step, batch 64,
3x3, 32x32x64 and 16x16x128, 2-core CPU, Keras 3.15, TF 2.21, JAX 0.10,
torch 2.13). Keras' grouped ``ops.conv`` is 10-130x slower than the best
path on TF and JAX CPU (XLA's grouped kernel gradient), torch's is fast:

* torch: ``native`` (within 1.1x of the best everywhere; split+concat is
  4.6x slower for depthwise);
* TensorFlow CPU: ``depthwise`` for one channel per group (5-16x faster
  than the others), else ``split`` (the fastest for g = 2..16);
* JAX CPU: ``split`` for up to 16 groups; ``dense`` (block-diagonal kernel,
  g times the multiply-adds) for more groups while the layer is at most
  128 channels wide (XLA's depthwise is 1.6x slower there); beyond that
  ``depthwise`` or ``split``, so the block-diagonal cost cannot explode;
* GPUs and TPUs: ``native`` (cuDNN / XLA GPU grouped convs), not measured
  on this machine -- run the benchmark on yours and pass
  ``implementation=`` explicitly if it disagrees.
"""

import functools

import keras

DENSE_MAX_CHANNELS = 128
SPLIT_MAX_GROUPS = 16


@functools.lru_cache(maxsize=None)
def device_type():
    """``"cpu"``, ``"gpu"`` or ``"tpu"``: the default TF / JAX device."""
    return keras.distribution.list_devices()[0].split(":")[0].lower()


def choose(groups, in_channels, backend=None, device=None):
    """The implementation name for a conv with ``groups`` over ``in_channels``."""
    backend = backend or keras.backend.backend()
    if backend == "torch" or groups == 1:
        return "native"
    if (device or device_type()) != "cpu":
        return "native"
    depthwise = groups == in_channels
    if backend == "tensorflow":
        return "depthwise" if depthwise else "split"
    if groups <= SPLIT_MAX_GROUPS:
        return "split"
    if in_channels <= DENSE_MAX_CHANNELS:
        return "dense"
    return "depthwise" if depthwise else "split"
