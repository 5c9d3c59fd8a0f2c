"""Natural language inference (ANLI round 1, e-SNLI): three classes.

Input rendering (ours; the paper does not print one)::

    premise: Ernest Jones is a British jeweller and watchmaker. ...
    hypothesis: The first Ernest Jones store was opened on the continent of Europe.

Numeric gold labels follow the Hugging Face ``ClassLabel`` order of both data sets:
0 entailment, 1 neutral, 2 contradiction. Reading an answer ("So the answer is
contradiction."): the first class word after the last answer cue, else the last class word
the text mentions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qcrd.tasks.base import Answer, after_answer_cue, normalize_text

LABELS = ("entailment", "neutral", "contradiction")
_CLASS_WORD = re.compile(r"\b(entailment|neutral|contradiction)\b", re.IGNORECASE | re.ASCII)


def render_input(premise: str, hypothesis: str) -> str:
    """``premise: ...\\nhypothesis: ...``."""
    return f"premise: {premise.strip()}\nhypothesis: {hypothesis.strip()}"


@dataclass(frozen=True)
class NliTask:
    """A three-way NLI task; ``name`` is ``"anli1"`` or ``"esnli"`` (same labels, same rules)."""

    name: str

    def canonical_label(self, label: str, choices: tuple[str, ...] = ()) -> str:
        """The class name of ``0/1/2`` or of a class name in any case (``ValueError`` if none)."""
        text = label.strip().lower()
        if text in ("0", "1", "2"):
            return LABELS[int(text)]
        if text in LABELS:
            return text
        raise ValueError(f"NLI label {label!r} is none of 0/1/2 or {', '.join(LABELS)}")

    def label_answer(self, label: str, choices: tuple[str, ...] = ()) -> Answer:
        """The class name of the gold label."""
        return Answer(self.canonical_label(label))

    def extract_answer(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The class word after the last answer cue, else the last class word in the text."""
        tail = after_answer_cue(text)
        if tail is not None:
            first = _CLASS_WORD.search(tail)
            if first:
                return Answer(first.group(1).lower())
        words = _CLASS_WORD.findall(text)
        if not words:
            return Answer(None, "no class word")
        return Answer(words[-1].lower())

    def parse_prediction(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """The student's label output: a class name, else read like a rationale."""
        if normalize_text(text) in LABELS:
            return Answer(normalize_text(text))
        return self.extract_answer(text)
