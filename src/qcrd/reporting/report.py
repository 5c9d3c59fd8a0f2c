"""The report stage: one page per run, from the files the other stages wrote.

Writes ``report/report.md``, ``report/report.html`` (the same page, self-contained) and the
figures under ``report/figures/``. Every section reads its own inputs and is left out, with a
note saying why, when they are missing (an ``ft`` run has no teacher, filter or judge), so a
report is always written.

    qcrd report --config configs/tiny.yaml
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig
from qcrd.data.records import read_log_rows
from qcrd.reporting import plots
from qcrd.reporting.document import (
    Block,
    Bullets,
    Code,
    Figure,
    Heading,
    Inline,
    Note,
    Table,
    Verbatim,
    para,
    to_html,
    to_markdown,
)

log = logging.getLogger(__name__)

EXAMPLES_EACH_WAY = 3
"""How many best and worst rationales (by judge score) the report shows."""


# --- reading a run directory ---------------------------------------------------------------


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def stage_summary(run_root: Path, stage: str) -> dict[str, Any]:
    manifest = read_json(run_root / stage / "manifest.json")
    return manifest["summary"] if manifest else {}


read_rows = read_log_rows


# --- formatting ----------------------------------------------------------------------------


def pct(x: Any, digits: int = 2) -> str:
    return f"{100 * x:.{digits}f}%" if isinstance(x, int | float) else "n/a"


def num(x: Any, digits: int = 3) -> str:
    if isinstance(x, bool) or x is None:
        return "n/a" if x is None else str(x)
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def mean_std(stats: Mapping[str, Any] | None) -> str:
    """``42.00 ± 1.50%`` from an aggregate with ``mean`` and ``std`` shares."""
    if not stats or stats.get("mean") is None:
        return "n/a"
    std = stats.get("std")
    return f"{100 * stats['mean']:.2f}%" + ("" if std is None else f" ± {100 * std:.2f}")


def _kv_table(rows: Mapping[str, Any]) -> Table:
    cells = []
    for key, value in rows.items():
        text = json.dumps(value) if isinstance(value, dict | list) else num(value, 4)
        cells.append((key, text))
    return Table(("key", "value"), tuple(cells))


# --- sections ------------------------------------------------------------------------------


def _result_section(metrics: Mapping[str, Any]) -> list[Block]:
    blocks: list[Block] = [Heading("Result")]
    if not metrics:
        return [*blocks, Note("No evaluate stage output: run qcrd evaluate.")]
    rows = [
        ("test accuracy", pct(metrics.get("test_accuracy"))),
        ("test examples", num(metrics.get("test_examples"))),
        ("validation accuracy of the selected checkpoint", pct(metrics.get("best_valid_accuracy"))),
        ("unreadable test outputs", json.dumps(metrics.get("test_parse_failures") or {})),
    ]
    cons = metrics.get("rationale_consistency")
    if cons:
        rows += [
            (
                "rationale–label consistency",
                f"{pct(cons['consistency'])} "
                f"({cons['consistent']} of {cons['both_parsed']} where both parse)",
            ),
            ("rationale or label unreadable", f"{cons['either_failed']} of {cons['examples']}"),
            ("rationale accuracy", pct(cons["rationale_accuracy"])),
        ]
    return [*blocks, Table(("metric", "value"), tuple(rows))]


def _training_section(log_rows: Sequence[Mapping[str, Any]], figures: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Training")]
    steps = [r for r in log_rows if "step" in r]
    if not steps:
        return [*blocks, Note("No train/log.jsonl: the train stage has not run.")]
    loss_png = plots.plot_loss_terms(steps, figures / "loss_terms.png")
    if loss_png:
        blocks.append(Figure(loss_png, "Each logged loss term over optimizer steps"))
    valid_png = plots.plot_valid_accuracy(steps, figures / "valid_accuracy.png")
    if valid_png:
        blocks.append(
            Figure(valid_png, "Validation accuracy; the star marks the selected checkpoint")
        )
    else:
        blocks.append(Note("No validation step was logged."))
    pretrain: list[float] = next(
        (r["judge_pretrain"] for r in log_rows if "judge_pretrain" in r), []
    )
    pretrain_png = plots.plot_judge_pretrain(pretrain, figures / "judge_pretrain.png")
    if pretrain_png:
        blocks.append(
            Figure(pretrain_png, "Judge pretraining loss (teacher positives vs negatives)")
        )
    sample_s = sum(r.get("sample_seconds", 0.0) for r in steps)
    step_s = sum(r.get("step_seconds", 0.0) for r in steps)
    blocks.append(
        para(
            f"{len(steps)} optimizer steps: {step_s:.1f} s in training steps, "
            f"{sample_s:.1f} s sampling student negatives."
        )
    )
    return blocks


def funnel_counts(teacher: Mapping[str, Any], stats: Mapping[str, Any]) -> list[tuple[str, int]]:
    """generated → parsed → kept → negatives, from the teacher summary and filter stats."""
    counts = [
        ("asked (inputs × K)", teacher.get("slots")),
        ("generated (usable text)", stats.get("samples")),
        ("parsed (answer read)", stats.get("samples_parsed")),
        ("kept positives", stats.get("positives")),
        ("teacher negatives", stats.get("teacher_negatives")),
    ]
    return [(name, int(n)) for name, n in counts if isinstance(n, int)]


def _funnel_section(run_root: Path, figures: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Data funnel")]
    stats = read_json(run_root / "filter" / "stats.json")
    teacher = stage_summary(run_root, "teacher")
    if not stats:
        return [*blocks, Note("No filter/stats.json: this method uses no teacher rationales.")]
    counts = funnel_counts(teacher, stats)
    png = plots.plot_funnel(counts, figures / "funnel.png")
    if png:
        blocks.append(Figure(png, "Teacher samples from request to kept positive"))
    blocks.append(Table(("stage", "count"), tuple((n, str(c)) for n, c in counts)))
    inputs = f"inputs: {stats.get('inputs')}, without any positive: "
    inputs += str(stats.get("inputs_without_positive"))
    accuracy = f"teacher sample accuracy {pct(stats.get('teacher_sample_accuracy'))}, "
    accuracy += f"majority vote accuracy {pct(stats.get('majority_vote_accuracy'))}"
    duplicates = Code(json.dumps(stats.get("duplicates_removed", {})))
    unreadable = Code(json.dumps(stats.get("parse_failures", {})))
    blocks.append(
        Bullets(
            (
                (inputs,),
                (accuracy,),
                ("duplicates removed: ", duplicates),
                ("unreadable samples by reason: ", unreadable),
            )
        )
    )
    return blocks


def _teacher_cost_section(run_root: Path, cfg: RunConfig) -> list[Block]:
    blocks: list[Block] = [Heading("Teacher cost")]
    usage = read_json(run_root / "teacher" / "usage.json")
    if not usage:
        return [*blocks, Note("No teacher/usage.json: the teacher stage did not run.")]
    rows = []
    for scope in ("this_run", "all_runs"):
        u = usage.get(scope, {})
        rows.append(
            (
                scope.replace("_", " "),
                num(u.get("calls", u.get("responses"))),
                num(u.get("prompt_tokens")),
                num(u.get("completion_tokens")),
                f"${u.get('cost_usd', 0.0):.4f}",
            )
        )
    prices = usage.get("price_per_mtok")
    price = (
        f"${prices['prompt']}/M prompt and ${prices['completion']}/M completion tokens"
        if prices
        else "no charge (local or replayed teacher)"
    )
    t = cfg.teacher
    if t.backend == "replay":
        sources = stage_summary(run_root, "data").get("rationales", {}).get("sources", {})
        who: list[Inline] = [
            "The data set's own rationales, replayed (sources ",
            Code(json.dumps(sources)),
            ")",
        ]
    else:
        who = ["Backend ", Code(t.backend), ", model ", Code(t.model)]
    return [
        *blocks,
        para(
            *who,
            f"; K = {t.num_samples} at temperature {t.temperature}; {price}. "
            "'all runs' counts every run that used this cache.",
        ),
        Table(("scope", "calls", "prompt tokens", "completion tokens", "cost"), tuple(rows)),
    ]


def _judge_section(run_root: Path, metrics: Mapping[str, Any], figures: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Quality judge")]
    scored = read_rows(run_root / "evaluate" / "judge_scores.jsonl")
    if not scored:
        return [
            *blocks,
            Note(
                "No judge scores: this run trained no judge (qcrd runs with "
                "train.qcrd.quality_judge=true do)."
            ),
        ]
    by_pool: dict[str, list[float]] = {}
    for row in scored:
        by_pool.setdefault(row["pool"], []).append(float(row["score"]))
    png = plots.plot_judge_densities(by_pool, figures / "judge_densities.png")
    if png:
        blocks.append(Figure(png, "Judge score densities per rationale pool (cf. paper Fig. 6)"))
    summary = metrics.get("judge_scores") or {}
    blocks.append(
        Table(
            ("pool", "n", "mean", "median", "share > 0.5"),
            tuple(
                (
                    plots.POOL_LABELS.get(p, p),
                    num(s["n"]),
                    num(s["mean"]),
                    num(s["median"]),
                    pct(s["above_0.5"], 1),
                )
                for p, s in summary.items()
            ),
        )
    )
    blocks.append(
        Note(
            "Teacher pools are training inputs the judge was trained on (in-sample); student pools "
            "are test inputs: hot samples at train.qcrd.negative_temperature and greedy rationales."
        )
    )
    from qcrd.evaluation.trace import JUDGE_TRACE_FILE, read_judge_trace

    trace = read_judge_trace(run_root / "train" / JUDGE_TRACE_FILE)
    trace_png = plots.plot_judge_trace(trace, figures / "judge_trace.png")
    if trace_png:
        blocks.append(Figure(trace_png, "Mean judge score per pool over training"))
    return blocks


def _example_blocks(row: Mapping[str, Any]) -> list[Block]:
    score = row.get("judge_score")
    flag = row.get("consistent")
    consistent = "n/a" if flag is None else "yes" if flag else "no"
    rationale_answer = row.get("rationale_answer") or (
        f"unreadable ({row.get('rationale_parse_failure')})"
    )
    label_answer = row.get("predicted_answer") or (
        f"unreadable ({row.get('prediction_parse_failure')})"
    )
    facts = (
        f"gold {row.get('gold')} · rationale answer {rationale_answer} · label "
        f"answer {label_answer} · consistent {consistent}"
        + ("" if score is None else f" · judge score {score:.3f}")
    )
    return [
        Verbatim(row["input"], title=f"Input {row['id']}"),
        Verbatim(row["rationale"] or "(empty)", title="Student rationale"),
        para(facts),
    ]


def _rationale_section(
    run_root: Path, metrics: Mapping[str, Any], filter_stats: Mapping[str, Any] | None
) -> list[Block]:
    blocks: list[Block] = [Heading("Rationales the student writes (test inputs)")]
    rows = read_rows(run_root / "evaluate" / "rationales.jsonl")
    if not rows:
        return [*blocks, Note("No rationales were generated (eval.rationale_examples=0?).")]
    div = metrics.get("rationale_diversity") or {}
    teacher_div = (filter_stats or {}).get("diversity", {})
    blocks.append(
        Table(
            ("diversity", "student rationales", "teacher positives"),
            (
                ("distinct-1", num(div.get("distinct_1")), num(teacher_div.get("distinct_1"))),
                ("distinct-2", num(div.get("distinct_2")), num(teacher_div.get("distinct_2"))),
                (
                    "mean 3-gram Jaccard",
                    num(div.get("mean_pairwise_jaccard_3gram")),
                    num(teacher_div.get("mean_pairwise_jaccard_3gram")),
                ),
                ("mean words", num(div.get("mean_words"), 1), "n/a"),
            ),
        )
    )
    blocks.append(
        Note(
            "Student Jaccard: over pairs of different inputs (a template reused everywhere scores "
            "high); teacher Jaccard: over pairs of positives of one input."
        )
    )
    scored = [r for r in rows if r.get("judge_score") is not None]
    if scored:
        ranked = sorted(scored, key=lambda r: r["judge_score"], reverse=True)
        best = ranked[:EXAMPLES_EACH_WAY]
        worst = [r for r in ranked[::-1][:EXAMPLES_EACH_WAY] if r not in best]
        blocks.append(Heading("Best by judge score", 3))
        for row in best:
            blocks += _example_blocks(row)
        blocks.append(Heading("Worst by judge score", 3))
        for row in worst:
            blocks += _example_blocks(row)
        if not worst:
            blocks.append(Note("Too few rationales to show a distinct worst set."))
    else:
        blocks.append(Note("No judge in this run: the first rationales, unranked."))
        for row in rows[: 2 * EXAMPLES_EACH_WAY]:
            blocks += _example_blocks(row)
    return blocks


def _stage_tables(run_root: Path) -> list[Block]:
    blocks: list[Block] = [Heading("Stage summaries")]
    for stage in ("data", "teacher", "filter", "train", "evaluate"):
        summary = stage_summary(run_root, stage)
        if summary:
            blocks += [Heading(stage, 3), _kv_table(summary)]
    return blocks


def run_blocks(cfg: RunConfig, run_root: Path, figures: Path) -> list[Block]:
    """Every section of a run's report, drawing figures into ``figures``."""
    metrics = read_json(run_root / "evaluate" / "metrics.json") or {}
    filter_stats = read_json(run_root / "filter" / "stats.json")
    log_rows = read_rows(run_root / "train" / "log.jsonl")
    header: list[Block] = [
        Heading(f"qcrd run: {cfg.train.method} on {cfg.data.task}", 1),
        para(
            "Student ",
            Code(cfg.student.name),
            ", teacher backend ",
            Code(cfg.teacher.backend),
            f" (K = {cfg.teacher.num_samples}), keep policy ",
            Code(cfg.filter.keep),
            f", seed {cfg.train.seed}. Run directory ",
            Code(str(run_root)),
            ".",
        ),
    ]
    return [
        *header,
        *_result_section(metrics),
        *_training_section(log_rows, figures),
        *_funnel_section(run_root, figures),
        *_teacher_cost_section(run_root, cfg),
        *_judge_section(run_root, metrics, figures),
        *_rationale_section(run_root, metrics, filter_stats),
        *_stage_tables(run_root),
    ]


def write_pages(blocks: Sequence[Block], out: Path, stem: str, title: str) -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.html`` into ``out``; return both paths."""
    md, page = out / f"{stem}.md", out / f"{stem}.html"
    md.write_text(to_markdown(blocks, base=out), encoding="utf-8")
    page.write_text(to_html(blocks, title=title), encoding="utf-8")
    return md, page


def write_report(cfg: RunConfig, run_root: Path, out: Path) -> dict[str, Any]:
    """Write the run's report (Markdown, HTML, figures) and return what it shows in brief."""
    figures = out / "figures"
    blocks = run_blocks(cfg, run_root, figures)
    md, page = write_pages(blocks, out, "report", f"qcrd {cfg.train.method} on {cfg.data.task}")
    drawn = sorted(p.name for p in figures.glob("*.png")) if figures.is_dir() else []
    metrics = stage_summary(run_root, "evaluate")
    log.info("report: %s (%d figures)", md, len(drawn))
    return {
        "report": str(md),
        "html": str(page),
        "figures": drawn,
        "test_accuracy": metrics.get("test_accuracy"),
    }
