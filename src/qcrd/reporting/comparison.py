"""The comparison page: methods side by side over seeds (Markdown, HTML and figures).

Written by :func:`qcrd.evaluation.compare.compare` from the content of ``comparison.json``;
validation curves are read from each member's ``train/log.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qcrd.config import RunConfig
from qcrd.reporting import plots
from qcrd.reporting.document import Block, Code, Figure, Heading, Note, Table, para
from qcrd.reporting.report import mean_std, num, pct, read_rows, write_pages


def _method_table(result: dict[str, Any]) -> Table:
    rows = []
    for method, s in result["summary"].items():
        acc = s["test_accuracy"]
        rows.append(
            (
                method,
                str(acc["n"]),
                mean_std(acc),
                f"{pct(acc['min'])} – {pct(acc['max'])}" if acc["n"] else "n/a",
                mean_std(s["best_valid_accuracy"]),
                mean_std(s["rationale_consistency"]),
            )
        )
    header = (
        "method",
        "seeds",
        "test accuracy, mean ± std",
        "test accuracy, min – max",
        "valid accuracy (selected checkpoint), mean ± std",
        "rationale–label consistency, mean ± std",
    )
    return Table(header, tuple(rows))


def _run_table(result: dict[str, Any]) -> Table:
    rows = tuple(
        (
            r["method"],
            str(r["seed"]),
            pct(r["test_accuracy"]),
            pct(r["best_valid_accuracy"]),
            pct(r["rationale_consistency"]),
            pct(r["rationale_either_failed_share"], 0),
            num(r["rationale_distinct_2"]),
            Path(r["run_dir"]).name,
        )
        for r in result["runs"]
    )
    header = (
        "method",
        "seed",
        "test accuracy",
        "valid accuracy (selected checkpoint)",
        "consistency",
        "rationale or label unreadable",
        "distinct-2",
        "run",
    )
    return Table(header, rows)


def _curves(result: dict[str, Any]) -> list[tuple[str, str, list[int], list[float]]]:
    curves = []
    for r in result["runs"]:
        evals = [
            row
            for row in read_rows(Path(r["run_dir"]) / "train" / "log.jsonl")
            if "valid_accuracy" in row
        ]
        steps = [row["step"] + 1 for row in evals]
        curves.append(
            (
                r["method"],
                f"{r['method']} seed {r['seed']}",
                steps,
                [row["valid_accuracy"] for row in evals],
            )
        )
    return curves


def comparison_blocks(base: RunConfig, result: dict[str, Any], figures: Path) -> list[Block]:
    """The comparison page's sections, drawing its figures into ``figures``."""
    blocks: list[Block] = [
        Heading(f"qcrd comparison on {result['task']}", 1),
        para(
            "Student ",
            Code(base.student.name),
            ", teacher backend ",
            Code(base.teacher.backend),
            f" (K = {base.teacher.num_samples}); methods {', '.join(result['methods'])}; seeds "
            f"{', '.join(map(str, result['seeds']))}. Each run is ",
            Code("<method>-seed<seed>"),
            " under ",
            Code(str(result["root"])),
            ".",
        ),
        Heading("Test accuracy by method"),
        _method_table(result),
        Note(
            f"std: {result['std']}. The test accuracy is that of each run's "
            "validation-selected checkpoint."
        ),
    ]
    per_seed = {
        m: [r["test_accuracy"] for r in result["runs"] if r["method"] == m]
        for m in result["methods"]
    }
    summary = {m: s["test_accuracy"] for m, s in result["summary"].items()}
    bar = plots.plot_method_accuracy(summary, per_seed, figures / "accuracy.png")
    if bar:
        blocks.append(Figure(bar, "Test accuracy per method: mean ± sample std, dots are seeds"))
    blocks += [Heading("Runs"), _run_table(result)]
    curves = plots.plot_valid_curves(_curves(result), figures / "valid_curves.png")
    if curves:
        blocks.append(Figure(curves, "Validation accuracy over training, one line per run"))
    if result["missing"]:
        names = ", ".join(Path(m["run_dir"]).name for m in result["missing"])
        blocks.append(Note(f"Not complete yet, left out of the numbers above: {names}."))
    return blocks


def write_comparison(base: RunConfig, result: dict[str, Any], out: Path) -> list[Path]:
    """Write ``comparison.md``, ``comparison.html`` and figures; return the paths."""
    figures = out / "figures"
    for stale in figures.glob("*.png"):  # drawn by an earlier call, maybe no longer true
        stale.unlink()
    blocks = comparison_blocks(base, result, figures)
    md, page = write_pages(blocks, out, "comparison", f"qcrd comparison on {result['task']}")
    drawn = sorted(figures.glob("*.png")) if figures.is_dir() else []
    return [md, page, *drawn]
