"""The filter stage: teacher samples in, positives and teacher negatives per input out.

Reads ``data/train.jsonl`` and ``teacher/samples.jsonl`` of a run directory and writes

- ``filter/train.jsonl``: one row per training example, in train order::

      {"id": str, "positives": [str], "teacher_negatives": [str],
       "first_sample": str | null, "vote": str | null, "gold": str | null}

  ``vote`` and ``gold`` are answer keys (``qcrd.tasks.base.Answer.key``). An input without a
  positive still has a row (empty ``positives``): it keeps its label task.
- ``filter/stats.json``: :class:`qcrd.filtering.stats.FilterStats` plus the stage's own counts.

The manifest is the caller's job (``RunDir.complete``), with the returned dict as its summary.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig
from qcrd.data.records import read_examples, read_jsonl, write_jsonl
from qcrd.filtering.consistency import FilteredExample, filter_example
from qcrd.filtering.stats import compute_stats
from qcrd.tasks import get_task
from qcrd.tasks.base import Task

logger = logging.getLogger(__name__)


def read_samples(path: Path) -> dict[str, list[str]]:
    """Teacher sample texts by example id, in sample order.

    Raises:
        ValueError: a row without an id or a samples list, or an id given twice (two teacher
            runs mixed in one file would silently double an input's vote otherwise).
    """
    by_id: dict[str, list[str]] = {}
    for lineno, row in enumerate(read_jsonl(path), 1):
        if "id" not in row or not isinstance(row.get("samples"), list):
            raise ValueError(f"{path}:{lineno}: expected {{'id': ..., 'samples': [...]}}")
        key = str(row["id"])
        if key in by_id:
            raise ValueError(f"{path}:{lineno}: id {key!r} appears twice")
        by_id[key] = [str(s["text"]) for s in row["samples"]]
    return by_id


def run_filter_stage(
    cfg: RunConfig, data_dir: Path, teacher_dir: Path, out: Path, *, task: Task | None = None
) -> dict[str, Any]:
    """Self-consistency filter over every training example (method.md §1.2).

    Args:
        cfg: the run configuration; ``cfg.filter`` and ``cfg.data.task`` are used.
        data_dir: folder holding ``train.jsonl``.
        teacher_dir: folder holding ``samples.jsonl``.
        out: folder to write ``train.jsonl`` and ``stats.json`` into (created if missing).
        task: the task to read answers with; default ``get_task(cfg.data.task)``.

    Returns:
        The statistics written to ``stats.json`` (JSON-safe), for the stage manifest.
    """
    task = task if task is not None else get_task(cfg.data.task)
    examples = read_examples(data_dir / "train.jsonl")
    samples = read_samples(teacher_dir / "samples.jsonl")
    logger.info(
        "filtering %d teacher sample sets for %d %s train examples (keep=%s, near-dup>=%.2f)",
        len(samples),
        len(examples),
        task.name,
        cfg.filter.keep,
        cfg.filter.near_duplicate_threshold,
    )

    results: list[FilteredExample] = []
    for example in examples:
        results.append(filter_example(task, example, samples.get(example.id, []), cfg.filter))

    train_ids = {e.id for e in examples}
    unknown_ids = sorted(set(samples) - train_ids)
    if unknown_ids:
        # Samples for ids outside train mean the teacher ran on another split or data set.
        logger.warning(
            "%d sample sets have no train example (first: %r); ignored",
            len(unknown_ids),
            unknown_ids[0],
        )
    gold_failures = [r for r in results if r.gold_failure is not None]
    if gold_failures:
        logger.warning(
            "%d gold labels could not be read (first, id %s: %s)",
            len(gold_failures),
            gold_failures[0].id,
            gold_failures[0].gold_failure,
        )

    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", (r.to_row() for r in results))
    stats = compute_stats(results)
    summary: dict[str, Any] = {
        "task": task.name,
        "keep": cfg.filter.keep,
        "near_duplicate_threshold": cfg.filter.near_duplicate_threshold,
        **stats.to_json(),
        "sample_sets_without_train_example": len(unknown_ids),
    }
    tmp = out / "stats.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    tmp.replace(out / "stats.json")
    logger.info(
        "kept %d positives and %d teacher negatives; %d/%d inputs without a positive; "
        "teacher sample accuracy %s, vote accuracy %s",
        stats.positives,
        stats.teacher_negatives,
        stats.inputs_without_positive,
        stats.inputs,
        _pct(stats.teacher_sample_accuracy),
        _pct(stats.majority_vote_accuracy),
    )
    return summary


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"
