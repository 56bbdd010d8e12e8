"""Search-space knobs: a fixed value, a list of choices or a ``Range``.

Every tunable argument of the hypermodels takes one of

* a scalar (number, string, bool): fixed, recorded as ``hp.Fixed``;
* a list or tuple: the choices of ``hp.Choice``;
* ``Range(min, max)``: ``hp.Int`` (int bounds) or ``hp.Float``, optionally
  on a log scale or with a step;
* ``None`` where the argument allows it: the knob is off.

A hypermodel's default is wrapped in ``Default`` so that it can tell a knob
left at its default from the same value passed on purpose.
"""

import dataclasses
import math
import numbers

from keras_kd.layers.block_spec import BlockSpec, KINDS

GROUPED = ("G", "BG")
BOTTLENECKED = ("B", "BG")


@dataclasses.dataclass(frozen=True)
class Range:
    """A numeric interval searched as ``hp.Int`` (int bounds) or ``hp.Float``.

    Args:
        min: lower bound (inclusive).
        max: upper bound (inclusive), > ``min``.
        step: optional spacing of the values.
        log: sample on a log scale (needs ``min > 0``).

    Example:

    >>> Range(1.0, 16.0, log=True)  # temperature 1..16, log-uniform
    Range(min=1.0, max=16.0, step=None, log=True)
    """

    min: float
    max: float
    step: float = None
    log: bool = False

    def __post_init__(self):
        for name in ("min", "max"):
            value = getattr(self, name)
            if not _number(value) or not math.isfinite(value):
                raise ValueError(f"Range `{name}` must be a finite number. Received: {name}={value!r}")
        if self.min >= self.max:
            raise ValueError(f"Range needs min < max. Received: min={self.min!r}, max={self.max!r}")
        if self.log and self.min <= 0:
            raise ValueError(f"A log Range needs min > 0. Received: min={self.min!r}")

    def is_int(self):
        return all(_integer(v) for v in (self.min, self.max)) and (self.step is None or _integer(self.step))


@dataclasses.dataclass(frozen=True)
class Default:
    """A knob left at its default ``value`` (not passed by the user)."""

    value: object


def unwrap(knob):
    """``(knob value, passed explicitly)`` for a knob that may be a ``Default``."""
    return (knob.value, False) if isinstance(knob, Default) else (knob, True)


def knob_values(knob):
    """The values a knob can take: a Range's bounds, the choices, or the fixed value."""
    if isinstance(knob, Range):
        return [knob.min, knob.max]
    if isinstance(knob, (list, tuple)):
        return list(knob)
    return [knob]


def check_knob(value, name, check, allow_none=False, expected=None):
    """Validates a knob; ``check(v)`` is applied to every value it can take.

    ``expected`` (e.g. the valid choices) is quoted in the error.

    Raises:
        ValueError: naming ``name`` and the received value.
    """
    if value is None:
        if allow_none:
            return
        raise ValueError(f"`{name}` cannot be None. Received: {name}=None")
    if isinstance(value, (list, tuple)) and not value:
        raise ValueError(f"`{name}` needs at least one choice. Received: {name}={value!r}")
    hint = f" (expected {expected})" if expected else ""
    for item in knob_values(value):
        if not check(item):
            raise ValueError(f"`{name}` has an invalid value {item!r}{hint}. Received: {name}={value!r}")


def sample(hp, name, knob):
    """Registers ``knob`` as hyperparameter ``name`` in ``hp``; returns its value."""
    if isinstance(knob, Range):
        kind = hp.Int if knob.is_int() else hp.Float
        low, high, step = (python_scalar(v) for v in (knob.min, knob.max, knob.step))
        return kind(name, low, high, step=step, sampling="log" if knob.log else "linear")
    if isinstance(knob, (list, tuple)):
        knob = [python_scalar(v) for v in knob]
        if {type(v) for v in knob} == {int, float}:
            knob = [float(v) for v in knob]  # keras_tuner.Choice needs one type
        return hp.Choice(name, knob) if len(knob) > 1 else hp.Fixed(name, knob[0])
    return hp.Fixed(name, python_scalar(knob))


