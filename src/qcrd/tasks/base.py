"""What a task is: how inputs are shown, how answers are read from free text and compared."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

PREDICT_PREFIX = "predict: "
EXPLAIN_PREFIX = "explain: "

# "So the answer is (d) ...", "The answer is (84 / 2).", "Therefore, the answer is: 14".
# ASCII-only classes: a model must not pass look-alike letters for the cue.
_ANSWER_CUE = re.compile(r"\banswer\s+is\s*:?", re.IGNORECASE | re.ASCII)


@dataclass(frozen=True)
class Answer:
    """An answer read from model text.

    Attributes:
        key: canonical, hashable form used for voting and comparison (SVAMP: the value
            rounded to 4 decimals, e.g. ``"42"`` or ``"0.3333"``; CQA: the choice text,
            lower-cased with whitespace collapsed; NLI: the class name). ``None`` when
            nothing could be read.
        reason: why ``key`` is ``None`` (a short, countable phrase), else ``None``.
    """

    key: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.key is not None


class Task(Protocol):
    """One benchmark task. Implementations are small frozen dataclasses in ``qcrd.tasks``."""

    @property
    def name(self) -> str:
        """The task's name as in ``DataConfig.task`` (``svamp``, ``cqa``, ``anli1``, ``esnli``)."""
        ...

    def canonical_label(self, label: str, choices: tuple[str, ...] = ()) -> str:
        """The gold label as stored in an Example (raises ``ValueError`` if it is malformed).

        SVAMP keeps the equation (it is the student's label target); CQA returns the choice
        as spelled in ``choices``; NLI maps ``0/1/2`` and any casing to the class name.
        """
        ...

    def label_answer(self, label: str, choices: tuple[str, ...] = ()) -> Answer:
        """The canonical answer of a gold label (raises ``ValueError`` if it is malformed)."""
        ...

    def extract_answer(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """Read the answer a teacher or student rationale commits to (never raises)."""
        ...

    def parse_prediction(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """Read the student's label-task output (never raises)."""
        ...


def student_input(prefix: str, task_input: str) -> str:
    """The text the student reads: a task prefix then the input (``predict: <input>``).

    One place for the Distilling step-by-step convention, so training and evaluation agree.
    """
    return f"{prefix}{task_input}"


def after_answer_cue(text: str) -> str | None:
    """The first non-empty line after the last "answer is" cue, or ``None`` without a cue.

    The last cue wins: a rationale may quote an earlier, revised answer before its final one.
    Leading blank lines are skipped because chat models write "The answer is:\n\n14 boys".
    """
    cues = list(_ANSWER_CUE.finditer(text))
    if not cues:
        return None
    return text[cues[-1].end() :].lstrip().split("\n", 1)[0].strip()


def normalize_text(text: str) -> str:
    """Lower-case, collapse whitespace and strip surrounding punctuation and quotes."""
    return " ".join(text.split()).lower().strip(" .,;:!?\"'`")
