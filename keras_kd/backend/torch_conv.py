"""A channels-last 2-D convolution on the torch backend without layout copies.

Keras (3.15) runs a channels-last conv on torch as ``permute(...).contiguous()``
(a copy to NCHW), then ``contiguous(memory_format=channels_last)`` (a copy
back), then the conv; an explicit ``ops.pad`` of symmetric padding is a third
copy. Profiled on a WRN-40-2 -> WRN-16-2 KD step, those copies were 25% of
the step (``python -m benchmarks.torch_profile``). An NHWC tensor viewed as
NCHW *is* a channels-last tensor, which torch convolves natively, and
symmetric padding is the conv's own ``padding``: here neither costs a copy.
Same kernels and memory format as Keras' path, so the same numbers.

A 1x1 conv with stride s > 1 and no padding runs as the stride-1 conv of every
s-th pixel (the same products): torch 2.13's CPU backward of a channels-last
1x1 stride-2 conv with fewer than 8 input channels corrupts the heap (the
process aborts with "corrupted double-linked list" or a segfault), and the
subsampled input is smaller anyway.
"""


def conv2d_nhwc(inputs, kernel, strides, pads, dilation, groups):
    """``inputs`` (N, H, W, C) conv ``kernel`` (kh, kw, C // groups, filters).

    Args:
        pads: ``((top, bottom), (left, right))`` zero padding.
    """
    import torch
    import torch.nn.functional as F

    x = inputs.permute(0, 3, 1, 2)
    weight = kernel.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    (top, bottom), (left, right) = pads
    if tuple(kernel.shape[:2]) == (1, 1) and max(top, bottom, left, right) == 0:
        x, strides = x[:, :, :: strides[0], :: strides[1]], (1, 1)
    padding = (top, left)
    if top != bottom or left != right:
        x, padding = F.pad(x, (left, right, top, bottom)), 0
    outputs = F.conv2d(x, weight, None, tuple(strides), padding, tuple(dilation), groups)
    return outputs.permute(0, 2, 3, 1)
