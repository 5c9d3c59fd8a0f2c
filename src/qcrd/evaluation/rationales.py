"""What the student's own rationales say: do they agree with its label, are they varied?

Definitions, decided here once (every count is over the test inputs that got a generated
rationale, ``eval.rationale_examples`` of them):

- rationale answer: ``task.extract_answer`` of the rationale written for ``explain: <input>``.
- label answer: ``task.parse_prediction`` of the output written for ``predict: <input>``.
- rationale–label consistency: the share of inputs where the two answers are equal, **over
  the inputs where both parse**. Inputs where either fails are left out of it and reported
  on their own (``either_failed`` and its share of all inputs), so a student that writes
  unreadable rationales cannot look consistent by accident, nor inconsistent.
- rationale accuracy: rationale answer equal to the gold answer, over all inputs with a
  readable gold label (an unreadable rationale counts as wrong, as in the filter stats).
- diversity: distinct-1 / distinct-2 pooled over all the rationales, and the mean word-3-gram
  Jaccard overlap over every pair of rationales of *different* inputs (a student that writes
  one template for every question scores high), with :mod:`qcrd.filtering.stats`' functions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from qcrd.data.records import Example
from qcrd.evaluation.accuracy import Prediction, gold_key
from qcrd.filtering.ngrams import words
from qcrd.filtering.stats import distinct_n, mean_pairwise_jaccard
from qcrd.tasks.base import Task


@dataclass(frozen=True)
class RationaleRow:
    """One test input's generated rationale, read and set beside the label prediction."""

    id: str
    input: str
    label: str
    gold: str | None
    rationale: str
    rationale_answer: str | None
    rationale_parse_failure: str | None
    predicted_answer: str | None
    prediction_parse_failure: str | None

    @property
    def both_parsed(self) -> bool:
        return self.rationale_answer is not None and self.predicted_answer is not None

    @property
    def consistent(self) -> bool | None:
        """Rationale and label agree; ``None`` when either could not be read."""
        return self.rationale_answer == self.predicted_answer if self.both_parsed else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "consistent": self.consistent}


def read_rationales(
    task: Task, examples: Sequence[Example], texts: Sequence[str], preds: Sequence[Prediction]
) -> list[RationaleRow]:
    """Read each rationale's answer and join it with the label prediction of the same input.

    Args:
        task: reads answers from free text.
        examples: the test inputs that got a rationale.
        texts: the generated rationales, one per example.
        preds: label predictions of (at least) these examples, matched by id.
    """
    by_id = {p.id: p for p in preds}
    rows = []
    for ex, text in zip(examples, texts, strict=True):
        answer = task.extract_answer(text, ex.choices)
        pred = by_id.get(ex.id)
        rows.append(
            RationaleRow(
                id=ex.id,
                input=ex.input,
                label=ex.label,
                gold=gold_key(task, ex),
                rationale=text,
                rationale_answer=answer.key,
                rationale_parse_failure=answer.reason,
                predicted_answer=pred.answer if pred else None,
                prediction_parse_failure=pred.parse_failure if pred else "no label prediction",
            )
        )
    return rows


@dataclass(frozen=True)
class Consistency:
    """Rationale–label agreement (see the module docstring for the denominators)."""

    examples: int
    both_parsed: int
    consistent: int
    consistency: float | None
    """consistent / both_parsed; ``None`` when nothing parsed on both sides."""
    rationale_parse_failures: int
    label_parse_failures: int
    either_failed: int
    either_failed_share: float | None
    rationale_correct: int
    rationale_accuracy: float | None
    """rationale answer == gold over inputs with a readable gold label."""
    rationale_failure_reasons: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def consistency(rows: Sequence[RationaleRow]) -> Consistency:
    """Aggregate :class:`RationaleRow` s into the consistency metric."""
    n = len(rows)
    both = [r for r in rows if r.both_parsed]
    agree = sum(bool(r.consistent) for r in both)
    judged = [r for r in rows if r.gold is not None]
    correct = sum(r.rationale_answer is not None and r.rationale_answer == r.gold for r in judged)
    reasons = Counter(
        r.rationale_parse_failure or "unknown" for r in rows if r.rationale_answer is None
    )
    return Consistency(
        examples=n,
        both_parsed=len(both),
        consistent=agree,
        consistency=agree / len(both) if both else None,
        rationale_parse_failures=sum(r.rationale_answer is None for r in rows),
        label_parse_failures=sum(r.predicted_answer is None for r in rows),
        either_failed=n - len(both),
        either_failed_share=(n - len(both)) / n if n else None,
        rationale_correct=correct,
        rationale_accuracy=correct / len(judged) if judged else None,
        rationale_failure_reasons=dict(sorted(reasons.items())),
    )


def diversity(texts: Sequence[str]) -> dict[str, Any]:
    """distinct-1/2 (pooled), cross-input 3-gram overlap and mean length in words."""
    nonempty = [t for t in texts if t.strip()]
    return {
        "rationales": len(texts),
        "empty": len(texts) - len(nonempty),
        "distinct_1": distinct_n(nonempty, 1),
        "distinct_2": distinct_n(nonempty, 2),
        "mean_pairwise_jaccard_3gram": mean_pairwise_jaccard(nonempty, 3),
        "mean_words": sum(len(words(t)) for t in texts) / len(texts) if texts else None,
    }
