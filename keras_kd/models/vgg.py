"""VGG with batch norm for CIFAR, as in the CRD / mdistiller benchmark (RepDistiller ``models/vgg.py``).

Five stages of 3x3 conv (with bias) -BN-ReLU units (``PlainConvBlock``); a 2x2 max-pool
starts stages 2, 3 and 4, and stage 5 only for 64-px inputs (RepDistiller pools before
its last stage "if h == 64", so 32-px CIFAR images reach stage 5 at 4x4); global average
pool and one dense layer (the classifier of Simonyan & Zisserman's VGG is removed). The
stage outputs are the taps ``stage1..stage5`` (RepDistiller's f0..f4, after the ReLU),
the pooled features the ``"embedding"``. Layouts (channels per conv, per stage):

* ``vgg8``: 64 | 128 | 256 | 512 | 512
* ``vgg11``: 64 | 128 | 256 256 | 512 512 | 512 512 (configuration A)
* ``vgg13``: 64 64 | 128 128 | 256 256 | 512 512 | 512 512 (B)
* ``vgg16``: 64 64 | 128 128 | 256 x3 | 512 x3 | 512 x3 (D)
* ``vgg19``: 64 64 | 128 128 | 256 x4 | 512 x4 | 512 x4 (E)

A VGG has no residual blocks: it takes no ``block=`` substitution or ``residual=`` switch,
and none of its blocks can be skipped (GKT, stochastic depth and stimulative training need
residual networks). Weights start He normal over the fan in, as the rest of the zoo
(RepDistiller: over the fan out).

``vgg_li2021`` builds li2021 Table VII's VGG11BN / VGG19BN (weiaicunzai/pytorch-cifar100
``models/vgg.py``, whose 172 / 418 MFLOPs li2021 prints): the same conv stages with a max-pool after
every stage (32 px down to 1 x 1) and Simonyan & Zisserman's classifier, dense 4096 -ReLU-dropout(0.5)
twice and a dense layer; its ``"embedding"`` is the second 4096-wide layer's output.
"""

from keras import layers

from keras_kd.api import register
from keras_kd.layers.plain_conv import PlainConvBlock
from keras_kd.models.staged import StagedNet, check_no_residual_blocks
from keras_kd.validation import check_int

LAYOUTS = {
    8: ((64,), (128,), (256,), (512,), (512,)),
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3),
    19: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


@register
class VGG(StagedNet):
    """CIFAR VGG with batch norm; see ``vgg``.

    Args:
        stage_filters: channels of each conv, per stage (5 stages).
        num_classes: size of the dense head.
        last_pool: max-pool before the last stage; ``None``: for 64-px inputs only
            (RepDistiller's rule).
        input_shape: image shape without batch.
        block: only ``"S"``: a VGG has no residual blocks to substitute (in the signature
            because every zoo model's config has it).
        residual: only ``False``: a VGG has no shortcuts to remove.
        skip_mode: see ``keras_kd.layers.skip``.
        classifier: widths of the hidden dense layers (each ReLU, dropout 0.5) after a last max-pool;
            ``()``: global average pool to the dense head (RepDistiller's).
    """

    def __init__(self, stage_filters=LAYOUTS[8], num_classes=100, last_pool=None, input_shape=(32, 32, 3),
                 block="S", residual=False, skip_mode=None, classifier=(), **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes")
        check_no_residual_blocks("A VGG", block, residual)
        self.block, self.residual = block, residual
        self.skip_mode = skip_mode
        self.stage_filters = [[int(f) for f in stage] for stage in stage_filters]
        if len(self.stage_filters) != 5 or not all(self.stage_filters):
            raise ValueError(f"`stage_filters` needs 5 non-empty stages. Received: stage_filters={stage_filters}")
        self.last_pool = input_shape[0] == 64 if last_pool is None else bool(last_pool)
        pooled = (False, True, True, True, self.last_pool)
        self.stem = []
        self.blocks = [
            PlainConvBlock(filters, pool=pooled[stage] and index == 0, skip_mode=skip_mode,
                           name=f"stage{stage + 1}_block{index + 1}")
            for stage, filters_of_stage in enumerate(self.stage_filters)
            for index, filters in enumerate(filters_of_stage)
        ]
        self.stage_sizes = [len(stage) for stage in self.stage_filters]
        self.classifier = [check_int(width, "classifier") for width in classifier]
        self.head = [layers.GlobalAveragePooling2D(name="pool")] if not self.classifier else [
            layers.MaxPooling2D(2, 2, name="pool"),
            layers.Flatten(name="flatten"),
            *(layer for index, width in enumerate(self.classifier) for layer in (
                layers.Dense(width, activation="relu", name=f"fc{index + 1}"),
                layers.Dropout(0.5, name=f"dropout{index + 1}"),
            )),
        ]
        self.head.append(layers.Dense(self.num_classes, name="logits"))
        self.build_for(input_shape)

    def get_config(self):
        return {**super().get_config(), "stage_filters": self.stage_filters, "last_pool": self.last_pool,
                "classifier": self.classifier}


def layout(depth):
    """The conv widths per stage of VGG-``depth``; raises naming ``depth`` if it has none."""
    if isinstance(depth, bool) or depth not in LAYOUTS:
        raise ValueError(f"`depth` must be one of {sorted(LAYOUTS)}. Received: depth={depth!r}")
    return LAYOUTS[depth]


def vgg(depth, num_classes, input_shape=(32, 32, 3), last_pool=None, skip_mode=None, name=None, block="S",
        residual=False):
    """Builds RepDistiller's CIFAR VGG-``depth`` with batch norm (registry names ``vgg8`` .. ``vgg19``).

    Args:
        depth: 8, 11, 13, 16 or 19.
        num_classes: size of the dense head.
        input_shape: image shape without batch (32 px CIFAR, 64 px Tiny-ImageNet).
        last_pool: see ``VGG``.
        skip_mode: see ``keras_kd.layers.skip``.
        name: model name; defaults to ``vgg<depth>``.
        block: see ``VGG`` (``"S"`` only).
        residual: see ``VGG`` (``False`` only).

    Example:

    >>> kd.models.profile(vgg(8, 100))["trainable_params"]
    3965028
    """
    return VGG(layout(depth), num_classes, last_pool, input_shape, block, residual, skip_mode,
               name=name or f"vgg{depth}")


def vgg_li2021(depth, num_classes, input_shape=(32, 32, 3), skip_mode=None, name=None, block="S", residual=False):
    """Builds li2021 Table VII's VGG-``depth`` with batch norm (registry ``vgg11-li2021``, ``vgg19-li2021``;
    see the module docstring).

    No ``last_pool``: every stage ends with a max-pool.

    Args:
        depth: as in ``vgg``.
        num_classes: as in ``vgg``.
        input_shape: as in ``vgg``.
        skip_mode: as in ``vgg``.
        name: model name; defaults to ``vgg<depth>-li2021``.
        block: as in ``vgg``.
        residual: as in ``vgg``.

    Example:

    >>> kd.models.profile(vgg_li2021(11, 10))["trainable_params"]
    28149514
    """
    return VGG(layout(depth), num_classes, True, input_shape, block, residual, skip_mode,
               classifier=(4096, 4096), name=name or f"vgg{depth}-li2021")
