"""A small, safe evaluator for the arithmetic that SVAMP labels and rationales contain.

Gold labels are equations such as ``( 84.0 / 2.0 )`` and PaLM rationales end in
``The answer is ((438 - 178) - (18 - 55)).``. Both are evaluated here by a hand-written
recursive-descent parser over a tokenizer; model output never reaches ``eval``.

Grammar (whitespace is ignored between tokens)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("+" | "-") unary | primary
    primary := NUMBER | "(" expr ")"
    NUMBER  := DIGITS ("." DIGITS)?        DIGITS: ASCII 0-9 only
             | D{1,3} ("," DDD)+ ("." DIGITS)?   thousands separators, groups of exactly 3

Decisions:
    * Values are exact ``fractions.Fraction`` objects, so ``0.1 + 0.2`` is ``3/10`` and the
      answer key does not depend on float rounding. ``format_number`` turns a value into the
      canonical answer key (4 decimals, half away from zero, trailing zeros dropped).
    * A comma inside a number is accepted only in strict thousands groups (``1,000``,
      ``12,345.5``). The grammar has no other use for a comma, so this is unambiguous;
      ``1,00`` or ``(1, 2)`` are parse failures.
    * Only ASCII digits count: ``'٣'`` or ``'３'`` are rejected, because ``str.isdigit`` and
      ``int()`` would silently accept them and a model could smuggle look-alike text through.
    * No exponent notation (``1e5``), no ``**`` or ``^``, no names: all parse failures.
    * Inputs are bounded (characters, nesting depth) and every intermediate value must stay
      within ``MAX_ABS_VALUE`` (the range where floats still hold integers exactly), so a
      hostile string cannot make the evaluator slow or produce an unusable number.
"""

from __future__ import annotations

from fractions import Fraction
from typing import ClassVar

MAX_EXPRESSION_CHARS = 512
MAX_DEPTH = 32
"""Parentheses plus unary signs open at once; real labels use fewer than 6."""
MAX_ABS_VALUE = 10**15
ANSWER_DECIMALS = 4

_ASCII_DIGITS = frozenset("0123456789")
_OPERATORS = frozenset("+-*/()")


class ExpressionError(ValueError):
    """An expression that cannot be evaluated; ``reason`` is a short, countable phrase."""

    reason: ClassVar[str] = "bad expression"


class ArithmeticParseError(ExpressionError):
    """The text is not an expression of the grammar above."""

    reason = "unparseable expression"


class ExpressionLimitError(ExpressionError):
    """The text is longer or more deeply nested than the evaluator accepts."""

    reason = "expression too large"


class DivisionByZeroError(ExpressionError):
    """A division whose divisor evaluates to zero."""

    reason = "division by zero"


class ValueOutOfRangeError(ExpressionError):
    """A literal or intermediate result larger in magnitude than ``MAX_ABS_VALUE``."""

    reason = "value out of range"


def _checked(value: Fraction) -> Fraction:
    if abs(value) > MAX_ABS_VALUE:
        raise ValueOutOfRangeError(f"value exceeds {MAX_ABS_VALUE:.0e} in magnitude")
    return value


def _read_digits(text: str, i: int) -> int:
    """Index just past the run of ASCII digits starting at ``i``."""
    while i < len(text) and text[i] in _ASCII_DIGITS:
        i += 1
    return i


def _scan_number(text: str, start: int) -> tuple[str, int]:
    """Read one number literal at ``start``; return its digits (commas removed) and its end."""
    end = _read_digits(text, start)
    integer = text[start:end]
    # Thousands groups: only after 1-3 leading digits, and every group exactly 3 digits.
    if end < len(text) and text[end] == "," and len(integer) <= 3:
        while end < len(text) and text[end] == ",":
            group_end = _read_digits(text, end + 1)
            if group_end - (end + 1) != 3:
                raise ArithmeticParseError(f"malformed thousands separator at {end}")
            integer += text[end + 1 : group_end]
            end = group_end
    literal = integer
    if end < len(text) and text[end] == ".":
        frac_end = _read_digits(text, end + 1)
        if frac_end == end + 1:
            raise ArithmeticParseError(f"no digits after the decimal point at {end}")
        literal += text[end:frac_end]
        end = frac_end
    if end < len(text) and text[end] == ",":
        raise ArithmeticParseError(f"malformed thousands separator at {end}")
    return literal, end


