"""The report stage: one Markdown page per run, from the files the other stages wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig
from qcrd.data.records import read_jsonl


def _summary(run_root: Path, stage: str) -> dict[str, Any]:
    path = run_root / stage / "manifest.json"
    return json.loads(path.read_text())["summary"] if path.is_file() else {}


def _table(rows: dict[str, Any]) -> list[str]:
    lines = ["| key | value |", "|---|---|"]
    for k, v in rows.items():
        text = json.dumps(v) if isinstance(v, dict | list) else str(v)
        lines.append(f"| {k} | {text.replace('|', '/')} |")
    return lines


def _fmt(x: Any) -> str:
    return f"{100 * x:.2f}%" if isinstance(x, float) else str(x)


def write_report(cfg: RunConfig, run_root: Path, out: Path) -> dict[str, Any]:
    """Write ``report.md`` and return what it shows in brief."""
    metrics = _summary(run_root, "evaluate")
    lines = [
        f"# qcrd run: {cfg.train.method} on {cfg.data.task}",
        "",
        f"Student `{cfg.student.name}`, teacher backend `{cfg.teacher.backend}` "
        f"(K = {cfg.teacher.num_samples}), keep policy `{cfg.filter.keep}`, seed {cfg.train.seed}.",
        "",
        "## Result",
        "",
        f"- test accuracy: **{_fmt(metrics.get('test_accuracy'))}** "
        f"on {metrics.get('test_examples')} examples",
        f"- best validation accuracy: {_fmt(metrics.get('best_valid_accuracy'))}",
        f"- test outputs that could not be parsed: {metrics.get('test_parse_failures')}",
        "",
    ]
    for stage in ("data", "teacher", "filter", "train"):
        summary = _summary(run_root, stage)
        if summary:
            lines += [f"## {stage}", "", *_table(summary), ""]
    rationales = run_root / "evaluate" / "rationales.jsonl"
    if rationales.is_file():
        lines += ["## Rationales the student writes (test inputs)", ""]
        for row in list(read_jsonl(rationales))[:5]:
            lines += [
                f"**Input.** {row['input']}",
                "",
                f"**Gold label.** `{row['label']}`",
                "",
                f"**Student rationale.** {row['rationale']}",
                "",
            ]
    (out / "report.md").write_text("\n".join(lines))
    return {"report": str(out / "report.md"), "test_accuracy": metrics.get("test_accuracy")}
