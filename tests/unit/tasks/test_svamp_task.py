"""SVAMP answers from gold equations, PaLM rationales, GPT-3.5 prose and student outputs."""

from __future__ import annotations

import pytest

from qcrd.tasks import SvampTask
from qcrd.tasks.base import Answer
from qcrd.tasks.svamp import last_number, render_input

TASK = SvampTask()


@pytest.mark.parametrize(
    ("label", "key"),
    [("( 84.0 / 2.0 )", "42"), ("( ( 17.0 + 15.0 ) + 2.0 )", "34"), ("32", "32"), (" 5.5 ", "5.5")],
)
def test_label_answer(label: str, key: str) -> None:
    assert TASK.label_answer(label) == Answer(key)


@pytest.mark.parametrize("label", ["", "forty", "( 1.0 / 0.0 )", "2**3", "( 84.0 / 2.0"])
def test_malformed_labels_raise_value_error(label: str) -> None:
    with pytest.raises(ValueError):
        TASK.label_answer(label)
    with pytest.raises(ValueError):
        TASK.canonical_label(label)


def test_canonical_label_keeps_the_equation() -> None:
    assert TASK.canonical_label(" ( 84.0 / 2.0 ) ") == "( 84.0 / 2.0 )"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Real PaLM-540B completions (distilling-step-by-step/svamp/llm/train_CoT_*.json).
        (
            "Luke scored 84 points after 2 rounds. So he scored 84 points in 2 rounds. "
            "84 / 2 = 42. The answer is (84 / 2).",
            Answer("42"),
        ),
        (
            "So she gave 260 - (-37) = 297 more baseball cards than Ace cards. "
            "The answer is ((438 - 178) - (18 - 55)).",
            Answer("297"),
        ),
        (
            "So he has 285 + 1178 animals. 285 + 1178 is 1463. "
            "The answer is ((15 * 19) + (62 * 19)).",
            Answer("1463"),
        ),
        # Truncated by the token limit mid-expression: refuse rather than guess.
        (
            "So he has 1181 * 275 = 322,775 dollars left. The answer is ((491 - 21",
            Answer(None, "unparseable expression"),
        ),
        ("So 26 * x + 15 = 52. The answer is (26 * x).", Answer(None, "unparseable expression")),
        ("The answer is (9 + 6) and (2 - 1).", Answer(None, "unparseable expression")),
        ("The answer is (7 * 36) pencils.", Answer("252")),
        ("The answer is (5 / (2 - 2)).", Answer(None, "division by zero")),
        ("The answer is (" + "9" * 30 + ").", Answer(None, "value out of range")),
        # Real GPT-3.5 rationales (MCC-KD/data/SVAMP/train.json): prose, last number.
        (
            "Danny has 100 - 68 = 32 more wrappers than bottle caps in his collection now.",
            Answer("32"),
        ),
        (
            "     288  (4 x 144 = 576, so we carry over the 2)\n  + 1404\n-------\n   $3,168\n\n"
            "So the ring toss game at the carnival made $3,168 in total.",
            Answer("3168"),
        ),
        (
            "So, Haley gave marbles to 14 boys. \n\n"
            "Therefore, the answer is: Haley gave the marbles to 14 boys.",
            Answer("14"),
        ),
        ("Therefore, the answer is:\n\n14 boys.", Answer("14")),
        ("She gave 18 - 55 = -37 cards.", Answer("-37")),
        ("It costs 28-2 dollars.", Answer("2")),  # a glued hyphen is subtraction, not a sign
        ("x = 37 / 26. x = 1.423076923076923.", Answer("1.4231")),
        ("The total is 5.5.", Answer("5.5")),
        ("No numbers at all.", Answer(None, "no number")),
        ("", Answer(None, "no number")),
        ("Three plus four is seven ٧.", Answer(None, "no number")),  # Unicode digits ignored
    ],
)
def test_extract_answer(text: str, expected: Answer) -> None:
    assert TASK.extract_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("( 84.0 / 2.0 )", Answer("42")),  # the label format the student learns
        ("(84 / 2", Answer("2")),  # not an expression: last number
        ("42", Answer("42")),
        ("The answer is (84 / 2).", Answer("42")),
        ("( 5.0 / 0.0 )", Answer(None, "division by zero")),
        ("I do not know", Answer(None, "no number")),
    ],
)
def test_parse_prediction(text: str, expected: Answer) -> None:
    assert TASK.parse_prediction(text) == expected


def test_last_number_handles_thousands_and_signs() -> None:
    assert last_number("from 1,000 to 12,345 people") == Answer("12345")
    assert last_number("a loss of -5") == Answer("-5")
    assert last_number("version 2.0 of 3") == Answer("3")


def test_render_input_matches_the_dss_files() -> None:
    body = "Luke scored 84 points after playing 2 rounds of a trivia game."
    assert render_input(body + " ", " How many?") == body + "\nHow many?"
