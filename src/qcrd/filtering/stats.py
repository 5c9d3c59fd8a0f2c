"""Statistics of a filter run: how good the teacher was, what was kept, how diverse it is.

Denominators, decided here once:

- teacher sample accuracy: every sample (readable or not) of the inputs whose gold label could
  be read; an unreadable sample counts as wrong.
- majority-vote accuracy: inputs with a readable gold label and at least one sample; an input
  whose samples are all unreadable has no vote and counts as wrong. Inputs with no sample at
  all (every teacher request failed) are left out of both and counted on their own.
- distinct-n: unique word n-grams / all word n-grams, pooled over every kept positive
  (n-grams do not cross rationale boundaries).
- mean pairwise overlap: the mean word-3-gram Jaccard similarity over all pairs of positives
  of one input, averaged over the inputs with at least two positives.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qcrd.filtering.consistency import FilteredExample
from qcrd.filtering.ngrams import gram_set, jaccard, ngrams, words


def _share(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def distinct_n(texts: Sequence[str], n: int) -> float | None:
    """Unique word n-grams over all n-grams of ``texts``; ``None`` when there are none."""
    grams = [g for text in texts for g in ngrams(words(text), n)]
    return _share(len(set(grams)), len(grams))


def mean_pairwise_jaccard(texts: Sequence[str], n: int = 3) -> float | None:
    """Mean word-n-gram Jaccard similarity over all pairs; ``None`` for fewer than two texts."""
    sets = [gram_set(t, n) for t in texts]
    pairs = [jaccard(a, b) for a, b in itertools.combinations(sets, 2)]
    return sum(pairs) / len(pairs) if pairs else None


@dataclass(frozen=True)
class FilterStats:
    """Counts and rates of one filter run; :meth:`to_json` is the stage summary."""

    inputs: int
    inputs_without_samples: int
    samples: int
    samples_parsed: int
    parse_failures: dict[str, int]
    gold_label_failures: int
    unjudged_samples: int
    teacher_sample_accuracy: float | None
    majority_vote_accuracy: float | None
    positives: int
    teacher_negatives: int
    kept_per_input: dict[int, int]
    inputs_without_positive: int
    duplicates_removed: dict[str, dict[str, int]]
    distinct_1: float | None
    distinct_2: float | None
    mean_pairwise_jaccard_3gram: float | None
    inputs_with_2plus_positives: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (histogram keys become strings, sorted by count)."""
        return {
            "inputs": self.inputs,
            "inputs_without_samples": self.inputs_without_samples,
            "samples": self.samples,
            "samples_parsed": self.samples_parsed,
            "parse_failures": dict(sorted(self.parse_failures.items())),
            "gold_label_failures": self.gold_label_failures,
            "unjudged_samples": self.unjudged_samples,
            "teacher_sample_accuracy": self.teacher_sample_accuracy,
            "majority_vote_accuracy": self.majority_vote_accuracy,
            "positives": self.positives,
            "teacher_negatives": self.teacher_negatives,
            "kept_per_input": {str(k): v for k, v in sorted(self.kept_per_input.items())},
            "inputs_without_positive": self.inputs_without_positive,
            "duplicates_removed": self.duplicates_removed,
            "diversity": {
                "distinct_1": self.distinct_1,
                "distinct_2": self.distinct_2,
                "mean_pairwise_jaccard_3gram": self.mean_pairwise_jaccard_3gram,
                "inputs_with_2plus_positives": self.inputs_with_2plus_positives,
            },
        }


def compute_stats(results: Sequence[FilteredExample]) -> FilterStats:
    """Aggregate the per-input filter results into run statistics (see module docstring)."""
    parse_failures: Counter[str] = Counter()
    duplicates = {pool: {"exact": 0, "near": 0} for pool in ("positives", "teacher_negatives")}
    samples = correct_samples = judged_samples = 0
    voted_inputs = correct_votes = 0
    overlaps: list[float] = []
    for r in results:
        samples += len(r.answers)
        parse_failures.update(r.parse_failures)
        for pool, counts in r.duplicates.items():
            for kind, n in counts.items():
                duplicates[pool][kind] += n
        if r.gold is not None and r.answers:
            judged_samples += len(r.answers)
            correct_samples += sum(key == r.gold for key in r.answers)
            voted_inputs += 1
            correct_votes += r.vote == r.gold
        overlap = mean_pairwise_jaccard(r.positives)
        if overlap is not None:
            overlaps.append(overlap)

    all_positives = [text for r in results for text in r.positives]
    return FilterStats(
        inputs=len(results),
        inputs_without_samples=sum(not r.answers for r in results),
        samples=samples,
        samples_parsed=samples - sum(parse_failures.values()),
        parse_failures=dict(parse_failures),
        gold_label_failures=sum(r.gold_failure is not None for r in results),
        unjudged_samples=sum(r.unjudged for r in results),
        teacher_sample_accuracy=_share(correct_samples, judged_samples),
        majority_vote_accuracy=_share(correct_votes, voted_inputs),
        positives=len(all_positives),
        teacher_negatives=sum(len(r.teacher_negatives) for r in results),
        kept_per_input=dict(Counter(len(r.positives) for r in results)),
        inputs_without_positive=sum(not r.positives for r in results),
        duplicates_removed=duplicates,
        distinct_1=distinct_n(all_positives, 1),
        distinct_2=distinct_n(all_positives, 2),
        mean_pairwise_jaccard_3gram=sum(overlaps) / len(overlaps) if overlaps else None,
        inputs_with_2plus_positives=len(overlaps),
    )
