"""Cheap convolution block notation (crowley2018 Table 1, jha2020 App. A).

A block is named by the paper's notation or by a ``BlockSpec``; both build
the same layers.

========================  ==================================================
notation                  meaning
========================  ==================================================
``"S"``                   standard block: two 3x3 convs
``"S-2x2"``               standard block with 2x2 kernels, dilation 2
``"G(g)"`` / ``"g4"``     each 3x3 -> 3x3 conv with g groups + BN-ReLU + 1x1
``"G(N/k)"`` / ``"G16"``  same, k channels per group (``"G(N)"``: depthwise)
``"B(b)"``                bottleneck: 1x1 (->out/b), 3x3, 1x1 (->out)
``"BG(b,g)"``             bottleneck whose 3x3 has g groups
``"BG(b,M/k)"``           bottleneck whose 3x3 has k channels per group
========================  ==================================================

The lower-case ``g<int>`` and upper-case ``G<int>`` forms are jha2020's names
for "constant g" and "constant G" grouped convs followed by a 1x1.
"""

import dataclasses
import re

from keras_kd.validation import check_choice, check_int

KINDS = ("S", "S-2x2", "G", "B", "BG")

_GROUPING = r"(?:(?P<groups>\d+)|(?P<width>[NM])(?:/(?P<divisor>\d+))?)"
_PATTERNS = (
    (re.compile(r"S"), "S"),
    (re.compile(r"S-2x2"), "S-2x2"),
    (re.compile(r"G\(" + _GROUPING + r"\)"), "G"),
    (re.compile(r"B\((?P<bottleneck>\d+)\)"), "B"),
    (re.compile(r"BG\((?P<bottleneck>\d+),\s*" + _GROUPING + r"\)"), "BG"),
    (re.compile(r"g(?P<groups>\d+)"), "G"),
    (re.compile(r"G(?P<divisor>\d+)"), "G"),
)


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """Which convolutions a block uses.

    Args:
        kind: one of ``"S"``, ``"S-2x2"``, ``"G"``, ``"B"``, ``"BG"``.
        groups: constant number of groups g of the grouped 3x3 (G, BG).
        group_size: constant channels per group of the grouped 3x3 (G, BG);
            exactly one of ``groups``/``group_size`` for G and BG.
        bottleneck: channel contraction b of B and BG blocks.

    Example:

    >>> BlockSpec("G", group_size=8) == parse_block("G(N/8)")
    True
    """

    kind: str = "S"
    groups: int = None
    group_size: int = None
    bottleneck: int = None

    def __post_init__(self):
        check_choice(self.kind, "kind", KINDS)
        grouped = self.kind in ("G", "BG")
        if grouped and (self.groups is None) == (self.group_size is None):
            raise ValueError(
                f"A {self.kind} block needs exactly one of `groups` and "
                f"`group_size`. Received: groups={self.groups}, "
                f"group_size={self.group_size}"
            )
        if not grouped and (self.groups is not None or self.group_size is not None):
            raise ValueError(
                f"A {self.kind} block has no grouped conv. Received: "
                f"groups={self.groups}, group_size={self.group_size}"
            )
        needs_bottleneck = self.kind in ("B", "BG")
        if needs_bottleneck != (self.bottleneck is not None):
            raise ValueError(
                f"`bottleneck` is required for B and BG blocks only. Received: "
                f"kind={self.kind!r}, bottleneck={self.bottleneck}"
            )
        for name in ("groups", "group_size", "bottleneck"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, check_int(getattr(self, name), name))

    def grouping(self):
        """``{"groups": g}`` or ``{"group_size": G}`` for the grouped 3x3."""
        if self.groups is not None:
            return {"groups": self.groups}
        return {"group_size": self.group_size}

    def __str__(self):
        if self.kind in ("S", "S-2x2"):
            return self.kind
        width = "N" if self.kind == "G" else "M"
        if self.groups is not None:
            grouping = str(self.groups)
        elif self.group_size == 1:
            grouping = width
        else:
            grouping = f"{width}/{self.group_size}"
        if self.kind == "G":
            return f"G({grouping})"
        if self.kind == "B":
            return f"B({self.bottleneck})"
        return f"BG({self.bottleneck},{grouping})"


def parse_block(block):
    """Returns the ``BlockSpec`` for a notation string or a ``BlockSpec``.

    Args:
        block: a notation string (``"S"``, ``"G(4)"``, ``"BG(2,M/8)"``, ``"g4"``...) or a ``BlockSpec``
            (returned as is).

    Raises:
        ValueError: naming the received value when the notation is unknown.
    """
    if isinstance(block, BlockSpec):
        return block
    if isinstance(block, str):
        text = block.strip()
        for pattern, kind in _PATTERNS:
            match = pattern.fullmatch(text)
            if match:
                return _spec_from_match(kind, match.groupdict(), block)
    raise ValueError(
        "`block` must be a BlockSpec or one of the notations S, S-2x2, G(g), "
        "G(N/k), G(N), B(b), BG(b,g), BG(b,M/k), BG(b,M), g<int>, G<int>. "
        f"Received: block={block!r}"
    )


def parse_grouped_block(block, owner):
    """``parse_block(block)`` for blocks whose one 3x3 conv is grouped (``owner``'s, e.g.
    MobileNet blocks); raises naming the value unless it is a G notation."""
    spec = parse_block(block)
    if spec.kind != "G":
        raise ValueError(
            f"{owner} take a grouped-conv notation (G(N), g<int>, G<int>, G(g), G(N/k)). "
            f"Received: block={str(spec)!r}"
        )
    return spec


def _spec_from_match(kind, parts, original):
    if parts.get("width") and parts["width"] != ("N" if kind == "G" else "M"):
        raise ValueError(
            f"Use N in G blocks and M in BG blocks. Received: block={original!r}"
        )
    groups = parts.get("groups")
    divisor = parts.get("divisor")
    group_size = None
    if kind in ("G", "BG") and groups is None:
        group_size = int(divisor) if divisor else 1
    bottleneck = parts.get("bottleneck")
    return BlockSpec(
        kind,
        groups=int(groups) if groups else None,
        group_size=group_size,
        bottleneck=int(bottleneck) if bottleneck else None,
    )
