"""The safe evaluator: exact values for real labels, a specific error for everything else."""

from __future__ import annotations

from fractions import Fraction

import pytest

from qcrd.tasks.arithmetic import (
    MAX_DEPTH,
    MAX_EXPRESSION_CHARS,
    ArithmeticParseError,
    DivisionByZeroError,
    ExpressionError,
    ExpressionLimitError,
    ValueOutOfRangeError,
    evaluate,
    format_number,
    parse_number,
    tokenize,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("( 84.0 / 2.0 )", Fraction(42)),  # a DSS gold label
        ("( 10.0 - ( 6.0 + 3.0 ) )", Fraction(1)),
        ("((438 - 178) - (18 - 55))", Fraction(297)),  # a PaLM answer with a negative part
        ("260 - (-37)", Fraction(297)),
        ("2 * -3", Fraction(-6)),
        ("-(-(3))", Fraction(3)),
        ("+5", Fraction(5)),
        ("7", Fraction(7)),
        ("1 + 2 * 3", Fraction(7)),  # precedence
        ("(1 + 2) * 3", Fraction(9)),
        ("8 / 4 / 2", Fraction(1)),  # left associative
        ("10 - 4 - 3", Fraction(3)),
        ("0.1 + 0.2", Fraction(3, 10)),  # exact, unlike floats
        ("1 / 3", Fraction(1, 3)),
        ("1,000 + 5", Fraction(1005)),
        ("12,345.5", Fraction(24691, 2)),
        ("((((((((((1))))))))))", Fraction(1)),
        (" \t( 3 *\n4 ) ", Fraction(12)),
    ],
)
def test_evaluates_valid_expressions(text: str, value: Fraction) -> None:
    assert evaluate(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "2**10",  # exponent attempts
        "2^10",
        "__import__('os')",
        "os.system('ls')",
        "abs(-3)",
        "x + 1",
        "1e308*10",  # no exponent notation
        "1e5",
        "٣",  # Arabic-Indic three
        "３ + 1",  # full-width three
        "1 + ٣",
        "(1 + 2",  # unbalanced
        "1 + 2)",
        "((1)",
        "()",
        "1 +",
        "* 2",
        "1 2",
        "1,00",  # not a thousands group
        "1234,567",
        "(1, 2)",
        "5.",
        ".5",
        "1..2",
        "3 // 2",
        "7 % 2",
        "1 + 2; 3",
        "'1' + '2'",
        "−3",  # Unicode minus sign
        "2 × 3",
        "\x00",
    ],
)
def test_rejects_anything_else_as_a_parse_failure(text: str) -> None:
    with pytest.raises(ArithmeticParseError) as info:
        evaluate(text)
    assert info.value.reason == "unparseable expression"


@pytest.mark.parametrize("text", ["1 / 0", "(5 - 5) / (2 - 2)", "3 / (1 - 1.0)", "1 / 0.000"])
def test_division_by_zero(text: str) -> None:
    with pytest.raises(DivisionByZeroError) as info:
        evaluate(text)
    assert info.value.reason == "division by zero"


@pytest.mark.parametrize(
    "text",
    [
        "9" * 400,  # a huge literal
        "999999999 * 999999999",  # a huge product
        "1000000000000000 + 1",  # just past the bound
        "-" + "9" * 20,
        "1 / 0.0000000000000001",  # a huge quotient
    ],
)
def test_values_out_of_range(text: str) -> None:
    with pytest.raises(ValueOutOfRangeError):
        evaluate(text)


def test_limits_length_and_depth() -> None:
    with pytest.raises(ExpressionLimitError):
        evaluate("1" + " + 1" * MAX_EXPRESSION_CHARS)
    with pytest.raises(ExpressionLimitError):
        evaluate("(" * 10_000 + "1" + ")" * 10_000)  # never reaches Python's recursion limit
    with pytest.raises(ExpressionLimitError):
        evaluate("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ExpressionLimitError):
        evaluate("-" * (MAX_DEPTH + 1) + "1")  # unary chains count as nesting too
    assert evaluate("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH) == 1


def test_every_error_is_an_expression_error_and_a_value_error() -> None:
    for text in ["2**3", "1/0", "9" * 30, "(" * 100]:
        with pytest.raises(ExpressionError):
            evaluate(text)
        with pytest.raises(ValueError):
            evaluate(text)


def test_tokenize_drops_thousands_commas() -> None:
    assert tokenize("(1,234.5 - 6)") == ["(", "1234.5", "-", "6", ")"]


def test_parse_number_accepts_one_literal_only() -> None:
    assert parse_number("3,168") == 3168
    assert parse_number("5.625") == Fraction(45, 8)
    for text in ["-3", "1 + 1", "", "３"]:
        with pytest.raises(ArithmeticParseError):
            parse_number(text)


@pytest.mark.parametrize(
    ("value", "key"),
    [
        (Fraction(42), "42"),
        (Fraction(84, 2), "42"),
        (Fraction(5, 2), "2.5"),
        (Fraction(-5, 2), "-2.5"),
        (Fraction(1, 3), "0.3333"),
        (Fraction(2, 3), "0.6667"),
        (Fraction(1, 20000), "0.0001"),  # half rounds away from zero
        (Fraction(-1, 20000), "-0.0001"),
        (Fraction(-1, 100000), "0"),  # never "-0"
        (Fraction(0), "0"),
        (Fraction(1234567), "1234567"),
    ],
)
def test_format_number(value: Fraction, key: str) -> None:
    assert format_number(value) == key
