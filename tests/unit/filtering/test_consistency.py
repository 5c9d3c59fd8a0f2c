"""Vote, tie-break, keep policies and duplicate removal on hand-made samples (toy task: '#x')."""

from __future__ import annotations

import pytest

from qcrd.config import FilterConfig
from qcrd.data.records import Example
from qcrd.filtering.consistency import (
    KeepPolicy,
    can_judge,
    deduplicate,
    filter_example,
    is_kept,
    majority_vote,
)
from qcrd.filtering.ngrams import gram_set, jaccard


def _example(label: str = "4", id: str = "e1") -> Example:
    return Example(id=id, input="question", label=label)


# Answers 5, 4, 5, unreadable: the vote is 5; gold is 4 unless a test says otherwise.
S0 = "first try p q r #5"
S1 = "count again s t u #4"
S2 = "another way v w x #5"
S3 = "no mark at all"
SAMPLES = [S0, S1, S2, S3]


class TestMajorityVote:
    def test_clear_majority(self) -> None:
        assert majority_vote(["a", "b", "b", "c"]) == "b"

    def test_unreadable_samples_do_not_vote(self) -> None:
        """Three None do not outvote two 'a'."""
        assert majority_vote([None, "a", None, "a", None]) == "a"

    def test_no_readable_sample_gives_no_vote(self) -> None:
        assert majority_vote([None, None]) is None
        assert majority_vote([]) is None

    def test_tie_goes_to_the_earliest_first_occurrence(self) -> None:
        """b and a both occur twice; b occurs first (index 0), so b wins."""
        assert majority_vote(["b", "a", "a", "b"]) == "b"

    def test_tie_ignores_which_answer_reaches_the_count_first(self) -> None:
        """c reaches two votes first (index 2), but a occurred first (index 0)."""
        assert majority_vote(["a", "c", "c", "a"]) == "a"

    def test_tie_skips_leading_unreadable_samples(self) -> None:
        assert majority_vote([None, "x", "y"]) == "x"


@pytest.mark.parametrize(
    ("key", "gold", "vote", "policy", "kept"),
    [
        ("4", "4", "5", "gold", True),
        ("5", "4", "5", "gold", False),
        ("5", "4", "5", "majority", True),
        ("4", "4", "5", "majority", False),
        ("4", "4", "5", "gold_and_majority", False),
        ("5", "4", "5", "gold_and_majority", False),
        ("4", "4", "4", "gold_and_majority", True),
    ],
)
def test_is_kept(key: str, gold: str, vote: str, policy: KeepPolicy, kept: bool) -> None:
    assert is_kept(key, gold, vote, policy) is kept


def test_can_judge_needs_the_policy_reference() -> None:
    assert can_judge(None, "5", "majority")
    assert not can_judge("4", None, "majority")
    assert can_judge("4", None, "gold")
    assert not can_judge(None, "5", "gold")
    assert not can_judge(None, "5", "gold_and_majority")
    assert not can_judge("4", None, "gold_and_majority")


class TestKeepPolicies:
    """Samples answer 5, 4, 5, unreadable; gold 4, so the vote (5) is wrong."""

    def test_gold(self, toy_task) -> None:
        r = filter_example(toy_task, _example("4"), SAMPLES, FilterConfig(keep="gold"))
        assert r.positives == (S1,)
        assert r.teacher_negatives == (S0, S2)

    def test_majority(self, toy_task) -> None:
        r = filter_example(toy_task, _example("4"), SAMPLES, FilterConfig(keep="majority"))
        assert r.positives == (S0, S2)
        assert r.teacher_negatives == (S1,)

    def test_gold_and_majority_when_vote_is_wrong(self, toy_task) -> None:
        """No sample agrees with both gold (4) and vote (5): every readable one is negative."""
        cfg = FilterConfig(keep="gold_and_majority")
        r = filter_example(toy_task, _example("4"), SAMPLES, cfg)
        assert r.positives == ()
        assert r.teacher_negatives == (S0, S1, S2)

    def test_gold_and_majority_when_vote_is_right(self, toy_task) -> None:
        cfg = FilterConfig(keep="gold_and_majority")
        r = filter_example(toy_task, _example("5"), SAMPLES, cfg)
        assert r.positives == (S0, S2)
        assert r.teacher_negatives == (S1,)

    def test_record_fields(self, toy_task) -> None:
        r = filter_example(toy_task, _example("4"), SAMPLES, FilterConfig())
        assert r.vote == "5"
        assert r.gold == "4"
        assert r.answers == ("5", "4", "5", None)
        assert r.parse_failures == ("no answer mark",)
        assert r.first_sample == S0
        assert r.unjudged == 0
        assert r.to_row() == {
            "id": "e1",
            "positives": [S1],
            "teacher_negatives": [S0, S2],
            "first_sample": S0,
            "vote": "5",
            "gold": "4",
        }


