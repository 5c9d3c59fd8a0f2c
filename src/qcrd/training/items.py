"""What each training example carries into the trainer, per method.

The filter stage's ``train.jsonl`` holds, per example, the self-consistent positives, the teacher
negatives (minority / wrong answers) and the first raw teacher sample. Which of those a method
learns from is decided here, once:

| method      | rationale targets                                   |
|-------------|-----------------------------------------------------|
| ft          | none (label only)                                   |
| dss         | the first teacher sample, unfiltered (as DSS)       |
| single_task | the first teacher sample, then the label, one output|
| qcrd        | the filtered positives (ED off: the first sample)   |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qcrd.config import TrainConfig
from qcrd.data.records import Example, read_examples, read_jsonl

# single_task writes its rationale, then this marker, then the label.
LABEL_MARKER = "\nLabel: "


@dataclass(frozen=True)
class TrainItem:
    example: Example
    positives: tuple[str, ...]
    teacher_negatives: tuple[str, ...]


def build_items(cfg: TrainConfig, data_dir: Path, filter_dir: Path | None) -> list[TrainItem]:
    """Join the data stage's train split with the filter stage's rationales."""
    examples = read_examples(data_dir / "train.jsonl")
    if cfg.method == "ft" or filter_dir is None:
        return [TrainItem(ex, (), ()) for ex in examples]
    rows = {str(r["id"]): r for r in read_jsonl(filter_dir / "train.jsonl")}
    items = []
    for ex in examples:
        row = rows.get(ex.id, {})
        first = row.get("first_sample")
        unfiltered = (first,) if first else ()
        if cfg.method == "qcrd" and cfg.qcrd.ensemble_positives:
            positives = tuple(row.get("positives", ()))
        else:
            positives = unfiltered
        # With ED off the unfiltered first sample is the positive even when the vote made it a
        # teacher negative: it must not be pulled toward and pushed away at once.
        negatives = (
            tuple(r for r in row.get("teacher_negatives", ()) if r not in positives)
            if cfg.method == "qcrd"
            else ()
        )
        items.append(TrainItem(ex, positives, negatives))
    return items


def single_task_target(rationale: str | None, label: str) -> str:
    return f"{rationale}{LABEL_MARKER}{label}" if rationale else f"{LABEL_MARKER.lstrip()}{label}"


def label_part(output: str) -> str:
    """The label a single_task output ends with (the whole output if it has no marker)."""
    marker = LABEL_MARKER.strip()
    return output.rsplit(marker, 1)[-1].strip() if marker in output else output
