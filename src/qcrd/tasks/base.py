"""What a task is: how inputs are shown, how answers are read from free text and compared."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

PREDICT_PREFIX = "predict: "
EXPLAIN_PREFIX = "explain: "


@dataclass(frozen=True)
class Answer:
    """An answer read from model text.

    Attributes:
        key: canonical, hashable form used for voting and comparison (SVAMP: the value
            rounded to 6 decimals as a string; CQA: the choice text, lower-cased; NLI: the
            class name). ``None`` when nothing could be read.
        reason: why ``key`` is ``None`` (a short, countable phrase), else ``None``.
    """

    key: str | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.key is not None


class Task(Protocol):
    """One benchmark task. Implementations are small frozen dataclasses in ``qcrd.tasks``."""

    name: str

    def label_answer(self, label: str, choices: tuple[str, ...] = ()) -> Answer:
        """The canonical answer of a gold label (raises ``ValueError`` if it is malformed)."""
        ...

    def extract_answer(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """Read the answer a teacher or student rationale commits to (never raises)."""
        ...

    def parse_prediction(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        """Read the student's label-task output (never raises)."""
        ...
