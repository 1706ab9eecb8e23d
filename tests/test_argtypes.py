import argparse

import pytest

from samem.argtypes import (
    float_pair,
    fraction,
    int_list,
    int_pair,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    zoom_choice,
)


@pytest.mark.parametrize(
    ("parse", "text", "value"),
    [(positive_float, "0.5", 0.5), (non_negative_float, "0", 0.0), (positive_int, "3", 3), (non_negative_int, "0", 0),
     (zoom_choice, "auto", "auto"), (zoom_choice, "off", None), (zoom_choice, "4", 4.0), (zoom_choice, "1", 1.0),
     (int_pair, "512,1024", (512, 1024)), (int_pair, "64,64", (64, 64)), (float_pair, "3,10.5", (3.0, 10.5)),
     (fraction, "0", 0.0), (fraction, "1", 1.0), (fraction, "0.6", 0.6)],
)
def test_good_values_are_parsed(parse, text, value) -> None:
    assert parse(text) == value


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (positive_float, "0", "must be a number > 0"),
        (positive_float, "-1", "must be a number > 0"),
        (positive_float, "nan", "finite"),
        (positive_float, "inf", "finite"),
        (positive_float, "abc", "is not a number"),
        (non_negative_float, "-0.1", ">= 0"),
        (fraction, "1.01", "between 0 and 1"),
        (fraction, "-0.1", ">= 0"),
        (positive_int, "0", "integer > 0"),
        (positive_int, "1.5", "is not an integer"),
        (non_negative_int, "-1", "integer >= 0"),
        (int_list, "1,x", "comma-separated"),
        (int_list, "0,4", "integers > 0"),
        (int_pair, "1024,512", "MIN <= MAX"),
        (int_pair, "1,2,3", "two integers"),
        (float_pair, "10,3", "MIN <= MAX"),
        (float_pair, "3", "two numbers"),
        (float_pair, "3,x", "is not a number"),
        (zoom_choice, "0.5", "auto, off or a number >= 1"),
        (zoom_choice, "big", "is not a number"),
        (zoom_choice, "inf", "finite"),
    ],
)
def test_bad_values_are_refused_with_a_message(parse, text, message) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        parse(text)


def test_int_list() -> None:
    assert int_list("1,4,16") == [1, 4, 16]
