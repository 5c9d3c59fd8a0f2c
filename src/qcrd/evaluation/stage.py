"""The evaluate stage: test accuracy of the validation-selected student, by real generation,
and what its rationales say.

Writes into ``evaluate/``:

- ``predictions.jsonl``: every test input's label output, read answer and gold answer;
- ``rationales.jsonl``: for the first ``eval.rationale_examples`` test inputs, the greedy
  rationale, the answer it implies, the label prediction beside it, whether they agree and
  (runs with a judge) the judge's score (:mod:`qcrd.evaluation.rationales`);
- ``judge_scores.jsonl``: runs with a judge only, the judge's score of every rationale in the
  pools of :mod:`qcrd.evaluation.judge_scores`;
- ``metrics.json``: accuracy, the validation-selected checkpoint's valid accuracy,
  rationale–label consistency, diversity and the judge's score summary.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from qcrd.config import RunConfig
from qcrd.data.records import Example, read_examples, write_jsonl
from qcrd.evaluation.accuracy import Prediction, accuracy, generate_in_batches, predict
from qcrd.evaluation.judge_scores import (
    PoolText,
    ScoredText,
    load_trained_judge,
    score_pools,
    score_summary,
    teacher_pools,
)
from qcrd.evaluation.rationales import RationaleRow, consistency, diversity, read_rationales
from qcrd.models.student import Student, load_student
from qcrd.tasks import get_task
from qcrd.tasks.base import EXPLAIN_PREFIX
from qcrd.training.precision import resolve_precision

log = logging.getLogger(__name__)


def _judge_scores(
    cfg: RunConfig,
    run_root: Path,
    student: Student,
    shown: list[Example],
    rows: list[RationaleRow],
    precision: str,
    device: torch.device,
) -> list[ScoredText] | None:
    """Score the teacher and student pools with the trained judge; ``None`` without one."""
    judge = load_trained_judge(cfg, run_root)
    if judge is None:
        return None
    judge.to(device)
    q = cfg.train.qcrd
    hot = generate_in_batches(
        student,
        [EXPLAIN_PREFIX + ex.input for ex in shown],
        batch_size=cfg.eval.batch_size,
        max_new_tokens=q.negative_max_new_tokens,
        precision=precision,
        temperature=q.negative_temperature,
        seed=cfg.train.seed,
        description="student negatives",
    )
    train_inputs = {ex.id: ex.input for ex in read_examples(run_root / "data" / "train.jsonl")}
    filter_train = run_root / "filter" / "train.jsonl"
    pools = (
        teacher_pools(filter_train, train_inputs, seed=cfg.train.seed)
        if filter_train.is_file()
        else []
    )
    pools += [
        PoolText("student_negative", ex.id, ex.input, t)
        for ex, t in zip(shown, hot, strict=True)
        if t
    ]
    pools += [PoolText("student_rationale", r.id, r.input, r.rationale) for r in rows]
    return score_pools(judge, pools, batch_size=cfg.eval.batch_size)


def _rationale_rows_json(
    rows: list[RationaleRow], scored: list[ScoredText] | None
) -> list[dict[str, Any]]:
    own = {s.id: s.score for s in scored or [] if s.pool == "student_rationale"}
    return [{**r.to_json(), "judge_score": own.get(r.id)} for r in rows]


def run_evaluate_stage(cfg: RunConfig, run_root: Path, out: Path) -> dict[str, Any]:
    """Write the files listed in the module docstring; return ``metrics.json``'s content."""
    best = run_root / "train" / "best"
    if not (best / "config.json").is_file():
        raise FileNotFoundError(f"no trained student in {best}: run the train stage first")
    task = get_task(cfg.data.task)
    test = read_examples(run_root / "data" / "test.jsonl")
    student = load_student(cfg.student, path=best)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    student.model.to(device)
    precision = resolve_precision(cfg.train.precision, device)
    preds: list[Prediction] = predict(
        student,
        task,
        test,
        cfg.eval,
        method=cfg.train.method,
        precision=precision,
        description="test",
    )
    write_jsonl(out / "predictions.jsonl", (p.to_json() for p in preds))

    shown = test[: cfg.eval.rationale_examples]
    texts = generate_in_batches(
        student,
        [EXPLAIN_PREFIX + ex.input for ex in shown],
        batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.rationale_max_new_tokens,
        precision=precision,
        description="rationales",
    )
    rows = read_rationales(task, shown, texts, preds)
    scored = _judge_scores(cfg, run_root, student, shown, rows, precision, device)
    write_jsonl(out / "rationales.jsonl", _rationale_rows_json(rows, scored))
    if scored is not None:
        write_jsonl(out / "judge_scores.jsonl", (s.to_json() for s in scored))

    train_summary = json.loads((run_root / "train" / "manifest.json").read_text())["summary"]
    metrics = {
        "method": cfg.train.method,
        "task": cfg.data.task,
        "student": cfg.student.name,
        "seed": cfg.train.seed,
        "test_accuracy": accuracy(preds),
        "test_examples": len(preds),
        "test_parse_failures": dict(Counter(p.parse_failure for p in preds if p.parse_failure)),
        "best_valid_accuracy": train_summary.get("best_valid_accuracy"),
        "rationale_consistency": consistency(rows).to_json(),
        "rationale_diversity": diversity(texts),
        "judge_scores": score_summary(scored) if scored is not None else None,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("test accuracy %.4f on %d examples", metrics["test_accuracy"], len(preds))
    return metrics
