"""The on-disk record formats every stage shares.

A run's ``data/`` folder holds ``{train,valid,test}.jsonl`` (one :class:`Example` a line) and
``rationales.jsonl`` (one :class:`RationaleSet` a line: pre-generated teacher rationales for a
training example, whatever their origin). Later stages never care which loader made them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Example:
    """One task input with its gold label.

    Attributes:
        id: stable identifier, unique within the data set.
        input: the task input as the student reads it, without a task prefix
            (CQA: question plus lettered choices; NLI: premise and hypothesis).
        label: the gold label in the task's canonical form (SVAMP: an equation string).
        choices: answer options for multiple-choice tasks, else empty.
    """

    id: str
    input: str
    label: str
    choices: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "label": self.label,
            "choices": list(self.choices),
        }

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> Example:
        return cls(
            id=str(row["id"]),
            input=row["input"],
            label=row["label"],
            choices=tuple(row.get("choices") or ()),
        )


@dataclass(frozen=True)
class Rationale:
    """A chain-of-thought text and where it came from (e.g. ``mcckd:gpt-3.5-turbo``)."""

    text: str
    source: str


@dataclass(frozen=True)
class RationaleSet:
    """All pre-generated rationales for one example, in sample order."""

    id: str
    rationales: tuple[Rationale, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "rationales": [asdict(r) for r in self.rationales]}

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> RationaleSet:
        return cls(id=str(row["id"]), rationales=tuple(Rationale(**r) for r in row["rationales"]))


@dataclass
class BadRows:
    """Rows a loader skipped, counted by reason so nothing vanishes silently."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        self.examples.setdefault(reason, where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_reason": dict(self.counts),
            "first_example": self.examples,
        }


@dataclass
class LoadedData:
    """What a loader returns: the splits, any teacher rationales for train, and skipped rows."""

    train: list[Example]
    valid: list[Example]
    test: list[Example]
    rationales: list[RationaleSet]
    bad_rows: BadRows
    notes: list[str] = field(default_factory=list)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows atomically (temp file + rename) and return how many were written."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None


def read_log_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of an append-only JSON-lines log: a missing file gives none, and a last line cut
    short by a kill ends the list (everything before it is intact)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def read_examples(path: Path) -> list[Example]:
    return [Example.from_json(r) for r in read_jsonl(path)]


def read_rationale_sets(path: Path) -> list[RationaleSet]:
    return [RationaleSet.from_json(r) for r in read_jsonl(path)]
