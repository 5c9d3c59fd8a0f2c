"""A toy task for filter tests: an answer is a final word marked with '#' ("a b #4" -> "4")."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qcrd.tasks.base import Answer


@dataclass(frozen=True)
class ToyTask:
    """Implements the ``Task`` protocol with rules simple enough to check by eye."""

    name: str = "toy"

    def label_answer(self, label: str, choices: tuple[str, ...] = ()) -> Answer:
        key = label.strip().lower()
        if not key or " " in key:
            raise ValueError(f"label {label!r} is not one word")
        return Answer(key)

    def extract_answer(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        tokens = text.split()
        if not tokens:
            return Answer(None, "empty text")
        if not tokens[-1].startswith("#") or len(tokens[-1]) == 1:
            return Answer(None, "no answer mark")
        return Answer(tokens[-1][1:].lower())

    def parse_prediction(self, text: str, choices: tuple[str, ...] = ()) -> Answer:
        key = text.strip().lower()
        return Answer(key) if key else Answer(None, "empty text")


@pytest.fixture
def toy_task() -> ToyTask:
    return ToyTask()
