"""What happens during training that the final checkpoint forgets: two small recorders for the
training loop to call, and their readers (for the report and the export).

- :func:`record_student_negatives` appends the hot student rationales sampled for the
  negative buffer to ``train/negatives.jsonl`` (``{"step", "id", "text"}`` rows). The export
  turns them into ``rejected`` sides of preference pairs.
- :func:`record_judge_snapshot` appends the judge's mean score on a fixed probe set of teacher
  positives and negatives, plus the latest student negatives, to ``train/judge_trace.jsonl``
  (``{"step", "mean": {pool: float}, "n": {pool: int}}``); the report plots it.

Rows are appended, so a resumed run may log a step twice: readers keep the last row of each
step (and, for negatives, of each (step, id)).

    probe = judge_probe(items, size=64, seed=cfg.train.seed)               # once, after setup
    record_student_negatives(out / NEGATIVES_FILE, step, {ex_id: text, ...})
    record_judge_snapshot(out / JUDGE_TRACE_FILE, judge, probe, step, recent_negatives)
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcrd.data.records import read_log_rows
from qcrd.evaluation.judge_scores import PoolText
from qcrd.models.judge import Judge
from qcrd.training.items import TrainItem

NEGATIVES_FILE = "negatives.jsonl"
JUDGE_TRACE_FILE = "judge_trace.jsonl"


def _append(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def record_student_negatives(path: Path, step: int, negatives: Mapping[str, str]) -> None:
    """Append one row per (example id, sampled text); empty texts are skipped."""
    _append(path, [{"step": step, "id": k, "text": t} for k, t in negatives.items() if t])


def read_student_negatives(path: Path) -> dict[str, list[str]]:
    """Distinct student negatives per example id, in the order they were first sampled."""
    last: dict[tuple[int, str], str] = {}
    for row in read_log_rows(path):
        last[(int(row["step"]), str(row["id"]))] = str(row["text"])
    out: dict[str, list[str]] = {}
    for (_, key), text in sorted(last.items()):
        texts = out.setdefault(key, [])
        if text not in texts:
            texts.append(text)
    return out


def judge_probe(items: Sequence[TrainItem], size: int = 64, seed: int = 0) -> list[PoolText]:
    """A fixed, seeded probe set: up to ``size`` teacher positives and ``size`` negatives."""
    rng = random.Random(seed)
    probe: list[PoolText] = []
    for pool, attr in (
        ("teacher_positive", "positives"),
        ("teacher_negative", "teacher_negatives"),
    ):
        pairs = [
            PoolText(pool, it.example.id, it.example.input, t)
            for it in items
            for t in getattr(it, attr)
        ]
        probe += rng.sample(pairs, min(size, len(pairs)))
    return probe


def record_judge_snapshot(
    path: Path,
    judge: Judge,
    probe: Sequence[PoolText],
    step: int,
    student_negatives: Sequence[PoolText] = (),
    batch_size: int = 32,
) -> dict[str, Any]:
    """Score the probe (and the given student negatives) and append the means per pool."""
    texts = [*probe, *student_negatives]
    scores = judge.scores([t.input for t in texts], [t.text for t in texts], batch_size).tolist()
    by_pool: dict[str, list[float]] = {}
    for t, s in zip(texts, scores, strict=True):
        by_pool.setdefault(t.pool, []).append(float(s))
    row = {
        "step": step,
        "mean": {p: sum(v) / len(v) for p, v in by_pool.items()},
        "n": {p: len(v) for p, v in by_pool.items()},
    }
    _append(path, [row])
    return row


def read_judge_trace(path: Path) -> list[dict[str, Any]]:
    """The snapshots by step, the last one of each step."""
    by_step = {int(r["step"]): r for r in read_log_rows(path)}
    return [by_step[s] for s in sorted(by_step)]
