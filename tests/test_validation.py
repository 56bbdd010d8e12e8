"""keras_kd.validation: NumPy scalars pass as numbers, bools do not, one message form."""

import re

import numpy as np
import pytest

from keras_kd.validation import check_choice, check_int, check_number


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.5), np.float64(1.0), np.int64(1)])
def test_check_number_takes_python_and_numpy_numbers(value):
    result = check_number(value, "tau", 0, 1, low_open=True)
    assert type(result) is float and result == float(value)


@pytest.mark.parametrize(
    "value, message",
    [
        (True, "`tau` must be a number in (0, 1]. Received: tau=True"),
        (np.float32(0.0), "`tau` must be a number in (0, 1]. Received: tau=np.float32(0.0)"),
        (1.5, "`tau` must be a number in (0, 1]. Received: tau=1.5"),
        ("0.5", "`tau` must be a number in (0, 1]. Received: tau='0.5'"),
    ],
)
def test_check_number_refuses_with_the_interval_and_value(value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_number(value, "tau", 0, 1, low_open=True)


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_check_int_takes_python_and_numpy_integers(value):
    result = check_int(value, "epochs")
    assert type(result) is int and result == 3


@pytest.mark.parametrize(
    "value, low, message",
    [
        (True, 1, "`epochs` must be an int >= 1. Received: epochs=True"),
        (np.int64(0), 1, "`epochs` must be an int >= 1. Received: epochs=np.int64(0)"),
        (2.0, 1, "`epochs` must be an int >= 1. Received: epochs=2.0"),
        (False, None, "`epochs` must be an int. Received: epochs=False"),
    ],
)
def test_check_int_refuses_with_the_bound_and_value(value, low, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_int(value, "epochs", low=low)


def test_check_int_without_bound_takes_negatives():
    assert check_int(np.int8(-2), "offset", low=None) == -2


@pytest.mark.parametrize("choices", [("sum", "mean"), ["sum", "mean"], {"sum": 0, "mean": 1}])
def test_check_choice_takes_a_choice_of_a_tuple_list_or_dict(choices):
    assert check_choice("mean", "reduction", choices) == "mean"
    assert check_choice(np.str_("sum"), "reduction", choices) == "sum"


@pytest.mark.parametrize(
    "value, allow_none, message",
    [
        ("max", False, "`reduction` must be one of ('sum', 'mean'). Received: reduction='max'"),
        (None, False, "`reduction` must be one of ('sum', 'mean'). Received: reduction=None"),
        (True, True, "`reduction` must be one of ('sum', 'mean') or None. Received: reduction=True"),
        (["sum"], False, "`reduction` must be one of ('sum', 'mean'). Received: reduction=['sum']"),
    ],
)
def test_check_choice_refuses_with_the_choices_and_value(value, allow_none, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check_choice(value, "reduction", {"sum": 0, "mean": 1}, allow_none=allow_none)


def test_check_choice_allows_none_only_when_asked():
    assert check_choice(None, "update", ("sequential",), allow_none=True) is None


def test_check_choice_refuses_an_array_without_comparing_it():
    with pytest.raises(ValueError, match=re.escape("Received: split=array(['train'], dtype='<U5')")):
        check_choice(np.array(["train"]), "split", ("train", "test"))