def python_scalar(value):
    """``value`` with a NumPy number as the Python int or float keras_tuner takes."""
    if _integer(value):
        return int(value)
    return float(value) if _number(value) else value


def _integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_positive_int(value):
    """Whether ``value`` is an integer >= 1 (Python or NumPy, not a bool)."""
    return _integer(value) and value >= 1


def positive_number(value):
    return _number(value) and value > 0


def non_negative_number(value):
    return _number(value) and value >= 0


def unit_interval(value):
    return _number(value) and 0 <= value <= 1


@dataclasses.dataclass(frozen=True)
class ArchitectureSpace:
    """The student's cheap-convolution knobs (crowley2018 Table 1, jha2020).

    Args:
        blocks: block kind(s) among ``"S"``, ``"S-2x2"``, ``"G"``, ``"B"``,
            ``"BG"``; ``None``: no block knob (nor groups / bottleneck), the
            network's own block.
        groups: constant number of groups g of the grouped 3x3 (G, BG).
        group_size: constant channels per group G of the grouped 3x3.
            When both ``groups`` and ``group_size`` are set, a ``grouping``
            choice picks one per trial; at least one is needed for G / BG.
        bottleneck: contraction b of B and BG blocks.
        residual: shortcut on (``True``) / off (``False``, jha2020's NR);
            ``None``: no residual knob.

    ``groups``, ``group_size`` and ``grouping`` are active only when the
    block is grouped, ``bottleneck`` only for B and BG blocks.
    """

    blocks: object = ("S", "G", "B", "BG")
    groups: object = (2, 4)
    group_size: object = None
    bottleneck: object = (2, 4)
    residual: object = True

    def __post_init__(self):
        check_knob(self.blocks, "blocks", allow_none=True, check=lambda v: isinstance(v, str) and v in KINDS)
        check_knob(self.groups, "groups", allow_none=True, check=is_positive_int)
        check_knob(self.group_size, "group_size", allow_none=True, check=is_positive_int)
        check_knob(self.bottleneck, "bottleneck", allow_none=True, check=is_positive_int)
        check_knob(self.residual, "residual", allow_none=True, check=lambda v: isinstance(v, bool))
        kinds = self.kinds()
        if set(kinds) & set(GROUPED) and self.groups is None and self.group_size is None:
            raise ValueError(
                f"Grouped blocks need `groups` or `group_size`. Received: blocks={self.blocks!r}, "
                "groups=None, group_size=None"
            )
        if set(kinds) & set(BOTTLENECKED) and self.bottleneck is None:
            raise ValueError(f"B and BG blocks need `bottleneck`. Received: blocks={self.blocks!r}, bottleneck=None")

    def kinds(self):
        return [] if self.blocks is None else knob_values(self.blocks)

    def sample(self, hp):
        """``(block notation, residual)`` for ``hp``, e.g. ``("BG(2,4)", True)``;
        ``None`` for a knob that is off."""
        block = None if self.blocks is None else self._block(hp)
        return block, None if self.residual is None else sample(hp, "residual", self.residual)

    def _block(self, hp):
        """The block notation for ``hp``."""
        kind = sample(hp, "block", self.blocks)
        grouping, bottleneck = {}, None
        if set(self.kinds()) & set(GROUPED):
            with hp.conditional_scope("block", list(GROUPED)):
                grouping = self._grouping(hp)
        if set(self.kinds()) & set(BOTTLENECKED):
            with hp.conditional_scope("block", list(BOTTLENECKED)):
                bottleneck = sample(hp, "bottleneck", self.bottleneck)
        return str(BlockSpec(kind, bottleneck=bottleneck, **grouping))

    def _grouping(self, hp):
        """``{"groups": g}`` or ``{"group_size": G}``; ``{}`` when inactive."""
        options = [name for name in ("groups", "group_size") if getattr(self, name) is not None]
        if len(options) == 1:
            values = {options[0]: sample(hp, options[0], getattr(self, options[0]))}
        else:
            hp.Choice("grouping", options)
            values = {}
            for name in options:
                with hp.conditional_scope("grouping", [name]):
                    values[name] = sample(hp, name, getattr(self, name))
        return {name: value for name, value in values.items() if value is not None}
