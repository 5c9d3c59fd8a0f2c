"""SVAMP answers from gold equations, PaLM rationales, GPT-3.5 prose and student outputs."""

from __future__ import annotations

import pytest

from qcrd.tasks import SvampTask
from qcrd.tasks.base import Answer
from qcrd.tasks.svamp import last_number, read_prose, read_sentence, render_input

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
        # First number of the sentence; the glued hyphen is subtraction, so never "-2".
        ("It costs 28-2 dollars.", Answer("28")),
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
        ("(84 / 2", Answer("84")),  # not an expression: read like prose, first number
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
    assert last_number("It costs 28-2 dollars.") == Answer("2")  # glued hyphen: not a sign


def test_render_input_matches_the_dss_files() -> None:
    body = "Luke scored 84 points after playing 2 rounds of a trivia game."
    assert render_input(body + " ", " How many?") == body + "\nHow many?"


# Real GPT-3.5 rationales (MCC-KD/data/SVAMP/train.json) that the last-number reader misread,
# one or more per rule of the prose reader (module docstring of qcrd.tasks.svamp).
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # The final sentence states its result first, then restates the givens.
        (
            "329 - 106 = 223 \n\n"
            "So Paul has 223 crayons left after giving 111 away and losing 106.",
            "223",
        ),
        (
            "Therefore, 5,700 people can ride 20 Ferris wheels in paradise park at the same time, "
            "assuming each seat is occupied by the maximum number of people.",
            "5700",
        ),
        ("Robin's hair was originally 30 inches long before he cut off 20 inches.", "30"),
        # Rule 3: the result after the last "=", "equals" or "≈" of the final sentence.
        (
            "Melissa scored a total of 109 + 82 = 191 points in each game.\n"
            "Therefore, in 79 games, she scored 191 x 79 = 15,109 points.",
            "15109",
        ),
        (
            "Katie has 84 new games plus her friends' 8 new games, which equals 92 new games "
            "in total.",
            "92",
        ),
        (
            "Therefore, the approximate number of pages Frank read per day is 445/30 ≈ 14.83.",
            "14.83",
        ),
        ("Baker made 127 - 46 = 81 more cakes than the ones he sold.", "81"),
        # Rule 2: a leading adverbial clause, even one holding an equation, is dropped.
        ("Therefore, after 87 days of harvest, they will have 143,550 oranges.", "143550"),
        (
            "Therefore, after eating a total of 5 + 9 = 14 pieces of candy, Bobby has 7 pieces "
            "of candy left.",
            "7",
        ),
        ("So in all there are 109,044 flowers and sticks.", "109044"),  # "109,044" is no clause
        # Rule 2: parentheticals are working, not the result.
        ("Bobby ate a total of 70 pieces of candy (28 + 42) and 63 pieces of chocolate.", "70"),
        ("After Jessie started jogging everyday she weighed (71-20) 51 kilograms.", "51"),
        # Rule 1: a sentence with numbers only in parentheses is working, not the result.
        ("Each bag would have 2 cookies. (14 divided by 7)", "2"),
        ("Allan brought a total of 8 balloons to the park. (5 + 3)", "8"),
        # Rule 2: the clause after the last ", so" concludes.
        (
            "Dan started with $4 and ended up with $3 after buying a candy bar, so the candy bar "
            "must have cost $1.",
            "1",
        ),
        # Rule 2: a "Step N:" label is not a quantity.
        ("Step 2: Therefore, Paul bought 101 books at the garage sale.", "101"),
        # Rule 1: an answer stated first, then explained.
        (
            "Tiffany had 4 bags on Monday. \n\nTo see why, let's use subtraction to check: \n\n"
            "- If she found 4 more bags on Tuesday and ended up with a total of 8 bags, then she "
            "must have had 4 bags on Monday. \n- 4 (Monday) + 4 (Tuesday) = 8 (total)",
            "4",
        ),
        # Rule 1: a check after the answer; "So the answer checks out!" restates no number.
        (
            "x = 31 \n\nTherefore, the first chapter is 31 pages long. \n\nTo check our work, we "
            "can add up the lengths of both chapters: \n\n31 pages (first chapter) + 36 pages "
            "(second chapter) = 67 pages \n\nSo the answer checks out!",
            "31",
        ),
        # Rule 1: a sentence about an irrelevant quantity.
        (
            "Mom purchased 57 packages of white t-shirts, so she will have:\n\n"
            "57 x 53 = 3,021 white t-shirts.\n\nThe number of trousers purchased (34) is "
            "irrelevant as the question only asks for the number of white t-shirts.",
            "3021",
        ),
        # Rule 1 does not cut when a concluding sentence with a number follows the aside.
        (
            "After eating, he had 25 - 28 = -3 salty cookies left. (Note: this means he ate "
            "more salty cookies than he had before!)\nWhile he now has 40 - 15 = 25 sweet "
            "cookies left.\nTherefore, he ate 28 -15 = 13 more salty cookies than sweet cookies.",
            "13",
        ),
        # Rule 1 keeps every number: an aside with nothing before it is no aside.
        ("Note that 12 - 5 = 7.", "7"),
    ],
)
def test_prose_rules(text: str, expected: str) -> None:
    assert TASK.extract_answer(text) == Answer(expected)
    assert read_prose(text) == Answer(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Prose after a cue is read like a final sentence: first number, not the last.
        (
            "Therefore, the answer is that the farmer will have 7 tomatoes left after today's "
            "picking. Since 7 is a small number relative to the starting amount of 171, we could "
            "also simplify the answer.",
            Answer("7"),
        ),
        (
            "So the answer is that Zachary did 35 push-ups, while David did 44.",
            Answer("35"),
        ),
        ("The answer is: \n\n2,523 buses (rounded up from 2,511.5)", Answer("2523")),
        # A cue with no number after it is no cue: the prose is read instead.
        (
            "The answer is not clear as we don't know the full context of the problem.\n\n"
            "x = 21\n\nTherefore, the waiter had 21 customers at the start.",
            Answer("21"),
        ),
        (
            "So there are 337 boys in the school.\n\nChecking our answer:\n\n- There are 402 "
            "more girls than boys, so 337 + 402 = 739 which matches the given number of girls.\n"
            " -Therefore, our answer is correct.",
            Answer("337"),
        ),
        ("The answer is not clear.", Answer(None, "no number")),
        # PaLM cues still evaluate their expression.
        ("So he has 1463 animals. The answer is ((15 * 19) + (62 * 19)).", Answer("1463")),
    ],
)
def test_cue_then_prose(text: str, expected: Answer) -> None:
    assert TASK.extract_answer(text) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("It has 5 apples.", Answer("5")),
        ("Total = 12 + 30 = $42.", Answer("42")),
        ("He has -3 apples.", Answer("-3")),
        ("She scored 42% on the test.", Answer("42")),
        ("(nothing but 7 in brackets)", Answer("7")),  # a rule never drops every number
        ("If so, then, at last, 3", Answer("3")),
        ("No numbers here.", Answer(None, "no number")),
        ("It is " + "9" * 20 + " apples.", Answer(None, "value out of range")),
    ],
)
def test_read_sentence(sentence: str, expected: Answer) -> None:
    assert read_sentence(sentence) == expected


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000,
        ", so" * 2000,
        "Therefore, after " + "a" * 20000 + " 5",
        "To check, " * 3000 + "1",
        "=" * 10000 + "2",
        "\n" * 10000,
        "(Note: 3) " * 2000,
    ],
)
def test_prose_reader_never_raises(text: str) -> None:
    assert isinstance(TASK.extract_answer(text), Answer)


def test_a_rationale_that_is_only_an_equation_is_read_by_value() -> None:
    """A barely trained student answers ``explain:`` with its label equation; reading the first
    number (58) instead of the value (23) would call a consistent student inconsistent."""
    task = SvampTask()
    assert task.extract_answer("( 58.0 - 35.0 )").key == task.extract_answer("23").key
    assert task.extract_answer("( 58.0 - 35.0 ).").key == task.label_answer("( 58.0 - 35.0 )").key
    # Prose still goes through the prose reader.
    assert task.extract_answer("He had 58 - 35 = 23 apples left.").key == "23"
