"""Argument checks shared by every keras_kd module: one rule, one message."""

import math
import numbers


def check_number(value, name, low, high, low_open=False, high_open=False):
    """``float(value)``; raises ValueError naming ``name`` unless it is a real
    number (Python or NumPy scalar, not a bool) in the interval."""
    bad = isinstance(value, bool) or not isinstance(value, numbers.Real)
    bad = bad or value < low or (low_open and value == low)
    bad = bad or value > high or (high_open and value == high)
    if bad:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise ValueError(f"`{name}` must be a number in {interval}. Received: {name}={value!r}")
    return float(value)


def check_non_negative(value, name):
    """``float(value)``; raises ValueError naming ``name`` unless it is a number >= 0."""
    return check_number(value, name, 0, math.inf)


def check_int(value, name, low=1):
    """``int(value)``; raises ValueError naming ``name`` unless it is an integer
    (Python or NumPy, not a bool) >= ``low`` (any integer for ``low=None``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (low is not None and value < low):
        bound = "" if low is None else f" >= {low}"
        raise ValueError(f"`{name}` must be an int{bound}. Received: {name}={value!r}")
    return int(value)


def check_choice(value, name, choices, allow_none=False):
    """``value``; raises ValueError naming ``name`` unless it is one of ``choices``
    (a tuple, list or dict's keys; or None when ``allow_none``)."""
    choices = tuple(choices)
    if value is None and allow_none:
        return value
    # Same type first: an array is never a choice, even one whose `==` is truthy.
    if not any(isinstance(value, type(choice)) and value == choice for choice in choices):
        none = " or None" if allow_none else ""
        raise ValueError(f"`{name}` must be one of {choices}{none}. Received: {name}={value!r}")
    return value
