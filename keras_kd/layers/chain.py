"""Layers applied in order: building them on a shape, and running them."""


def build_chain(chain, shape):
    """Builds each layer of ``chain`` on the previous one's output shape, from ``shape``; returns the last."""
    for layer in chain:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


def run_chain(chain, x, training=None):
    for layer in chain:
        x = layer(x, training=training)
    return x
