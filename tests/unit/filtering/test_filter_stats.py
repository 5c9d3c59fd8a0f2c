"""Every statistic on a tiny literal run, with the arithmetic in the docstrings."""

from __future__ import annotations

import json

import pytest

from qcrd.config import FilterConfig
from qcrd.data.records import Example
from qcrd.filtering.consistency import FilteredExample, filter_example
from qcrd.filtering.stats import FilterStats, compute_stats, distinct_n, mean_pairwise_jaccard
from qcrd.tasks.base import Task


def test_distinct_n_does_not_cross_rationale_boundaries() -> None:
    """Texts 'a b a' and 'b c'.

    distinct-1: unigrams a b a b c -> 3 unique / 5 = 0.6.
    distinct-2: bigrams (a b) (b a) | (b c) -> 3 unique / 3 = 1.0 (across the boundary there
    would be a second (a b), giving 3 / 4).
    """
    assert distinct_n(["a b a", "b c"], 1) == pytest.approx(0.6)
    assert distinct_n(["a b a", "b c"], 2) == 1.0


def test_distinct_n_without_ngrams_is_none() -> None:
    assert distinct_n([], 1) is None
    assert distinct_n(["one"], 2) is None


def test_mean_pairwise_jaccard() -> None:
    """3-gram sets: 'a b c d' {abc, bcd}; 'a b c e' {abc, bce}; 'x y z' {xyz}.

    Pairs: 1/3 (abc shared, 3 in the union), 0, 0 -> mean (1/3) / 3 = 1/9.
    """
    texts = ["a b c d", "a b c e", "x y z"]
    assert mean_pairwise_jaccard(texts) == pytest.approx(1 / 9)
    assert mean_pairwise_jaccard(texts[:1]) is None


def _run(task: Task) -> list[FilteredExample]:
    """Five inputs, gold policy (the toy task reads '#x' at the end as answer x).

    e1 gold 4: answers 4, 4, 5, unreadable -> vote 4; positives 'a b c #4', 'a b c d #4';
       negative 'a b #5'.
    e2 gold 7: answers 3, 3 (an exact duplicate after normalisation), 7 -> vote 3 (wrong);
       positive 'y #7'; negative 'x #3' (one exact duplicate removed).
    e3 gold 1: no samples (every teacher request failed).
    e4 gold label '' is unreadable: answer 1 -> vote 1, one unjudged sample.
    e5 gold 2: two unreadable samples -> no vote.
    """
    cfg = FilterConfig(keep="gold")
    rows = [
        ("e1", "4", ["a b c #4", "a b c d #4", "a b #5", "a b"]),
        ("e2", "7", ["x #3", "X  #3", "y #7"]),
        ("e3", "1", []),
        ("e4", "", ["z #1"]),
        ("e5", "2", ["", "q"]),
    ]
    return [
        filter_example(task, Example(id=i, input="q", label=label), samples, cfg)
        for i, label, samples in rows
    ]


@pytest.fixture
def stats(toy_task: Task) -> FilterStats:
    return compute_stats(_run(toy_task))


def test_counts(stats: FilterStats) -> None:
    """samples 4 + 3 + 0 + 1 + 2 = 10; unreadable: e1 'a b', e5 '' and 'q' -> 3, parsed 7."""
    assert stats.inputs == 5
    assert stats.inputs_without_samples == 1
    assert stats.samples == 10
    assert stats.samples_parsed == 7
    assert stats.parse_failures == {"no answer mark": 2, "empty text": 1}
    assert stats.gold_label_failures == 1
    assert stats.unjudged_samples == 1


def test_teacher_sample_accuracy(stats: FilterStats) -> None:
    """Inputs with a gold label and samples: e1 (2 of 4 right), e2 (1 of 3), e5 (0 of 2).

    (2 + 1 + 0) / (4 + 3 + 2) = 3 / 9; e3 has no sample and e4 no readable gold.
    """
    assert stats.teacher_sample_accuracy == pytest.approx(3 / 9)


def test_majority_vote_accuracy(stats: FilterStats) -> None:
    """Votes: e1 4 (right), e2 3 (wrong), e5 none (wrong) -> 1 / 3."""
    assert stats.majority_vote_accuracy == pytest.approx(1 / 3)


def test_kept(stats: FilterStats) -> None:
    """Positives: e1 2, e2 1, others 0 -> 3; negatives e1 1, e2 1 -> 2."""
    assert stats.positives == 3
    assert stats.teacher_negatives == 2
    assert stats.kept_per_input == {2: 1, 1: 1, 0: 3}
    assert stats.inputs_without_positive == 3


def test_duplicates_removed(stats: FilterStats) -> None:
    """'X  #3' is 'x #3' after normalisation: one exact duplicate among negatives."""
    assert stats.duplicates_removed == {
        "positives": {"exact": 0, "near": 0},
        "teacher_negatives": {"exact": 1, "near": 0},
    }


def test_diversity(stats: FilterStats) -> None:
    """Positives 'a b c #4', 'a b c d #4', 'y #7'.

    distinct-1: 11 words (4 + 5 + 2), unique {a, b, c, #4, d, y, #7} = 7 -> 7 / 11.
    distinct-2: bigrams ab bc c#4 | ab bc cd d#4 | y#7 = 8, unique 6 -> 6 / 8.
    Pairwise 3-gram Jaccard, e1 only: {abc, bc#4} vs {abc, bcd, cd#4}: 1 / 4 -> mean 0.25.
    """
    assert stats.distinct_1 == pytest.approx(7 / 11)
    assert stats.distinct_2 == pytest.approx(6 / 8)
    assert stats.mean_pairwise_jaccard_3gram == pytest.approx(0.25)
    assert stats.inputs_with_2plus_positives == 1


def test_to_json_round_trips(stats: FilterStats) -> None:
    """Histogram keys become strings sorted by count; the dict survives json unchanged."""
    body = stats.to_json()
    assert body["kept_per_input"] == {"0": 3, "1": 1, "2": 1}
    assert json.loads(json.dumps(body)) == body


def test_empty_run() -> None:
    """No inputs: rates are None, never a division by zero."""
    empty = compute_stats([])
    assert empty.teacher_sample_accuracy is None
    assert empty.majority_vote_accuracy is None
    assert empty.distinct_1 is None
    assert empty.mean_pairwise_jaccard_3gram is None
