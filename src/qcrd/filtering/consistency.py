"""Self-consistency denoising of teacher samples (method.md §1.2), as pure functions.

For one training input: read each teacher sample's answer with the task, majority-vote the
readable answers, split the readable samples into positives (kept by the policy) and teacher
negatives (the rest: minority or wrong answers), and remove exact and near duplicates within
each pool. Unreadable samples join neither pool; their reasons are counted.

Decisions the paper leaves open:

- Vote ties go to the tied answer that appears first in sample order, so the result never
  depends on dict or set ordering and the first (usually most greedy-like) sample wins.
- When the policy's reference is missing (``gold`` or ``gold_and_majority`` with an unreadable
  gold label, or ``majority`` with no vote) no readable sample can be judged: they join
  neither pool and are counted as unjudged, rather than being called negatives on no evidence.
- Duplicates are found greedily in sample order against the rationales already kept, so the
  first of a group of near-identical rationales is the one kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qcrd.config import FilterConfig
from qcrd.data.records import Example
from qcrd.filtering.ngrams import gram_set, jaccard, normalised
from qcrd.tasks.base import Answer, Task

KeepPolicy = Literal["gold", "majority", "gold_and_majority"]


def majority_vote(keys: Sequence[str | None]) -> str | None:
    """The most frequent readable answer; ties go to the one that occurs first.

    Args:
        keys: answer keys in sample order, ``None`` for an unreadable sample.

    Returns:
        The winning key, or ``None`` when no sample was readable.
    """
    readable = [k for k in keys if k is not None]
    if not readable:
        return None
    counts = Counter(readable)
    # dict.fromkeys lists the answers in first-occurrence order, and max() returns the first
    # of several maximal items, so the earliest answer wins a tie.
    return max(dict.fromkeys(readable), key=counts.__getitem__)


def is_kept(key: str, gold: str | None, vote: str | None, policy: KeepPolicy) -> bool:
    """Whether a readable sample with answer ``key`` is a positive under ``policy``."""
    if policy == "gold":
        return key == gold
    if policy == "majority":
        return key == vote
    if policy == "gold_and_majority":
        return key == gold and key == vote
    raise ValueError(f"unknown keep policy {policy!r}")


def can_judge(gold: str | None, vote: str | None, policy: KeepPolicy) -> bool:
    """Whether the reference(s) ``policy`` compares against are known."""
    if policy == "majority":
        return vote is not None
    if policy == "gold":
        return gold is not None
    return gold is not None and vote is not None


@dataclass(frozen=True)
class Deduped:
    """Texts left after duplicate removal and how many of each kind went."""

    kept: tuple[str, ...]
    exact: int
    near: int


def deduplicate(texts: Sequence[str], threshold: float, n: int = 3) -> Deduped:
    """Drop exact and near duplicates, keeping the first of each group.

    Args:
        texts: candidate texts in priority order.
        threshold: a text whose word n-gram Jaccard similarity with an already kept text is
            at least this is a near duplicate.
        n: n-gram length in words.

    Returns:
        The kept texts (original spelling, original order) and the counts of exact duplicates
        (equal after whitespace/case normalisation) and near duplicates removed.
    """
    kept: list[str] = []
    seen: set[str] = set()
    kept_grams: list[frozenset[tuple[str, ...]]] = []
    exact = near = 0
    for text in texts:
        key = normalised(text)
        if key in seen:
            exact += 1
            continue
        grams = gram_set(text, n)
        if any(jaccard(grams, other) >= threshold for other in kept_grams):
            near += 1
            continue
        seen.add(key)
        kept_grams.append(grams)
        kept.append(text)
    return Deduped(kept=tuple(kept), exact=exact, near=near)


@dataclass(frozen=True)
class FilteredExample:
    """The filter's verdict on one training input, with what the statistics need.

    Attributes:
        id: the example's id.
        positives: kept rationales, deduplicated, in sample order.
        teacher_negatives: readable rationales the policy rejected, deduplicated.
        first_sample: the first raw teacher sample, unfiltered (the DSS baseline's rationale);
            ``None`` when the input has no sample.
        vote: the majority answer key, ``None`` when no sample was readable.
        gold: the gold label's answer key, ``None`` when the label could not be read.
        gold_failure: why the gold label could not be read, else ``None``.
        answers: each sample's answer key in sample order, ``None`` where unreadable.
        parse_failures: the reason of each unreadable sample.
        unjudged: readable samples dropped because the policy's reference was missing.
        duplicates: removed duplicates as ``{pool: {"exact": n, "near": n}}``.
    """

    id: str
    positives: tuple[str, ...]
    teacher_negatives: tuple[str, ...]
    first_sample: str | None
    vote: str | None
    gold: str | None
    gold_failure: str | None
    answers: tuple[str | None, ...]
    parse_failures: tuple[str, ...]
    unjudged: int
    duplicates: dict[str, dict[str, int]]

    def to_row(self) -> dict[str, Any]:
        """The ``filter/train.jsonl`` row later stages read."""
        return {
            "id": self.id,
            "positives": list(self.positives),
            "teacher_negatives": list(self.teacher_negatives),
            "first_sample": self.first_sample,
            "vote": self.vote,
            "gold": self.gold,
        }


def read_gold(task: Task, example: Example) -> tuple[str | None, str | None]:
    """The gold label's answer key and, if it cannot be read, the reason instead."""
    try:
        answer = task.label_answer(example.label, example.choices)
    except ValueError as err:
        return None, f"unreadable gold label: {err}"
    if answer.key is None:
        # The protocol says a bad label raises; tolerate an implementation that returns None.
        return None, f"unreadable gold label: {answer.reason or 'no reason given'}"
    return answer.key, None


def filter_example(
    task: Task, example: Example, samples: Sequence[str], cfg: FilterConfig
) -> FilteredExample:
    """Apply self-consistency denoising to one input's teacher samples.

    Args:
        task: reads answers from rationales and gold labels.
        example: the training input with its gold label and choices.
        samples: raw teacher rationales in sample order (may be empty).
        cfg: keep policy and near-duplicate threshold.

    Returns:
        The positives, teacher negatives and everything the statistics count.
    """
    gold, gold_failure = read_gold(task, example)
    answers: list[Answer] = [task.extract_answer(text, example.choices) for text in samples]
    keys = [a.key for a in answers]
    vote = majority_vote(keys)

    parse_failures = tuple(a.reason or "unknown" for a in answers if a.key is None)
    readable = [
        (text, a.key) for text, a in zip(samples, answers, strict=True) if a.key is not None
    ]
    judged = can_judge(gold, vote, cfg.keep)
    positives: list[str] = []
    negatives: list[str] = []
    if judged:
        for text, key in readable:
            (positives if is_kept(key, gold, vote, cfg.keep) else negatives).append(text)

    pos = deduplicate(positives, cfg.near_duplicate_threshold)
    neg = deduplicate(negatives, cfg.near_duplicate_threshold)
    return FilteredExample(
        id=example.id,
        positives=pos.kept,
        teacher_negatives=neg.kept,
        first_sample=samples[0] if samples else None,
        vote=vote,
        gold=gold,
        gold_failure=gold_failure,
        answers=tuple(keys),
        parse_failures=parse_failures,
        unjudged=0 if judged else len(readable),
        duplicates={
            "positives": {"exact": pos.exact, "near": pos.near},
            "teacher_negatives": {"exact": neg.exact, "near": neg.near},
        },
    )
