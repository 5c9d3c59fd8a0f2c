"""Judge score pools, their summary, the saved judge's reload, and the training recorders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from qcrd.config import JudgeConfig, load_config
from qcrd.data.records import Example
from qcrd.evaluation.judge_scores import (
    PoolText,
    ScoredText,
    load_trained_judge,
    score_pools,
    score_summary,
    teacher_pools,
)
from qcrd.evaluation.trace import (
    judge_probe,
    read_judge_trace,
    read_student_negatives,
    record_judge_snapshot,
    record_student_negatives,
)
from qcrd.models.judge import build_judge
from qcrd.training.items import TrainItem

TINY_JUDGE = ("judge.backbone=tiny-bert", "judge.max_tokens=64", "judge.hidden=8")


def _filter_rows(path: Path) -> None:
    rows = [
        {"id": "a", "positives": ["p1", "p2", "p3"], "teacher_negatives": ["n1"]},
        {"id": "b", "positives": ["p4"], "teacher_negatives": ["n2", "n3"]},
        {"id": "gone", "positives": ["p5"], "teacher_negatives": []},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_teacher_pools_cap_each_pool_with_a_seeded_sample(tmp_path: Path) -> None:
    """4 positives and 3 negatives of known inputs ('gone' is not a train input); cap 2."""
    path = tmp_path / "train.jsonl"
    _filter_rows(path)
    inputs = {"a": "question a", "b": "question b"}
    full = teacher_pools(path, inputs, max_pool=10)
    assert [(t.pool, t.text) for t in full] == [
        ("teacher_positive", "p1"),
        ("teacher_positive", "p2"),
        ("teacher_positive", "p3"),
        ("teacher_positive", "p4"),
        ("teacher_negative", "n1"),
        ("teacher_negative", "n2"),
        ("teacher_negative", "n3"),
    ]
    assert full[3].input == "question b"
    capped = teacher_pools(path, inputs, max_pool=2, seed=1)
    assert [t.pool for t in capped] == ["teacher_positive"] * 2 + ["teacher_negative"] * 2
    assert capped == teacher_pools(path, inputs, max_pool=2, seed=1)
    assert {t.text for t in capped} <= {t.text for t in full}


def test_score_summary_per_pool() -> None:
    """Positives 0.2, 0.6, 0.9: mean 0.5667, median 0.6, 2 of 3 above 0.5."""
    scored = [ScoredText("teacher_positive", str(i), "t", s) for i, s in enumerate([0.2, 0.6, 0.9])]
    scored.append(ScoredText("student_negative", "x", "t", 0.5))
    s = score_summary(scored)
    assert list(s) == ["teacher_positive", "student_negative"]
    assert s["teacher_positive"]["mean"] == pytest.approx(1.7 / 3)
    assert s["teacher_positive"]["median"] == 0.6
    assert s["teacher_positive"]["above_0.5"] == pytest.approx(2 / 3)
    assert s["student_negative"]["above_0.5"] == 0.0  # 0.5 is not above 0.5


def test_saved_judge_reloads_with_the_same_scores(tmp_path: Path) -> None:
    cfg = load_config(None, [f"run_dir={tmp_path}", *TINY_JUDGE, "train.seed=5"])
    assert load_trained_judge(cfg, tmp_path) is None  # no judge.pt: a run without a judge
    trained = build_judge(cfg.judge, seed=123)  # another init than the reload's seed
    (tmp_path / "train").mkdir()
    torch.save(trained.state_dict(), tmp_path / "train" / "judge.pt")
    reloaded = load_trained_judge(cfg, tmp_path)
    assert reloaded is not None
    texts = [
        PoolText("teacher_positive", "a", "2 + 3?", "2 + 3 = 5."),
        PoolText("student_negative", "a", "2 + 3?", "zzz"),
    ]
    got = [s.score for s in score_pools(reloaded, texts)]
    want = trained.scores([t.input for t in texts], [t.text for t in texts]).tolist()
    assert got == pytest.approx(want, abs=1e-6)
    assert all(0.0 <= s <= 1.0 for s in got)


def test_student_negatives_recorder_keeps_the_last_row_of_a_repeated_step(tmp_path: Path) -> None:
    """Step 3 is logged twice (a resumed run): the second wins; empty texts are never kept."""
    path = tmp_path / "negatives.jsonl"
    record_student_negatives(path, 0, {"a": "first", "b": ""})
    record_student_negatives(path, 3, {"a": "old"})
    record_student_negatives(path, 3, {"a": "new", "b": "bee"})
    record_student_negatives(path, 4, {"a": "first"})  # a repeat of step 0's text
    assert read_student_negatives(path) == {"a": ["first", "new"], "b": ["bee"]}
    assert read_student_negatives(tmp_path / "absent.jsonl") == {}


def test_judge_snapshot_means_per_pool(tmp_path: Path) -> None:
    judge = build_judge(JudgeConfig(backbone="tiny-bert", max_tokens=64, hidden=8), seed=0)
    items = [
        TrainItem(Example("a", "2 + 3?", "5"), ("2 + 3 = 5.", "5."), ("2 + 3 = 6.",)),
        TrainItem(Example("b", "4 - 1?", "3"), ("4 - 1 = 3.",), ()),
    ]
    probe = judge_probe(items, size=2, seed=0)
    assert sorted(t.pool for t in probe) == ["teacher_negative"] + ["teacher_positive"] * 2
    path = tmp_path / "judge_trace.jsonl"
    negatives = [PoolText("student_negative", "a", "2 + 3?", "banana")]
    row = record_judge_snapshot(path, judge, probe, step=7, student_negatives=negatives)
    assert row["n"] == {"teacher_positive": 2, "teacher_negative": 1, "student_negative": 1}
    scores = judge.scores([t.input for t in probe], [t.text for t in probe]).tolist()
    positives = [s for t, s in zip(probe, scores, strict=True) if t.pool == "teacher_positive"]
    assert row["mean"]["teacher_positive"] == pytest.approx(sum(positives) / 2, abs=1e-6)
    record_judge_snapshot(path, judge, probe, step=2)
    assert [r["step"] for r in read_judge_trace(path)] == [2, 7]
