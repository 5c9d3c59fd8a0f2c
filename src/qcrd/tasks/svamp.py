"""SVAMP: arithmetic word problems whose gold label is an equation, scored by its value.

Answer keys are values formatted by :func:`qcrd.tasks.arithmetic.format_number` (4 decimals),
so ``( 84.0 / 2.0 )``, ``42`` and ``The answer is (84 / 2).`` all read as ``"42"``.

Reading an answer from a rationale:
    * PaLM style ends in a cue and an expression, ``The answer is ((438 - 178) - (18 - 55)).``:
      the expression is evaluated. A cue followed by prose (``the answer is: Haley gave the
      marbles to 14 boys.``) gives the last number on that line.
    * GPT-3.5 style prose has no cue and ends in its result: the last number in the text
      (``$3,168.`` -> 3168; a ``-`` glued to a preceding word or digit is subtraction, not a
      sign).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qcrd.tasks.arithmetic import (
    ArithmeticParseError,
    ExpressionError,
    ExpressionLimitError,
    evaluate,
    format_number,
    parse_number,
)
from qcrd.tasks.base import Answer, after_answer_cue

# A number in prose: optional sign (only when not glued to a word, digit or point before it),
# ASCII digits with optional strict thousands groups and decimals. "32." ends a sentence.
_PROSE_NUMBER = re.compile(
    r"(?<![\w.])(-)?((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?)(?![0-9])",
    re.ASCII,
)


def render_input(body: str, question: str) -> str:
    """The model input of a SVAMP problem, as the Distilling step-by-step files spell it."""
    return f"{body.strip()}\n{question.strip()}"


def last_number(text: str) -> Answer:
    """The last number written in ``text`` as an answer key, or ``Answer(None, 'no number')``."""
    matches = list(_PROSE_NUMBER.finditer(text))
    if not matches:
        return Answer(None, "no number")
    sign, literal = matches[-1].groups()
    try:
        value = parse_number(literal)
    except ExpressionError as err:
        return Answer(None, err.reason)
    return Answer(format_number(-value if sign else value))


def _balanced_prefix(text: str) -> str | None:
    """``"(7 * 36)"`` from ``"(7 * 36) pencils"``; ``None`` if the parentheses never close."""
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return text[: i + 1]
    return None


def _value_answer(text: str) -> Answer:
    """The value of ``text`` as an expression, or the evaluator's reason for refusing it."""
    try:
        return Answer(format_number(evaluate(text)))
    except ExpressionError as err:
        return Answer(None, err.reason)


# Reasons meaning "this text is not an expression", as opposed to one that fails to compute.
_NOT_AN_EXPRESSION = frozenset({ArithmeticParseError.reason, ExpressionLimitError.reason})


def _answer_after_cue(tail: str) -> Answer:
    body = tail.replace("$", "").strip().rstrip(".").strip()
    whole = _value_answer(body)
    if whole.ok or whole.reason not in _NOT_AN_EXPRESSION:
        return whole
    if body.startswith("("):
        # "(7 * 36) pencils": the expression, then words. Digits after the group mean a
        # larger expression we could not parse ("(9 + 6) and (2 - 1)"): refuse to guess.
        group = _balanced_prefix(body)
        if group is None or re.search(r"[0-9]", body[len(group) :]):
            return whole
        return _value_answer(group)
    return last_number(body)


@dataclass(frozen=True)
class SvampTask:
    """SVAMP (Patel et al., 2021): the label is an equation string such as ``( 84.0 / 2.0 )``."""

    name: str = "svamp"

    def canonical_label(self, label: str, choices: tuple[str, ...] = ()) -> str:
        """The label stripped, after checking that it evaluates (``ValueError`` if not)."""
        evaluate(label.strip())
        return label.strip()

    def label_answer(self, label: str, choices: tuple[str, ...] = ()) -> Answer:
        """The value of the equation (or plain number) as an answer key."""
        return Answer(format_number(evaluate(label.strip())))

    def extract_answer(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The value after the last "answer is" cue, else the last number in the text."""
        tail = after_answer_cue(text)
        if tail is not None:
            return _answer_after_cue(tail)
        return last_number(text)

    def parse_prediction(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The student's label output: an equation if it is one, else read like a rationale."""
        whole = _value_answer(text.strip())
        if whole.ok or whole.reason not in _NOT_AN_EXPRESSION:
            return whole
        return self.extract_answer(text)
