"""The filter stage on a tmp run directory (toy task: '#x' at the end is answer x)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qcrd.config import FilterConfig, RunConfig
from qcrd.data.records import Example, read_jsonl, write_jsonl
from qcrd.filtering.stage import read_samples, run_filter_stage
from qcrd.tasks.base import Task

EXAMPLES = [
    Example(id="q1", input="question one", label="4"),
    Example(id="q2", input="question two", label="7"),
    Example(id="q3", input="question three", label="1"),
]


def _samples(*texts: str) -> list[dict[str, str]]:
    return [{"text": t, "source": "test:teacher"} for t in texts]


def _write_run(root: Path, sample_rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    data, teacher = root / "data", root / "teacher"
    data.mkdir()
    teacher.mkdir()
    write_jsonl(data / "train.jsonl", (e.to_json() for e in EXAMPLES))
    write_jsonl(teacher / "samples.jsonl", sample_rows)
    return data, teacher


# q1: answers 4, 4 (near-identical wording), 5 -> one positive after dedup, one negative.
# q2: answers 3, 3 -> vote 3, gold 7: no positive, one negative after an exact duplicate.
# q3: absent from samples.jsonl (every request failed); 'q9' is not a train id.
SAMPLE_ROWS = [
    {"id": "q2", "samples": _samples("So it is #3", "so it IS #3")},
    {"id": "q1", "samples": _samples("add them up p q #4", "add them up p q  #4", "guess #5")},
    {"id": "q9", "samples": _samples("stray #2")},
]


def test_stage_writes_one_row_per_train_example(tmp_path: Path, toy_task: Task) -> None:
    data, teacher = _write_run(tmp_path, SAMPLE_ROWS)
    out = tmp_path / "filter"
    summary = run_filter_stage(RunConfig(), data, teacher, out, task=toy_task)

    rows = list(read_jsonl(out / "train.jsonl"))
    assert rows == [
        {
            "id": "q1",
            "positives": ["add them up p q #4"],
            "teacher_negatives": ["guess #5"],
            "first_sample": "add them up p q #4",
            "vote": "4",
            "gold": "4",
        },
        {
            "id": "q2",
            "positives": [],
            "teacher_negatives": ["So it is #3"],
            "first_sample": "So it is #3",
            "vote": "3",
            "gold": "7",
        },
        {
            "id": "q3",
            "positives": [],
            "teacher_negatives": [],
            "first_sample": None,
            "vote": None,
            "gold": "1",
        },
    ]
    assert json.loads((out / "stats.json").read_text()) == summary
    assert summary["task"] == "toy"
    assert summary["keep"] == "gold"
    assert summary["inputs"] == 3
    assert summary["inputs_without_samples"] == 1
    assert summary["inputs_without_positive"] == 2
    assert summary["sample_sets_without_train_example"] == 1
    # Samples 3 + 2 = 5, right: the two 4s of q1 -> 2 / 5; votes: q1 right, q2 wrong -> 1 / 2.
    assert summary["teacher_sample_accuracy"] == pytest.approx(2 / 5)
    assert summary["majority_vote_accuracy"] == pytest.approx(1 / 2)
    assert summary["duplicates_removed"]["positives"] == {"exact": 1, "near": 0}
    assert summary["duplicates_removed"]["teacher_negatives"] == {"exact": 1, "near": 0}


def test_stage_majority_policy(tmp_path: Path, toy_task: Task) -> None:
    """Under 'majority' q2's two 3s are positives (deduplicated to one), gold be damned."""
    data, teacher = _write_run(tmp_path, SAMPLE_ROWS)
    cfg = RunConfig(filter=FilterConfig(keep="majority"))
    run_filter_stage(cfg, data, teacher, tmp_path / "filter", task=toy_task)
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "filter" / "train.jsonl")}
    assert rows["q2"]["positives"] == ["So it is #3"]
    assert rows["q2"]["teacher_negatives"] == []


def test_stage_counts_unreadable_gold_labels(tmp_path: Path, toy_task: Task) -> None:
    data, teacher = _write_run(tmp_path, SAMPLE_ROWS)
    write_jsonl(
        data / "train.jsonl",
        [Example(id="q1", input="question one", label="not one word").to_json()],
    )
    summary = run_filter_stage(RunConfig(), data, teacher, tmp_path / "filter", task=toy_task)
    assert summary["gold_label_failures"] == 1
    assert summary["unjudged_samples"] == 3
    assert summary["teacher_sample_accuracy"] is None


def test_read_samples_rejects_a_repeated_id(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, [{"id": "q1", "samples": []}, {"id": "q1", "samples": []}])
    with pytest.raises(ValueError, match="appears twice"):
        read_samples(path)


def test_read_samples_rejects_a_malformed_row(tmp_path: Path) -> None:
    path = tmp_path / "samples.jsonl"
    write_jsonl(path, [{"id": "q1", "rationales": []}])
    with pytest.raises(ValueError, match="expected"):
        read_samples(path)
