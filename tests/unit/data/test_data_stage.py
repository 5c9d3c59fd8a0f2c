"""The data stage writes the run's data/ folder and a JSON-able summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qcrd.config import DataConfig, RunConfig
from qcrd.data import DataError
from qcrd.data.records import read_examples, read_rationale_sets
from qcrd.data.stage import run_data_stage


def test_writes_every_file(data_root: Path, tmp_path: Path) -> None:
    cfg = RunConfig(
        data=DataConfig(task="svamp", source="mcckd", root=str(data_root), max_train=20)
    )
    out = tmp_path / "data"
    summary = run_data_stage(cfg, out)

    assert summary["counts"] == {"train": 20, "valid": 150, "test": 150}
    train = read_examples(out / "train.jsonl")
    assert len(train) == 20
    assert len(read_examples(out / "test.jsonl")) == 150
    rationales = read_rationale_sets(out / "rationales.jsonl")
    assert [s.id for s in rationales] == [e.id for e in train]
    assert json.loads((out / "bad_rows.json").read_text())["total"] == 0

    stats = summary["rationales"]
    assert stats["per_input"] == {"min": 10, "mean": 10.0, "max": 10}
    assert stats["sources"] == {"mcckd:gpt-3.5-turbo": 200}
    assert (
        stats["answers_agree_with_gold"]
        + stats["answers_disagree_with_gold"]
        + sum(stats["answers_unreadable"].values())
        == 200
    )
    assert json.loads(json.dumps(summary)) == summary  # JSON-able as it is
    assert not list(out.glob("*.tmp"))


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    cfg = RunConfig(data=DataConfig(task="svamp", source="dss", root=str(tmp_path / "absent")))
    with pytest.raises(DataError, match=r"data\.root=PATH or \$QCRD_DATA_ROOT"):
        run_data_stage(cfg, tmp_path / "data")
