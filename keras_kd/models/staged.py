"""Base class of the zoo: stem, stages of switchable blocks, head.

One forward pass yields the logits and the named taps: the stage outputs
``stage1..n`` (the attention-transfer taps of crowley2018 §4.1) and the
``"embedding"``, the pooled features the classifier reads (the input of the
last head layer), for relational and contrastive terms. On request (``extra_taps``), the extra taps
(``extra_tap_shapes``): ``"stem"``, the stem's output (FSP), and, where the stage's last block offers
it, ``stage<i>_preact``, the stage output before its final ReLU (AB, OFD, ReviewKD). The stage/block
structure is exposed so a trainer can switch blocks off per step.
"""

import keras
from keras import layers

from keras_kd.layers.residual_block import batch_norm

EMBEDDING = "embedding"
STEM = "stem"
PREACT_SUFFIX = "_preact"


def preact_tap(stage_tap):
    """The name of a stage tap's pre-activation twin: ``stage2`` -> ``stage2_preact``."""
    return stage_tap + PREACT_SUFFIX


def is_extra_tap(name):
    """Whether a tap is computed on request only and left out of default tap matching: the stem
    output or a pre-activation tap."""
    return name == STEM or name.endswith(PREACT_SUFFIX)


def plain_stem(rows):
    """Stem layers of ``(filters, kernel, padding)`` rows: each a zero padding, a stride-1 conv without bias
    (He normal) -BN-ReLU, named ``stem_<pad|conv|bn|relu><row number>``."""
    return [
        layer
        for index, (filters, kernel, pad) in enumerate(rows)
        for layer in (
            layers.ZeroPadding2D(pad, name=f"stem_pad{index + 1}"),
            layers.Conv2D(filters, kernel, use_bias=False, kernel_initializer="he_normal",
                          name=f"stem_conv{index + 1}"),
            batch_norm(f"stem_bn{index + 1}"),
            layers.Activation("relu", name=f"stem_relu{index + 1}"),
        )
    ]


def check_no_residual_blocks(network, block, residual):
    """Raises naming ``block`` and ``residual`` unless they are ``"S"`` and ``False``: ``network``
    (``"A VGG"``, ``"A DenseNet"``) has no residual blocks to substitute or shortcuts to remove."""
    if block != "S" or residual is not False:
        raise ValueError(
            f"{network} has no residual blocks: no cheap-conv substitution (block='S' only) and no shortcuts to "
            f"remove (residual=False only). Received: block={block!r}, residual={residual!r}"
        )


class StagedNet(keras.Model):
    """A classifier built as ``stem -> stages of blocks -> head``.

    Subclasses set ``num_classes``, ``block``, ``residual`` (shared config)
    and ``skip_mode`` (a runtime choice, not saved), create ``self.stem`` (layers applied in
    order), ``self.blocks`` (all blocks, stage by stage),
    ``self.stage_sizes`` (blocks per stage) and ``self.head`` (layers applied
    in order), then call ``self.build_for(input_shape)``.

    Call args:
        inputs: images (batch, height, width, channels).
        training: Python bool.
        block_gates: optional sequence with one entry per block (see
            ``SwitchableResidualBlock``): ``None``/``True`` runs a block,
            ``False`` or a false scalar tensor skips it. Only blocks whose
            ``can_skip`` is true may be skipped.
        branch_scales: optional sequence with one entry per block:
            ``None`` or a factor of that block's residual branch this call
            (inverted stochastic depth, ``keras_kd.StochasticDepth``).
    """

    def build_for(self, input_shape):
        self.input_shape_arg = tuple(input_shape)
        self.build((None,) + self.input_shape_arg)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stem:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.tap_shapes, self.extra_tap_shapes, index = {}, {}, 0
        if self.stem:
            self.extra_tap_shapes[STEM] = shape
        for name, size in zip(self.stage_names, self.stage_sizes):
            for block in self.blocks[index : index + size]:
                block.build(shape)
                shape = block.compute_output_shape(shape)
            self.tap_shapes[name] = shape
            if self.blocks[index + size - 1].offers_preactivation:
                self.extra_tap_shapes[preact_tap(name)] = shape
            index += size
        for layer in self.head:
            if layer is self.head[-1]:
                self.tap_shapes[EMBEDDING] = shape
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self.output_shape_ = shape
        self.built = True

    @property
    def stage_names(self):
        return [f"stage{i + 1}" for i in range(len(self.stage_sizes))]

    @property
    def stages(self):
        """Blocks grouped by stage: a list of lists."""
        grouped, start = [], 0
        for size in self.stage_sizes:
            grouped.append(list(self.blocks[start : start + size]))
            start += size
        return grouped

    @property
    def skippable(self):
        """One bool per block: may it be skipped (identity shortcut)?"""
        return [block.can_skip for block in self.blocks]

    def call_with_features(self, inputs, training=None, block_gates=None, branch_scales=None, extra_taps=False):
        """Logits and ``{tap name: tensor}`` from one forward pass: each stage's
        output and the ``"embedding"``; with ``extra_taps``, also each ``extra_tap_shapes`` tap
        (``"stem"``, and ``stage<i>_preact``: the stage's last block before its final activation)."""
        gates = self._per_block(block_gates, "block_gates")
        scales = self._per_block(branch_scales, "branch_scales")
        x = inputs
        for layer in self.stem:
            x = layer(x, training=training)
        features, index = {STEM: x} if extra_taps and self.stem else {}, 0
        for name, size in zip(self.stage_names, self.stage_sizes):
            for _ in range(size - 1):
                x = self.blocks[index](x, training=training, gate=gates[index], branch_scale=scales[index])
                index += 1
            block, tap = self.blocks[index], preact_tap(name)
            if extra_taps and tap in self.extra_tap_shapes:
                if gates[index] is not None and gates[index] is not True:
                    raise ValueError(f"The pre-activation tap {tap!r} needs block {block.name!r} to run. "
                                     f"Received: block_gates[{index}]={gates[index]!r}")
                x, features[tap] = block.run_with_preactivation(x, training=training, branch_scale=scales[index])
            else:
                x = block(x, training=training, gate=gates[index], branch_scale=scales[index])
            index += 1
            features[name] = x
        for layer in self.head[:-1]:
            x = layer(x, training=training)
        features[EMBEDDING] = x
        return self.head[-1](x, training=training), features

    def call(self, inputs, training=None, block_gates=None, branch_scales=None):
        return self.call_with_features(inputs, training, block_gates, branch_scales)[0]

    def _per_block(self, values, name):
        """``values`` as a list with one entry per block (``None``: all ``None``)."""
        if values is None:
            return [None] * len(self.blocks)
        values = list(values)
        if len(values) != len(self.blocks):
            raise ValueError(
                f"`{name}` needs one entry per block ({len(self.blocks)}). "
                f"Received {len(values)} entries: {name}={values}"
            )
        return values

    def compute_output_shape(self, input_shape):
        return self.output_shape_

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "block": self.block,
                "residual": self.residual,
                "input_shape": self.input_shape_arg,
            }
        )
        return config