def tokenize(text: str) -> list[str]:
    """Split an expression into number literals (commas removed) and operator characters.

    Raises:
        ExpressionLimitError: the text is longer than ``MAX_EXPRESSION_CHARS``.
        ArithmeticParseError: any character outside digits, ``.,+-*/()`` and whitespace.
    """
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionLimitError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t\n\r":
            i += 1
        elif ch in _ASCII_DIGITS:
            literal, i = _scan_number(text, i)
            tokens.append(literal)
        elif ch in _OPERATORS:
            tokens.append(ch)
            i += 1
        else:
            raise ArithmeticParseError(f"unexpected character {ch!r} at {i}")
    return tokens


def parse_number(literal: str) -> Fraction:
    """The exact value of one unsigned number literal such as ``1,234.5`` (ASCII digits only).

    Raises:
        ArithmeticParseError: the text is not exactly one number literal.
        ValueOutOfRangeError: the number exceeds ``MAX_ABS_VALUE``.
    """
    tokens = tokenize(literal)
    if len(tokens) != 1 or tokens[0][0] not in _ASCII_DIGITS:
        raise ArithmeticParseError(f"{literal!r} is not a single number")
    return _literal_value(tokens[0])


def _literal_value(token: str) -> Fraction:
    whole, _, frac = token.partition(".")
    # Build the Fraction from integers so no float ever rounds the literal.
    return _checked(Fraction(int(whole + frac), 10 ** len(frac)))


class _Parser:
    """Recursive descent over a token list; one instance per expression.

    ``depth`` counts the parentheses and unary signs open around the current position and
    travels down the recursion, so the limit holds before Python's own recursion limit.
    """

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise ArithmeticParseError("expression ends too early")
        self.pos += 1
        return token

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.term(depth)
            value = _checked(value + right if op == "+" else value - right)
        return value

    def term(self, depth: int) -> Fraction:
        value = self.unary(depth)
        while self.peek() in ("*", "/"):
            op = self.take()
            right = self.unary(depth)
            if op == "*":
                value = _checked(value * right)
            elif right == 0:
                raise DivisionByZeroError("division by zero")
            else:
                value = _checked(value / right)
        return value

    def unary(self, depth: int) -> Fraction:
        if self.peek() in ("+", "-"):
            op = self.take()
            value = self.unary(_deeper(depth))
            return -value if op == "-" else value
        return self.primary(depth)

    def primary(self, depth: int) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.expr(_deeper(depth))
            if self.take() != ")":
                raise ArithmeticParseError("expected ')'")
            return value
        if token[0] in _ASCII_DIGITS:
            return _literal_value(token)
        raise ArithmeticParseError(f"unexpected {token!r}")


def _deeper(depth: int) -> int:
    if depth + 1 > MAX_DEPTH:
        raise ExpressionLimitError(f"nesting deeper than {MAX_DEPTH}")
    return depth + 1


def evaluate(text: str) -> Fraction:
    """The exact value of an arithmetic expression (see the module docstring for the grammar).

    Args:
        text: e.g. ``"( 84.0 / 2.0 )"`` or ``"(438 - 178) - (18 - 55)"``.

    Returns:
        The value as a ``Fraction``.

    Raises:
        ExpressionError: one of its subclasses, each with a countable ``reason``.
    """
    tokens = tokenize(text)
    if not tokens:
        raise ArithmeticParseError("empty expression")
    parser = _Parser(tokens)
    value = parser.expr(0)
    if parser.peek() is not None:
        raise ArithmeticParseError(f"unexpected {parser.peek()!r} after a complete expression")
    return value


def format_number(value: Fraction, decimals: int = ANSWER_DECIMALS) -> str:
    """The canonical answer key of a value: rounded half away from zero, no trailing zeros.

    ``Fraction(42)`` -> ``"42"``, ``Fraction(1, 3)`` -> ``"0.3333"``, ``Fraction(-1, 100000)``
    -> ``"0"`` (never ``"-0"``), ``Fraction(5, 2)`` -> ``"2.5"``.
    """
    scale = 10**decimals
    # Integer arithmetic only: floor(|v| * scale + 1/2) is half-away-from-zero rounding.
    scaled = (abs(value) * scale * 2 + 1) // 2
    whole, frac = divmod(int(scaled), scale)
    digits = f"{frac:0{decimals}d}".rstrip("0") if decimals else ""
    text = f"{whole}.{digits}" if digits else str(whole)
    return "-" + text if value < 0 and scaled != 0 else text
