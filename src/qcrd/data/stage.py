"""The ``data`` stage: load the configured source and write the run's ``data/`` folder.

    summary = run_data_stage(cfg, Path("runs/quickstart/data"))

Writes ``{train,valid,test}.jsonl`` (one Example a line), ``rationales.jsonl`` (one
RationaleSet a line), ``bad_rows.json``, and returns a JSON-able summary for the manifest.
The summary also says how often the imported teacher rationales agree with the gold label:
the first thing to look at before filtering (PaLM's SVAMP rationales: about 70%).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig
from qcrd.data import load_data
from qcrd.data.records import LoadedData, write_jsonl
from qcrd.tasks import get_task

logger = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def rationale_summary(task_name: str, data: LoadedData) -> dict[str, Any]:
    """Counts of rationales per input and of their answers against the gold label."""
    task = get_task(task_name)
    gold = {e.id: e for e in data.train}
    sizes = [len(s.rationales) for s in data.rationales]
    answers: Counter[str] = Counter()
    unreadable: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    for rationale_set in data.rationales:
        example = gold[rationale_set.id]
        expected = task.label_answer(example.label, example.choices).key
        for rationale in rationale_set.rationales:
            sources[rationale.source] += 1
            answer = task.extract_answer(rationale.text, example.choices)
            if answer.reason is not None:
                unreadable[answer.reason] += 1
            else:
                answers["agree" if answer.key == expected else "disagree"] += 1
    total = sum(sizes)
    return {
        "inputs_with_rationales": len(sizes),
        "train_inputs_without": len(data.train) - len(sizes),
        "total": total,
        "per_input": {
            "min": min(sizes, default=0),
            "mean": round(total / len(sizes), 3) if sizes else 0.0,
            "max": max(sizes, default=0),
        },
        "sources": dict(sources),
        "answers_agree_with_gold": answers["agree"],
        "answers_disagree_with_gold": answers["disagree"],
        "answers_unreadable": dict(unreadable),
        "agreement_rate": round(answers["agree"] / total, 4) if total else None,
    }


def run_data_stage(cfg: RunConfig, out: Path) -> dict[str, Any]:
    """Load ``cfg.data`` and write the stage's files into ``out``.

    Args:
        cfg: the run's configuration (only ``cfg.data`` is read).
        out: the stage folder; created if missing, files in it are replaced.

    Returns:
        A JSON-able summary: counts per split, rationales per input and their agreement with
        the gold labels, bad rows by reason, and the loader's notes.

    Raises:
        qcrd.data.DataError: the data cannot be loaded as configured (e.g. a missing data
            root: the message names ``data.root`` and ``$QCRD_DATA_ROOT``).
    """
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(cfg.data)
    counts = {}
    for split in SPLITS:
        examples = getattr(data, split)
        counts[split] = write_jsonl(out / f"{split}.jsonl", (e.to_json() for e in examples))
    write_jsonl(out / "rationales.jsonl", (s.to_json() for s in data.rationales))
    bad_path = out / "bad_rows.json"
    tmp = bad_path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data.bad_rows.to_json(), indent=2, ensure_ascii=False))
    tmp.replace(bad_path)

    summary = {
        "task": cfg.data.task,
        "source": cfg.data.source,
        "counts": counts,
        "rationales": rationale_summary(cfg.data.task, data),
        "bad_rows": dict(data.bad_rows.counts),
        "notes": data.notes,
    }
    logger.info(
        "data: %s from %s: train %d, valid %d, test %d; %d bad rows",
        cfg.data.task,
        cfg.data.source,
        counts["train"],
        counts["valid"],
        counts["test"],
        data.bad_rows.total,
    )
    for note in data.notes:
        logger.info("data: %s", note)
    for reason, n in data.bad_rows.counts.most_common():
        logger.warning(
            "data: %d bad rows: %s (first: %s)", n, reason, data.bad_rows.examples[reason]
        )
    return summary
