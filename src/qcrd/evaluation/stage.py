"""The evaluate stage: test accuracy of the validation-selected student, by real generation."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from qcrd.config import RunConfig
from qcrd.data.records import read_examples, write_jsonl
from qcrd.evaluation.accuracy import accuracy, generate_in_batches, predict
from qcrd.models.student import load_student
from qcrd.tasks import get_task
from qcrd.tasks.base import EXPLAIN_PREFIX
from qcrd.training.precision import resolve_precision

log = logging.getLogger(__name__)


def run_evaluate_stage(cfg: RunConfig, run_root: Path, out: Path) -> dict[str, Any]:
    """Write ``predictions.jsonl``, ``rationales.jsonl`` and ``metrics.json``; return metrics."""
    best = run_root / "train" / "best"
    if not (best / "config.json").is_file():
        raise FileNotFoundError(f"no trained student in {best}: run the train stage first")
    task = get_task(cfg.data.task)
    test = read_examples(run_root / "data" / "test.jsonl")
    student = load_student(cfg.student, path=best)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    student.model.to(device)
    precision = resolve_precision(cfg.train.precision, device)
    preds = predict(
        student, task, test, batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.max_new_tokens, precision=precision, description="test",
    )
    write_jsonl(out / "predictions.jsonl", (p.to_json() for p in preds))

    shown = test[: cfg.eval.rationale_examples]
    texts = generate_in_batches(
        student, [EXPLAIN_PREFIX + ex.input for ex in shown], batch_size=cfg.eval.batch_size,
        max_new_tokens=cfg.eval.rationale_max_new_tokens, precision=precision,
        description="rationales",
    )
    write_jsonl(
        out / "rationales.jsonl",
        ({"id": ex.id, "input": ex.input, "label": ex.label, "rationale": t}
         for ex, t in zip(shown, texts, strict=True)),
    )
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
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    log.info("test accuracy %.4f on %d examples", metrics["test_accuracy"], len(preds))
    return metrics
