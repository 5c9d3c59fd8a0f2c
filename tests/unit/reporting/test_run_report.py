"""The run report from hand-written stage files: every section when its inputs exist, a note
instead of a crash when they do not, and model output escaped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qcrd.config import RunConfig, load_config
from qcrd.reporting.report import funnel_counts, write_report
from qcrd.rundir import RunDir

HOSTILE = "<script>alert(1)</script> so the answer is 7"


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _rationale(i: str, score: float, text: str = "3 + 4 = 7") -> dict[str, Any]:
    return {
        "id": i,
        "input": f"question {i}",
        "label": "( 3.0 + 4.0 )",
        "gold": "7",
        "rationale": text,
        "rationale_answer": "7",
        "rationale_parse_failure": None,
        "predicted_answer": "7",
        "prediction_parse_failure": None,
        "consistent": True,
        "judge_score": score,
    }


def full_run(root: Path) -> RunConfig:
    """A qcrd run with every file the report reads, written by hand."""
    cfg = load_config(None, [f"run_dir={root}", "train.method=qcrd"])
    run = RunDir.create(cfg)
    _jsonl(
        root / "train" / "log.jsonl",
        [
            {"judge_pretrain": [0.7, 0.6]},
            {"step": 0, "loss": 2.0, "pred": 1.0, "cl": 3.0, "judge": 0.7, "sample_seconds": 1.0},
            {"step": 1, "loss": 1.0, "pred": 0.5, "cl": 2.0, "judge": 0.6, "valid_accuracy": 0.5},
        ],
    )
    _jsonl(root / "train" / "judge_trace.jsonl", [{"step": 1, "mean": {"teacher_positive": 0.8}}])
    (root / "filter").mkdir()
    stats = {
        "inputs": 4,
        "samples": 20,
        "samples_parsed": 18,
        "positives": 9,
        "teacher_negatives": 6,
        "diversity": {"distinct_1": 0.4},
    }
    (root / "filter" / "stats.json").write_text(json.dumps(stats))
    run.complete("teacher", cfg, {"slots": 20, "kept": 20})
    usage = {
        "this_run": {
            "calls": 4,
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "cost_usd": 0.00125,
        },
        "all_runs": {
            "responses": 4,
            "prompt_tokens": 1000,
            "completion_tokens": 500,
            "cost_usd": 0.00125,
        },
        "price_per_mtok": {"prompt": 0.5, "completion": 1.5},
    }
    (root / "teacher" / "usage.json").write_text(json.dumps(usage))
    scores = [0.9, 0.1, 0.5, 0.7, 0.3, 0.8, 0.2]
    rows = [_rationale(f"t{i}", s) for i, s in enumerate(scores)]
    rows[1]["rationale"] = HOSTILE  # the worst one
    _jsonl(root / "evaluate" / "rationales.jsonl", rows)
    _jsonl(
        root / "evaluate" / "judge_scores.jsonl",
        [
            {"pool": "teacher_positive", "id": "a", "text": "x", "score": 0.9},
            {"pool": "student_negative", "id": "b", "text": "y", "score": 0.2},
        ],
    )
    metrics = {
        "test_accuracy": 0.25,
        "test_examples": 8,
        "best_valid_accuracy": 0.5,
        "judge_scores": {
            "teacher_positive": {"n": 1, "mean": 0.9, "median": 0.9, "above_0.5": 1.0}
        },
        "rationale_diversity": {"distinct_1": 0.5},
    }
    (root / "evaluate" / "metrics.json").write_text(json.dumps(metrics))
    return cfg


def test_full_report_has_every_figure_and_section(tmp_path: Path) -> None:
    cfg = full_run(tmp_path / "run")
    out = tmp_path / "run" / "report"
    out.mkdir()
    summary = write_report(cfg, tmp_path / "run", out)
    assert summary["figures"] == [
        "funnel.png",
        "judge_densities.png",
        "judge_pretrain.png",
        "judge_trace.png",
        "loss_terms.png",
        "valid_accuracy.png",
    ]
    for name in summary["figures"]:
        assert (out / "figures" / name).stat().st_size > 2000
    md = (out / "report.md").read_text()
    for heading in (
        "## Result",
        "## Training",
        "## Data funnel",
        "## Teacher cost",
        "## Quality judge",
        "### Best by judge score",
        "### Worst by judge score",
    ):
        assert heading in md
    assert "| parsed (answer read) | 18 |" in md
    assert "$0.0013" in md
    # Best first: 0.9, 0.8, 0.7; worst first: 0.1 (the hostile one), 0.2, 0.3.
    best = md.index("### Best by judge score")
    worst = md.index("### Worst by judge score")
    order = [md.index(f"judge score {s:.3f}", best) for s in (0.9, 0.8, 0.7)]
    assert order == sorted(order) and order[-1] < worst
    assert md.index("judge score 0.100", worst) < md.index("judge score 0.200", worst)
    page = (out / "report.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page


@pytest.mark.parametrize("method", ["ft", "qcrd"])
def test_empty_run_gives_a_report_of_notes(tmp_path: Path, method: str) -> None:
    """Nothing but the config: every section says why it is missing, nothing is drawn."""
    cfg = load_config(None, [f"run_dir={tmp_path}", f"train.method={method}"])
    RunDir.create(cfg)
    out = tmp_path / "report"
    out.mkdir()
    summary = write_report(cfg, tmp_path, out)
    assert summary["figures"] == []
    md = (out / "report.md").read_text()
    for note in (
        "No evaluate stage output",
        "No train/log.jsonl",
        "No filter/stats.json",
        "No teacher/usage.json",
        "No judge scores",
        "No rationales",
    ):
        assert note in md
    assert (out / "report.html").stat().st_size > 0


def test_funnel_leaves_out_what_is_unknown() -> None:
    """An interrupted teacher summary has no slot count: the funnel starts at generated."""
    assert funnel_counts({}, {"samples": 10, "samples_parsed": 9, "positives": 5}) == [
        ("generated (usable text)", 10),
        ("parsed (answer read)", 9),
        ("kept positives", 5),
    ]