class TestFailures:
    def test_unreadable_samples_join_neither_pool(self, toy_task) -> None:
        samples = ["", "nothing here", "b c d #4"]
        r = filter_example(toy_task, _example("4"), samples, FilterConfig(keep="gold"))
        assert r.positives == ("b c d #4",)
        assert r.teacher_negatives == ()
        assert r.parse_failures == ("empty text", "no answer mark")

    def test_first_sample_is_raw_even_if_unreadable(self, toy_task) -> None:
        r = filter_example(toy_task, _example("4"), ["  garbled ", "x #4"], FilterConfig())
        assert r.first_sample == "  garbled "

    def test_unreadable_gold_label_is_counted_not_raised(self, toy_task) -> None:
        """With no gold, the gold policy cannot judge: both readable samples are unjudged."""
        r = filter_example(toy_task, _example("two words"), ["a #1", "b #2"], FilterConfig())
        assert r.gold is None
        assert r.gold_failure is not None and "unreadable gold label" in r.gold_failure
        assert (r.positives, r.teacher_negatives, r.unjudged) == ((), (), 2)
        assert r.vote == "1"

    def test_majority_policy_works_without_gold(self, toy_task) -> None:
        cfg = FilterConfig(keep="majority")
        r = filter_example(toy_task, _example(""), ["a #1", "b #2", "c #1"], cfg)
        assert r.positives == ("a #1", "c #1")
        assert r.teacher_negatives == ("b #2",)
        assert r.unjudged == 0

    def test_no_samples(self, toy_task) -> None:
        r = filter_example(toy_task, _example("4"), [], FilterConfig())
        assert r.positives == r.teacher_negatives == ()
        assert r.first_sample is None
        assert r.vote is None
        assert r.answers == ()


class TestDeduplicate:
    def test_exact_after_whitespace_and_case_normalisation(self) -> None:
        texts = ["So  the answer\nis 4", "so the ANSWER is 4", "so the answer is 4"]
        d = deduplicate(texts, threshold=0.9)
        assert d.kept == ("So  the answer\nis 4",)
        assert (d.exact, d.near) == (2, 0)

    def test_near_duplicate_at_threshold(self) -> None:
        """'a b c d e' has 3-grams {abc, bcd, cde}; 'a b c d x' has {abc, bcd, cdx}.

        Jaccard = |{abc, bcd}| / |{abc, bcd, cde, cdx}| = 2 / 4 = 0.5.
        """
        a, b = "a b c d e", "a b c d x"
        assert jaccard(gram_set(a), gram_set(b)) == 0.5
        at = deduplicate([a, b], threshold=0.5)
        assert at.kept == (a,)
        assert (at.exact, at.near) == (0, 1)
        above = deduplicate([a, b], threshold=0.51)
        assert above.kept == (a, b)
        assert (above.exact, above.near) == (0, 0)

    def test_keeps_the_first_of_a_group(self) -> None:
        a, b = "a b c d e", "a b c d x"
        assert deduplicate([b, a], threshold=0.5).kept == (b,)

    def test_compares_only_with_kept_texts(self) -> None:
        """b is a near duplicate of a (0.5) and removed; c is as close to b but not to a.

        a = {abc, bcd, cde}, b = {abc, bcd, cdx}, c = 'z b c d x' = {zbc, bcd, cdx}:
        J(b, c) = |{bcd, cdx}| / |{abc, zbc, bcd, cdx}| = 2 / 4 = 0.5, but
        J(a, c) = |{bcd}| / |{abc, bcd, cde, zbc, cdx}| = 1 / 5, so c stays.
        """
        a, b, c = "a b c d e", "a b c d x", "z b c d x"
        assert jaccard(gram_set(b), gram_set(c)) == 0.5
        assert jaccard(gram_set(a), gram_set(c)) == pytest.approx(1 / 5)
        d = deduplicate([a, b, c], threshold=0.5)
        assert d.kept == (a, c)

    def test_short_texts_compare_as_whole(self) -> None:
        """Under three words a text is one gram: '42' and '42.' differ, '42' twice does not."""
        d = deduplicate(["42", "42.", "42"], threshold=0.9)
        assert d.kept == ("42", "42.")
        assert (d.exact, d.near) == (1, 0)

    def test_default_threshold_removes_a_one_word_edit_in_a_long_text(self, toy_task) -> None:
        """22 words have 20 3-grams; changing the first word changes one: 19 / 21 = 0.905."""
        base = [f"w{i}" for i in range(1, 21)]
        a = " ".join(["w0", *base, "#4"])
        b = " ".join(["v0", *base, "#4"])
        assert jaccard(gram_set(a), gram_set(b)) == pytest.approx(19 / 21)
        r = filter_example(toy_task, _example("4"), [a, b], FilterConfig())
        assert r.positives == (a,)
        assert r.duplicates["positives"] == {"exact": 0, "near": 1}

    def test_pools_are_deduplicated_separately(self, toy_task) -> None:
        """Two texts that differ only in their answer land in different pools: both stay."""
        base = " ".join(f"w{i}" for i in range(30))
        right, wrong = f"{base} #4", f"{base} #5"
        r = filter_example(toy_task, _example("4"), [right, wrong, right], FilterConfig())
        assert r.positives == (right,)
        assert r.teacher_negatives == (wrong,)
        assert r.duplicates == {
            "positives": {"exact": 1, "near": 0},
            "teacher_negatives": {"exact": 0, "near": 0},
        }
