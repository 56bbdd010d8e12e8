"""Grouped 2-D convolution that is fast on every Keras backend.

Keras' ``Conv2D(groups=g)`` computes the same function, but on TensorFlow and
JAX (XLA CPU) its kernel gradient is 10-100x slower than the plain conv
(``benchmarks/group_conv.py``). ``GroupConv2D`` keeps the weight layout of
``Conv2D(groups=g)`` -- kernel ``(kh, kw, in_channels // groups, filters)``
-- so a model saved under one backend loads under another, and chooses the
computation per backend and device:

* ``"native"``: one grouped ``ops.conv`` (fast on torch and on GPUs);
* ``"split"``: one conv per group on channel slices, then concatenate;
* ``"depthwise"``: ``ops.depthwise_conv`` when every group has one channel;
* ``"dense"``: one ordinary conv with a block-diagonal kernel (``groups``
  times the multiply-adds, but the fastest path on XLA CPU for few groups).

On torch, ``"native"`` calls torch's conv on the channels-last tensor
directly (``keras_kd.backend.torch_conv``), skipping the layout copies of
Keras' ``ops.conv``.

Strides above 1 together with a dilation above 1 (which Keras' conv ops
reject) are computed exactly by spreading the kernel onto its dilated grid
and convolving with dilation 1.
"""

import numbers

import keras
from keras import ops

from keras_kd import config
from keras_kd.api import register
from keras_kd.backend import group_conv_policy, torch_conv
from keras_kd.validation import check_choice, check_int

IMPLEMENTATIONS = config.GROUP_CONV_IMPLEMENTATIONS
PADDINGS = ("same", "valid", "symmetric")


def _pair(value, name):
    if isinstance(value, numbers.Integral):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1
                                  for v in value):
        raise ValueError(
            f"`{name}` must be a positive int or a pair of positive ints. "
            f"Received: {name}={value}"
        )
    return tuple(int(v) for v in value)


def dilate_kernel(kernel, dilation_rate):
    """Spreads ``kernel`` (kh, kw, i, o) onto its dilated grid with zeros."""
    kernel = ops.convert_to_tensor(kernel)
    for axis, rate in enumerate(dilation_rate):
        if rate == 1:
            continue
        slices = ops.unstack(kernel, axis=axis)
        zeros = ops.zeros_like(slices[0])
        spread = []
        for index, piece in enumerate(slices):
            if index:
                spread.extend([zeros] * (rate - 1))
            spread.append(piece)
        kernel = ops.stack(spread, axis=axis)
    return kernel


