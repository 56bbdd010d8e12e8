"""MobileNetV3-Large and -Small (howard2019 Tables 1 and 2), with a stride-1 stem for CIFAR.

No public code of tang2024's stimulative-training CIFAR baseline was found; this follows
howard2019's tables with the stem's stride 1 for 32-px images, every other stride as printed
(``stem="imagenet"``: stride 2, the tables at 224 px). The layers are keras.applications'
``MobileNetV3Large`` / ``MobileNetV3Small`` (alpha 1, not minimalistic), whose trainable weights
these match at 1000 classes:

* stem: 3x3 conv to 16 -BN- hard-swish;
* one ``MobileNetV3Block`` per bneck row (kernel, exp size, out, SE, NL, stride), ``LARGE_ROWS``
  / ``SMALL_ROWS``;
* head: 1x1 conv to 960 (Large) / 576 (Small) -BN- hard-swish, global average pool, dense to
  1280 / 1024 with bias, hard-swish, dropout 0.2 (keras' default: howard2019's training setup's
  "dropout of 0.8" read as a keep probability), dense to the classes. Table 2 also marks SE on
  Small's 576-channel conv; keras.applications has none there, nor has this.

Stages end where the resolution halves: a stage starts at the first row and at every stride-2
row. Large has five (sizes 1, 2, 3, 6, 3; stage1 is its first, stride-1 row at the stem's
resolution), Small four (1, 2, 5, 3). The stage outputs are the taps ``stage1..``; the
``"embedding"`` is the 1280 / 1024 hard-swish features after dropout (the identity at inference),
the input of the last dense layer. BatchNorm is the zoo's (PyTorch's momentum 0.1, epsilon 1e-5;
keras.applications: 0.999, 1e-3).
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.mobilenet_v3_block import MobileNetV3Block
from keras_kd.layers.residual_block import batch_norm
from keras_kd.models.staged import StagedNet
from keras_kd.validation import check_choice, check_int, check_number

# (kernel, exp size, out, SE, NL, stride): the bneck rows of howard2019 Table 1 (Large), Table 2 (Small).
LARGE_ROWS = (
    (3, 16, 16, False, "RE", 1),
    (3, 64, 24, False, "RE", 2),
    (3, 72, 24, False, "RE", 1),
    (5, 72, 40, True, "RE", 2),
    (5, 120, 40, True, "RE", 1),
    (5, 120, 40, True, "RE", 1),
    (3, 240, 80, False, "HS", 2),
    (3, 200, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 184, 80, False, "HS", 1),
    (3, 480, 112, True, "HS", 1),
    (3, 672, 112, True, "HS", 1),
    (5, 672, 160, True, "HS", 2),
    (5, 960, 160, True, "HS", 1),
    (5, 960, 160, True, "HS", 1),
)
SMALL_ROWS = (
    (3, 16, 16, True, "RE", 2),
    (3, 72, 24, False, "RE", 2),
    (3, 88, 24, False, "RE", 1),
    (5, 96, 40, True, "HS", 2),
    (5, 240, 40, True, "HS", 1),
    (5, 240, 40, True, "HS", 1),
    (5, 120, 48, True, "HS", 1),
    (5, 144, 48, True, "HS", 1),
    (5, 288, 96, True, "HS", 2),
    (5, 576, 96, True, "HS", 1),
    (5, 576, 96, True, "HS", 1),
)
LARGE_HEAD, SMALL_HEAD = (960, 1280), (576, 1024)  # the 1x1 conv's and the dense layer's widths
NONLINEARITIES = {"RE": "relu", "HS": "hard_swish"}
STEM_STRIDES = {"cifar": 1, "imagenet": 2}
STEM_FILTERS = 16


def check_rows(rows):
    """``rows`` as a tuple of (kernel, exp size, out, SE, NL, stride) tuples; raises naming the bad row."""
    checked = []
    for row in rows:
        if not isinstance(row, (tuple, list)) or len(row) != 6:
            raise ValueError(f"Each row is (kernel, exp size, out, SE, NL, stride). Received: row={row!r}")
        kernel, exp_size, out, se, nl, stride = row
        checked.append((check_int(kernel, "kernel"), check_int(exp_size, "exp_size"), check_int(out, "out"),
                        check_choice(se, "SE", (True, False)), check_choice(nl, "NL", tuple(NONLINEARITIES)),
                        check_int(stride, "stride")))
    if not checked:
        raise ValueError(f"`rows` needs at least one row. Received: rows={rows!r}")
    return tuple(checked)


def stage_sizes(rows):
    """Blocks per stage: a stage starts at the first row and at every row with a stride above 1."""
    sizes = []
    for index, row in enumerate(rows):
        if index == 0 or row[5] > 1:
            sizes.append(0)
        sizes[-1] += 1
    return sizes


@register
class MobileNetV3(StagedNet):
    """MobileNetV3; see ``mobilenet_v3_large`` and ``mobilenet_v3_small``.

    Args:
        num_classes: size of the dense head.
        block: the depthwise convs' grouping (``MobileNetV3Block``).
        residual: ``False`` drops the identity adds (jha2020's NR).
        input_shape: image (or feature map) shape without batch.
        skip_mode: see ``keras_kd.layers.skip``.
        rows: (kernel, exp size, out, SE, NL, stride) bneck rows; ``NL`` is ``"RE"`` or ``"HS"``.
        head_filters: widths of the head's 1x1 conv and of its hidden dense layer.
        dropout: rate before the last dense layer.
        stem: ``"cifar"`` (3x3 stride-1 conv to 16), ``"imagenet"`` (stride 2) or ``None`` (no
            stem, the input is a feature map).
    """

    def __init__(self, num_classes=100, block="G(N)", residual=True, input_shape=(32, 32, 3), skip_mode=None,
                 rows=LARGE_ROWS, head_filters=LARGE_HEAD, dropout=0.2, stem="cifar", **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        self.residual = check_choice(residual, "residual", (True, False))
        self.skip_mode, self.rows = skip_mode, check_rows(rows)
        if not isinstance(head_filters, (tuple, list)) or len(head_filters) != 2:
            raise ValueError(f"`head_filters` is (conv width, dense width). Received: head_filters={head_filters!r}")
        self.head_filters = tuple(check_int(width, "head_filters") for width in head_filters)
        self.dropout = check_number(dropout, "dropout", 0, 1, high_open=True)
        self.stem_kind = check_choice(stem, "stem", STEM_STRIDES, allow_none=True)
        self.stem = [] if stem is None else [
            layers.ZeroPadding2D(1, name="stem_pad"),
            layers.Conv2D(STEM_FILTERS, 3, strides=STEM_STRIDES[stem], use_bias=False,
                          kernel_initializer="he_normal", name="stem_conv"),
            batch_norm("stem_bn"),
            layers.Activation("hard_swish", name="stem_hard_swish"),
        ]
        self.stage_sizes = stage_sizes(self.rows)
        names = [f"stage{stage + 1}_block{index + 1}" for stage, size in enumerate(self.stage_sizes)
                 for index in range(size)]
        self.blocks = [
            MobileNetV3Block(out, exp_size, kernel, stride, se, NONLINEARITIES[nl], block=block, residual=residual,
                             skip_mode=skip_mode, name=name)
            for (kernel, exp_size, out, se, nl, stride), name in zip(self.rows, names)
        ]
        self.block = str(self.blocks[0].spec)
        conv_width, dense_width = self.head_filters
        self.head = [
            layers.Conv2D(conv_width, 1, use_bias=False, kernel_initializer="he_normal", name="head_conv"),
            batch_norm("head_bn"),
            layers.Activation("hard_swish", name="head_hard_swish"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dense(dense_width, name="head_dense"),
            layers.Activation("hard_swish", name="head_dense_hard_swish"),
            layers.Dropout(self.dropout, name="dropout"),
            layers.Dense(self.num_classes, name="logits"),
        ]
        self.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "rows": self.rows, "head_filters": self.head_filters,
                "dropout": self.dropout, "stem": self.stem_kind}


def _build(rows, head, num_classes, block, residual, input_shape, skip_mode, stem, dropout, name):
    check_choice(stem, "stem", STEM_STRIDES)
    input_shape = input_shape or ((224, 224, 3) if stem == "imagenet" else (32, 32, 3))
    return MobileNetV3(num_classes, block, residual, input_shape, skip_mode, rows=rows, head_filters=head,
                       dropout=dropout, stem=stem, name=name)


def mobilenet_v3_large(num_classes, block="G(N)", residual=True, input_shape=None, skip_mode=None, stem="cifar",
                       dropout=0.2, name="mobilenet-v3-large"):
    """Builds MobileNetV3-Large (howard2019 Table 1; registry ``mobilenet-v3-large``; see the module docstring).

    Args:
        num_classes: size of the dense head.
        block: see ``MobileNetV3Block``.
        residual: ``False`` drops the identity adds (jha2020's NR).
        input_shape: image shape without batch; ``None``: 32 px for the CIFAR stem, 224 px
            for the ImageNet one.
        skip_mode: see ``keras_kd.layers.skip``.
        stem: ``"cifar"`` (stride 1) or ``"imagenet"`` (stride 2).
        dropout: rate before the last dense layer (keras.applications' 0.2).
        name: model name.

    Example (keras.applications.MobileNetV3Large's trainable weights at 1000 classes):

    >>> kd.models.profile(mobilenet_v3_large(1000, stem="imagenet"))["trainable_params"]
    5483032
    """
    return _build(LARGE_ROWS, LARGE_HEAD, num_classes, block, residual, input_shape, skip_mode, stem, dropout, name)


def mobilenet_v3_small(num_classes, block="G(N)", residual=True, input_shape=None, skip_mode=None, stem="cifar",
                       dropout=0.2, name="mobilenet-v3-small"):
    """Builds MobileNetV3-Small (howard2019 Table 2; registry ``mobilenet-v3-small``; see the module docstring).

    Args:
        num_classes: as in ``mobilenet_v3_large``.
        block: as in ``mobilenet_v3_large``.
        residual: as in ``mobilenet_v3_large``.
        input_shape: as in ``mobilenet_v3_large``.
        skip_mode: as in ``mobilenet_v3_large``.
        stem: as in ``mobilenet_v3_large``.
        dropout: as in ``mobilenet_v3_large``.
        name: model name.

    Example (keras.applications.MobileNetV3Small's trainable weights at 1000 classes):

    >>> kd.models.profile(mobilenet_v3_small(1000, stem="imagenet"))["trainable_params"]
    2542856
    """
    return _build(SMALL_ROWS, SMALL_HEAD, num_classes, block, residual, input_shape, skip_mode, stem, dropout, name)
