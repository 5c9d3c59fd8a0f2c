"""CQA and NLI answers from labels, PaLM rationales and student outputs; the task registry."""

from __future__ import annotations

import random

import pytest

from qcrd.tasks import EXPLAIN_PREFIX, PREDICT_PREFIX, TASK_NAMES, CqaTask, NliTask, get_task
from qcrd.tasks.base import Answer, after_answer_cue, student_input
from qcrd.tasks.cqa import parse_choices, render_input

CQA = CqaTask()
# cqa_train.json row 0, with its PaLM rationale below.
MATH_CHOICES = ("park", "coloring book", "garden center", "math problem", "gravity")
BUS_CHOICES = ("bus depot", "beach", "train station", "bridge", "bus")


def test_cqa_render_and_parse_choices_round_trip() -> None:
    rendered = render_input("What is this an example of?", MATH_CHOICES)
    assert rendered == (
        "What is this an example of?\nAnswer Choices:\n(a) park\n(b) coloring book\n"
        "(c) garden center\n(d) math problem\n(e) gravity"
    )
    assert parse_choices(rendered) == MATH_CHOICES
    assert parse_choices("What is this?") == ()
    assert parse_choices("Q\nAnswer Choices:\n(a) x\n(c) y") == ()  # letters out of order


def test_cqa_labels() -> None:
    assert CQA.label_answer("Math  Problem", MATH_CHOICES) == Answer("math problem")
    assert CQA.canonical_label("MATH PROBLEM", MATH_CHOICES) == "math problem"
    with pytest.raises(ValueError):
        CQA.label_answer("zoo", MATH_CHOICES)
    with pytest.raises(ValueError):
        CQA.label_answer("park")  # no choices given


@pytest.mark.parametrize(
    ("text", "choices", "expected"),
    [
        (
            "The answer must be something that has to do with the above problem. Of the above "
            "choices, only math problem has to do with the above problem. "
            "So the answer is (d) math problem.",
            MATH_CHOICES,
            Answer("math problem"),
        ),
        ("So the answer is (D).", MATH_CHOICES, Answer("math problem")),
        ("So the answer is math problem.", MATH_CHOICES, Answer("math problem")),
        ("So the answer is (f) nothing.", MATH_CHOICES, Answer(None, "choice letter out of range")),
        (
            "The answer must be a place with fish. "
            "So the answer is either (a) aquarium or (e) pond.",
            ("aquarium", "lake", "sea", "river", "pond"),
            Answer(None, "ambiguous choice"),
        ),
        ("So the answer is park or gravity.", MATH_CHOICES, Answer(None, "ambiguous choice")),
        # No cue: the choice mentioned last; "bus depot" is not also a mention of "bus".
        ("A bum lives near a train station, or a bus depot.", BUS_CHOICES, Answer("bus depot")),
        ("Not a bus depot; he lives in a bus.", BUS_CHOICES, Answer("bus")),
        # Cue without a choice: fall back to the text before it.
        (
            "Only toolboxes hold tools, like a tool kit. So the answer is one of these.",
            ("toolbox", "cabinet", "basement", "tool shed", "tool kit"),
            Answer("tool kit"),
        ),
        ("So the answer is unclear.", MATH_CHOICES, Answer(None, "no choice")),
        ("So the answer is (d) math problem.", (), Answer(None, "no choices")),
    ],
)
def test_cqa_extract_answer(text: str, choices: tuple[str, ...], expected: Answer) -> None:
    assert CQA.extract_answer(text, choices) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("math problem", Answer("math problem")),
        (" Math Problem. ", Answer("math problem")),
        ("(b)", Answer("coloring book")),
        ("So the answer is (e) gravity.", Answer("gravity")),
        ("banana", Answer(None, "no choice")),
    ],
)
def test_cqa_parse_prediction(text: str, expected: Answer) -> None:
    assert CQA.parse_prediction(text, MATH_CHOICES) == expected


ANLI = NliTask(name="anli1")


@pytest.mark.parametrize(
    ("label", "name"),
    [("0", "entailment"), ("1", "neutral"), ("2", "contradiction"), (" Neutral ", "neutral")],
)
def test_nli_labels(label: str, name: str) -> None:
    assert ANLI.canonical_label(label) == name
    assert ANLI.label_answer(label) == Answer(name)


@pytest.mark.parametrize("label", ["3", "-1", "", "yes", "entails"])
def test_nli_bad_labels(label: str) -> None:
    with pytest.raises(ValueError):
        ANLI.label_answer(label)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Real PaLM-540B completions (distilling-step-by-step/anli1/llm/train_CoT_0.json).
        (
            "The premise mentions that Alexandra Bastedo was a popular sex symbol of the 1960s "
            "and 1970s. But it does not mention anything about the 1980's. "
            "So the answer is neutral.",
            Answer("neutral"),
        ),
        (
            "The premise mentions that the system has 4 urban routes. So the answer is entailment.",
            Answer("entailment"),
        ),
        ("So the answer is Contradiction because of the dates.", Answer("contradiction")),
        # The cue's class word wins over words mentioned before it.
        ("Not an entailment, so the answer is neutral.", Answer("neutral")),
        ("This is a clear contradiction of the premise.", Answer("contradiction")),
        ("So the answer is analogy.", Answer(None, "no class word")),
        ("", Answer(None, "no class word")),
    ],
)
def test_nli_extract_answer(text: str, expected: Answer) -> None:
    assert ANLI.extract_answer(text) == expected


def test_nli_parse_prediction() -> None:
    assert ANLI.parse_prediction("Entailment") == Answer("entailment")
    assert ANLI.parse_prediction("it is neutral.") == Answer("neutral")
    assert ANLI.parse_prediction("maybe") == Answer(None, "no class word")


def test_get_task_names_and_unknown() -> None:
    for name in TASK_NAMES:
        assert get_task(name).name == name
    with pytest.raises(ValueError, match="unknown task"):
        get_task("gsm8k")


def test_prefixes_and_cue() -> None:
    assert student_input(PREDICT_PREFIX, "Q") == "predict: Q"
    assert student_input(EXPLAIN_PREFIX, "Q") == "explain: Q"
    assert after_answer_cue("The answer is 1. Then the answer is: 2\nmore") == "2"
    assert after_answer_cue("no cue here") is None


def test_reading_answers_never_raises() -> None:
    """Random junk, including brackets, digits, Unicode and cues, always gives an Answer."""
    alphabet = "()[]0123456789.,+-*/^ $xabcde\n\t٣３−answer is (a) entailment neutral "
    rng = random.Random(0)
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80))) for _ in range(300)]
    samples += ["(" * 5000, "9" * 5000, "The answer is " + "(" * 600]
    for name in TASK_NAMES:
        task = get_task(name)
        for text in samples:
            for answer in (
                task.extract_answer(text, MATH_CHOICES),
                task.parse_prediction(text, MATH_CHOICES),
            ):
                assert isinstance(answer, Answer)
                assert (answer.key is None) == (answer.reason is not None)