@register
class GroupConv2D(keras.layers.Layer):
    """2-D convolution over channel groups (crowley2018 §3.2, jha2020 App. A).

    Exactly one of ``groups`` (constant number of groups g, jha2020's "g")
    and ``group_size`` (constant channels per group G, jha2020's "G";
    groups = in_channels / G) must be given. ``groups=1`` is an ordinary conv.

    Args:
        filters: number of output channels; divisible by the group count.
        kernel_size: int or pair.
        groups: constant number of groups g.
        group_size: constant number of input channels per group G.
        strides: int or pair.
        padding: ``"same"`` (Keras/TF: with stride 2 the extra row is
            padded at the end), ``"valid"``, or ``"symmetric"``: pad
            ``dilation * (k - 1) // 2`` on each side as the papers' PyTorch
            code does, so a strided conv samples the same positions as a
            strided 1x1 shortcut.
        dilation_rate: int or pair; may be combined with strides > 1.
        use_bias: whether to add a bias.
        implementation: how this process computes the conv: ``None`` (the
            runtime setting ``keras_kd.config.group_conv_implementation()``
            when the layer is built, ``"auto"`` by default: the fastest
            measured for the backend and device, see
            ``keras_kd.backend.group_conv_policy``), ``"auto"``, ``"native"``,
            ``"split"``, ``"depthwise"`` or ``"dense"``. All give the same
            numbers and the same weights; a runtime choice, not saved in the
            layer's config (files stay backend-neutral).
        kernel_initializer: as in ``keras.layers.Conv2D``.
        bias_initializer: as in ``keras.layers.Conv2D``.
        kernel_regularizer: as in ``keras.layers.Conv2D``.
        bias_regularizer: as in ``keras.layers.Conv2D``.

    Example:

    >>> layer = GroupConv2D(64, 3, groups=4, padding="same")
    >>> y = layer(keras.ops.ones((2, 8, 8, 32)))
    >>> tuple(y.shape)
    (2, 8, 8, 64)
    """

    def __init__(
        self,
        filters,
        kernel_size,
        groups=None,
        group_size=None,
        strides=1,
        padding="same",
        dilation_rate=1,
        use_bias=False,
        implementation=None,
        kernel_initializer="he_normal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        filters = check_int(filters, "filters")
        if (groups is None) == (group_size is None):
            raise ValueError(
                "Pass exactly one of `groups` and `group_size`. Received: "
                f"groups={groups}, group_size={group_size}"
            )
        groups = None if groups is None else check_int(groups, "groups")
        group_size = None if group_size is None else check_int(group_size, "group_size")
        if groups is not None and filters % groups:
            raise ValueError(
                "`groups` must divide `filters`. Received: "
                f"groups={groups}, filters={filters}"
            )
        padding = check_choice(padding.lower() if isinstance(padding, str) else padding, "padding", PADDINGS)
        check_choice(implementation, "implementation", IMPLEMENTATIONS, allow_none=True)
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.groups_arg = groups
        self.group_size = group_size
        self.strides = _pair(strides, "strides")
        self.padding = padding
        self.dilation_rate = _pair(dilation_rate, "dilation_rate")
        self.use_bias = use_bias
        self.implementation = implementation
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def resolve_groups(self, in_channels):
        """Number of groups for ``in_channels`` inputs; raises if invalid."""
        if self.group_size is not None:
            if in_channels % self.group_size:
                raise ValueError(
                    "`group_size` must divide the input channels. Received: "
                    f"group_size={self.group_size}, input channels={in_channels}"
                )
            groups = in_channels // self.group_size
            if self.filters % groups:
                raise ValueError(
                    f"`group_size`={self.group_size} gives groups={groups}, "
                    f"which does not divide filters={self.filters}"
                )
            return groups
        if in_channels % self.groups_arg:
            raise ValueError(
                "`groups` must divide the input channels. Received: "
                f"groups={self.groups_arg}, input channels={in_channels}"
            )
        return self.groups_arg

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "GroupConv2D expects inputs of rank 4 (batch, height, width, "
                f"channels). Received: input_shape={tuple(input_shape)}"
            )
        in_channels = input_shape[-1]
        self.groups = self.resolve_groups(in_channels)
        self.in_channels = in_channels
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (in_channels // self.groups, self.filters),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )
        chosen = self._chosen_implementation()
        self._torch_native = chosen == "native" and keras.backend.backend() == "torch"
        self._conv = getattr(self, "_conv_" + chosen)

    def _chosen_implementation(self):
        if self.groups == 1:
            return "native"
        implementation = self.implementation or config.group_conv_implementation()
        if implementation != "auto":
            if implementation == "depthwise" and self.groups != self.in_channels:
                raise ValueError(
                    "implementation='depthwise' needs one input channel per "
                    f"group. Received: groups={self.groups}, "
                    f"input channels={self.in_channels}"
                )
            return implementation
        return group_conv_policy.choose(self.groups, self.in_channels)

    def _effective_kernel_and_dilation(self, kernel):
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            return dilate_kernel(kernel, self.dilation_rate), 1
        return kernel, self.dilation_rate

    def _padded(self, x):
        """Input and conv padding mode, with symmetric padding made explicit."""
        if self.padding != "symmetric":
            return x, self.padding
        return ops.pad(x, [(0, 0), *self._pads(x.shape), (0, 0)]), "valid"

    def _pads(self, shape):
        """``((top, bottom), (left, right))`` zero padding of ``padding`` for ``shape``."""
        pads = []
        for size, k, s, d in zip(shape[1:3], self.kernel_size, self.strides, self.dilation_rate):
            total = d * (k - 1)
            if self.padding == "same":  # TensorFlow's rule: the extra pixel goes last
                total = max((-(-size // s) - 1) * s + total + 1 - size, 0)
            elif self.padding == "valid":
                total = 0
            pads.append((total // 2, total - total // 2))
        return tuple(pads)

    def _conv_native(self, x, kernel, dilation, padding):
        return ops.conv(x, kernel, self.strides, padding, dilation_rate=dilation)

    def _conv_split(self, x, kernel, dilation, padding):
        xs = ops.split(x, self.groups, axis=-1)
        ks = ops.split(kernel, self.groups, axis=-1)
        ys = [self._conv_native(xi, ki, dilation, padding) for xi, ki in zip(xs, ks)]
        return ops.concatenate(ys, axis=-1)

    def _conv_depthwise(self, x, kernel, dilation, padding):
        kh, kw = kernel.shape[0], kernel.shape[1]
        multiplier = self.filters // self.in_channels
        kernel = ops.reshape(kernel, (kh, kw, self.in_channels, multiplier))
        return ops.depthwise_conv(
            x, kernel, self.strides, padding, dilation_rate=dilation
        )

    def _conv_dense(self, x, kernel, dilation, padding):
        kh, kw, per_group, _ = kernel.shape
        g = self.groups
        blocks = ops.reshape(kernel, (kh, kw, per_group, g, self.filters // g))
        mask = ops.eye(g, dtype=kernel.dtype)
        full = ops.einsum("hwigo,jg->hwjigo", blocks, mask)
        full = ops.reshape(full, (kh, kw, self.in_channels, self.filters))
        return self._conv_native(x, full, dilation, padding)

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        kernel, dilation = self._effective_kernel_and_dilation(kernel)
        if self._torch_native:
            outputs = torch_conv.conv2d_nhwc(
                inputs, kernel, self.strides, self._pads(inputs.shape), _pair(dilation, "dilation"), self.groups
            )
        else:
            inputs, padding = self._padded(inputs)
            outputs = self._conv(inputs, kernel, dilation, padding)
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        spatial = []
        for size, k, s, d in zip(
            (height, width), self.kernel_size, self.strides, self.dilation_rate
        ):
            if size is None:
                spatial.append(None)
            elif self.padding in ("same", "symmetric"):
                spatial.append(-(-size // s))
            else:
                spatial.append((size - d * (k - 1) - 1) // s + 1)
        return (batch, spatial[0], spatial[1], self.filters)

    def multiply_adds(self, input_shape):
        """Multiply-accumulates per example for ``input_shape`` (jha2020 Table 7)."""
        _, out_h, out_w, _ = self.compute_output_shape(input_shape)
        kh, kw = self.kernel_size
        per_group = input_shape[-1] // self.resolve_groups(input_shape[-1])
        return out_h * out_w * kh * kw * per_group * self.filters

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "groups": self.groups_arg,
                "group_size": self.group_size,
                "strides": self.strides,
                "padding": self.padding,
                "dilation_rate": self.dilation_rate,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
            }
        )
        return config
