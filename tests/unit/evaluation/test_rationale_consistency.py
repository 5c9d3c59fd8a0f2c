"""Rationale–label consistency and diversity on hand-made cases, arithmetic in the docstrings."""

from __future__ import annotations

import pytest

from qcrd.data.records import Example
from qcrd.evaluation.accuracy import Prediction
from qcrd.evaluation.rationales import RationaleRow, consistency, diversity, read_rationales
from qcrd.tasks import get_task


def row(i: str, rationale: str | None, label: str | None, gold: str | None = "7") -> RationaleRow:
    return RationaleRow(
        id=i,
        input="q",
        label="( 3.0 + 4.0 )",
        gold=gold,
        rationale="r",
        rationale_answer=rationale,
        rationale_parse_failure=None if rationale else "no number",
        predicted_answer=label,
        prediction_parse_failure=None if label else "no number",
    )


def test_consistency_counts_only_where_both_parse() -> None:
    """Six inputs: (rationale answer, label answer) =
    a (7, 7) agree; b (7, 8) disagree; c (8, 8) agree; d (None, 7); e (7, None); f (None, None).

    both parse: a, b, c -> 3; agree: a, c -> consistency 2/3.
    either fails: d, e, f -> 3 of 6 = 0.5; rationale unreadable: d, f -> 2; label: e, f -> 2.
    rationale accuracy (gold 7): a, b, e read 7 -> 3/6 = 0.5 (unreadable counts wrong).
    """
    rows = [
        row("a", "7", "7"),
        row("b", "7", "8"),
        row("c", "8", "8"),
        row("d", None, "7"),
        row("e", "7", None),
        row("f", None, None),
    ]
    c = consistency(rows)
    assert (c.examples, c.both_parsed, c.consistent) == (6, 3, 2)
    assert c.consistency == pytest.approx(2 / 3)
    assert (c.either_failed, c.either_failed_share) == (3, 0.5)
    assert (c.rationale_parse_failures, c.label_parse_failures) == (2, 2)
    assert (c.rationale_correct, c.rationale_accuracy) == (3, 0.5)
    assert c.rationale_failure_reasons == {"no number": 2}
    assert [r.consistent for r in rows] == [True, False, True, None, None, None]


def test_consistency_is_undefined_when_nothing_parses_on_both_sides() -> None:
    """Not 0 and not 1: a student whose rationales never parse says nothing about agreement."""
    c = consistency([row("a", None, "7"), row("b", "7", None)])
    assert c.consistency is None
    assert c.either_failed_share == 1.0


def test_rationale_accuracy_leaves_out_unreadable_gold_labels() -> None:
    """Gold unreadable for b: accuracy over a only -> 1/1."""
    c = consistency([row("a", "7", "7"), row("b", "7", "7", gold=None)])
    assert (c.rationale_correct, c.rationale_accuracy) == (1, 1.0)


def test_empty_input() -> None:
    c = consistency([])
    assert (c.examples, c.consistency, c.either_failed_share, c.rationale_accuracy) == (
        0,
        None,
        None,
        None,
    )


def test_read_rationales_with_the_svamp_task() -> None:
    """The svamp reader on real-looking text; predictions are matched by id, not position."""
    task = get_task("svamp")
    examples = [
        Example("a", "Tom has 3 apples and buys 4. How many?", "( 3.0 + 4.0 )"),
        Example("b", "12 pens, 5 taken. How many left?", "( 12.0 - 5.0 )"),
        Example("c", "6 pages for 3 days?", "( 6.0 * 3.0 )"),
    ]
    texts = ["3 + 4 = 7. The answer is 7.", "12 - 5 = 7. The answer is 7.", "I do not know."]
    preds = [
        Prediction("c", "18", "18", "18", True, None),
        Prediction("b", "( 12 - 4 )", "8", "7", False, None),
        Prediction("a", "( 3 + 4 )", "7", "7", True, None),
    ]
    rows = read_rationales(task, examples, texts, preds)
    assert [(r.rationale_answer, r.predicted_answer, r.consistent) for r in rows] == [
        ("7", "7", True),
        ("7", "8", False),
        (None, "18", None),
    ]
    assert [r.gold for r in rows] == ["7", "7", "18"]
    assert rows[2].rationale_parse_failure is not None


def test_diversity_pools_texts_and_compares_different_inputs() -> None:
    """'a b a', 'b c' and '' (empty, counted apart).

    distinct-1: a b a b c -> 3 / 5; distinct-2: (a b) (b a) | (b c) -> 3 / 3.
    3-gram Jaccard of the two non-empty texts: 'b c' is shorter than 3 words, so it is its
    own word tuple; no overlap with {(a b a)} -> 0. Mean words (0 for the empty one): 5 / 3.
    """
    d = diversity(["a b a", "b c", ""])
    assert d["rationales"] == 3 and d["empty"] == 1
    assert d["distinct_1"] == pytest.approx(0.6)
    assert d["distinct_2"] == 1.0
    assert d["mean_pairwise_jaccard_3gram"] == 0.0
    assert d["mean_words"] == pytest.approx(5 / 3)


def test_one_template_everywhere_shows_as_full_overlap() -> None:
    d = diversity(["the answer is 5 apples"] * 3)
    assert d["mean_pairwise_jaccard_3gram"] == 1.0
    assert d["distinct_2"] == pytest.approx(4 / 12)
