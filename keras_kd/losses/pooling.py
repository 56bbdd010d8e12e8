"""Average pooling of a feature map to a smaller map by integer ratios: torch's ``adaptive_avg_pool2d``
where the reference codes (RepDistiller, mdistiller) call it on maps whose sizes divide (VID, FT, FSP,
OFD, ReviewKD)."""

from keras import ops


def pool_to(x, height, width=None):
    """NHWC ``x`` average-pooled to ``height`` x ``width`` (``width`` defaults to ``height``) by the integer
    ratios of the sizes; ``x`` itself when the ratios are 1 or a size is unknown (``None``: the terms check
    when connected that unknown sizes are equal)."""
    width = height if width is None else width
    if height is None or width is None:
        return x
    ratios = (x.shape[1] // height, x.shape[2] // width)
    return x if ratios == (1, 1) else ops.average_pool(x, ratios, strides=ratios, padding="valid")
