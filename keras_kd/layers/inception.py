"""Inception modules (szegedy2016, Figs. 5-7 and 10), described as data: each branch a list of steps.

A step is ``["conv", filters, [kh, kw], stride, [ph, pw]]`` (zero padding ph / pw on each side, conv
without bias -BN-ReLU), ``["avg", size, stride, pad]`` (average pool whose zero padding counts in the
average, torch's ``count_include_pad``), ``["max", size, stride]`` or ``["fork", steps, steps]`` (two
branches on the same input, concatenated). The branches' outputs are concatenated in order.
"""

from keras import layers, ops

from keras_kd.api import register
from keras_kd.layers import skip
from keras_kd.layers.chain import build_chain, run_chain
from keras_kd.layers.residual_block import batch_norm


def conv(filters, kernel=1, stride=1, pad=None):
    """A conv step; ``pad=None`` keeps the size at stride 1 (``(k - 1) / 2`` on each side)."""
    kernel = [kernel, kernel] if isinstance(kernel, int) else list(kernel)
    pad = [(k - 1) // 2 for k in kernel] if pad is None else ([pad, pad] if isinstance(pad, int) else list(pad))
    return ["conv", filters, kernel, stride, pad]


def step_layers(step, name):
    """The Keras layers of one non-fork step, applied in order."""
    kind = step[0]
    if kind == "conv":
        _, filters, kernel, stride, (pad_h, pad_w) = step
        return [
            layers.ZeroPadding2D(((pad_h, pad_h), (pad_w, pad_w)), name=f"{name}_pad"),
            layers.Conv2D(filters, tuple(kernel), strides=stride, use_bias=False, kernel_initializer="he_normal",
                          name=f"{name}_conv"),
            batch_norm(f"{name}_bn"),
            layers.Activation("relu", name=f"{name}_relu"),
        ]
    if kind == "avg":
        _, size, stride, pad = step
        return [layers.ZeroPadding2D(pad, name=f"{name}_pad"), layers.AveragePooling2D(size, stride, name=name)]
    if kind == "max":
        return [layers.MaxPooling2D(step[1], step[2], name=name)]
    raise ValueError(f"Unknown Inception step kind: {step!r}")


@register
class InceptionModule(skip.UnskippableBlock):
    """Parallel branches of conv / pool steps, concatenated (see the module docstring).

    Args:
        branches: a list of branches, each a list of steps.
        skip_mode: see ``keras_kd.layers.skip`` (never skipped: no shortcut).
    """

    def __init__(self, branches, skip_mode=None, **kwargs):
        super().__init__(skip_mode=skip_mode, **kwargs)
        if not branches or not all(isinstance(branch, (list, tuple)) and branch for branch in branches):
            raise ValueError(f"`branches` needs non-empty lists of steps. Received: branches={branches!r}")
        self.branches = [[list(step) for step in branch] for branch in branches]
        self.strides = 1

    def build(self, input_shape):
        self.paths = [self._build_branch(branch, input_shape, f"b{i + 1}") for i, branch in enumerate(self.branches)]
        shapes = [shape for _, shape in self.paths]
        self.filters = sum(shape[-1] for shape in shapes)
        self.output_shape_ = shapes[0][:-1] + (self.filters,)

    def _build_branch(self, branch, shape, name):
        """``(nested layers, output shape)``: a list per step, a pair of sub-branches for a fork."""
        built = []
        for index, step in enumerate(branch):
            step_name = f"{name}_{index + 1}"
            if step[0] == "fork":
                forks = [self._build_branch(sub, shape, f"{step_name}{part}") for part, sub in zip("ab", step[1:])]
                built.append(("fork", [layers_of for layers_of, _ in forks]))
                shape = forks[0][1][:-1] + (sum(out[-1] for _, out in forks),)
                continue
            chain = step_layers(step, step_name)
            shape = build_chain(chain, shape)
            built.append(("chain", chain))
        return built, tuple(shape)

    def _run_branch(self, built, x, training):
        for kind, content in built:
            if kind == "fork":
                x = ops.concatenate([self._run_branch(sub, x, training) for sub in content], axis=-1)
            else:
                x = run_chain(content, x, training)
        return x

    def body(self, inputs, training):
        return ops.concatenate([self._run_branch(built, inputs, training) for built, _ in self.paths], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(self.output_shape_[1:])

    def get_config(self):
        return {**super().get_config(), "branches": self.branches}

