"""The report's figures, as PNG files (matplotlib's object API on the Agg canvas: no pyplot,
no global state, no display needed).

Each function takes plain data and a path, writes the PNG and returns the path, or returns
``None`` without writing anything when there is nothing to draw (the report then says so).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

# Keys of a train/log.jsonl row that are not loss terms.
NOT_LOSS = frozenset(
    {
        "step",
        "iteration",
        "lr",
        "grad_norm",
        "sample_seconds",
        "step_seconds",
        "valid_accuracy",
        "best",
        "alpha_judge",
    }
)
LOSS_ORDER = ("loss", "pred", "rationale", "cl", "judge")
POOL_LABELS = {
    "teacher_positive": "teacher positives",
    "teacher_negative": "teacher negatives",
    "student_negative": "student negatives (hot)",
    "student_rationale": "student rationales (greedy)",
}
DPI = 110


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def _steps_axis(ax: Axes, label: str = "optimizer steps done") -> None:
    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _accuracy_axis(ax: Axes, values: Sequence[float]) -> None:
    """Percent from 0 (an all-zero curve would otherwise sit mid-axis around 0)."""
    ax.set_ylabel("validation accuracy (%)")
    ax.set_ylim(0, max(5.0, 1.1 * max(values, default=0.0)))


def loss_terms(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The loss terms logged in ``rows``: the usual ones in order, then any other."""
    found: list[str] = []
    for row in rows:
        for key, value in row.items():
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if key not in NOT_LOSS and is_number and key not in found:
                found.append(key)
    known = [k for k in LOSS_ORDER if k in found]
    return known + sorted(k for k in found if k not in LOSS_ORDER)


def plot_loss_terms(rows: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """One small panel per loss term over optimizer steps (their scales differ)."""
    steps = [r for r in rows if "step" in r]
    terms = loss_terms(steps)
    if not terms:
        return None
    cols = min(3, len(terms))
    nrows = math.ceil(len(terms) / cols)
    fig = Figure(figsize=(4.2 * cols, 2.8 * nrows))
    for i, term in enumerate(terms):
        ax = fig.add_subplot(nrows, cols, i + 1)
        xs = [r["step"] + 1 for r in steps if term in r]
        ax.plot(xs, [r[term] for r in steps if term in r], marker="." if len(xs) < 40 else None)
        ax.set_title(term)
        _steps_axis(ax)
    return _save(fig, path)


def plot_valid_accuracy(rows: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Validation accuracy at each evaluation step; the selected checkpoint is starred."""
    evals = [r for r in rows if "valid_accuracy" in r]
    if not evals:
        return None
    fig = Figure(figsize=(6.5, 3.4))
    ax = fig.add_subplot()
    accs = [100 * r["valid_accuracy"] for r in evals]
    ax.plot([r["step"] + 1 for r in evals], accs, marker="o")
    best = max(evals, key=lambda r: r["valid_accuracy"])
    ax.plot(
        [best["step"] + 1],
        [100 * best["valid_accuracy"]],
        marker="*",
        markersize=16,
        linestyle="none",
        label="selected checkpoint",
    )
    _steps_axis(ax)
    _accuracy_axis(ax, accs)
    ax.legend()
    return _save(fig, path)


def plot_judge_pretrain(losses: Sequence[float], path: Path) -> Path | None:
    if not losses:
        return None
    fig = Figure(figsize=(6.5, 3.0))
    ax = fig.add_subplot()
    ax.plot(range(1, len(losses) + 1), losses)
    _steps_axis(ax, "judge pretraining step")
    ax.set_ylabel("BCE loss")
    return _save(fig, path)


def plot_judge_densities(scores: Mapping[str, Sequence[float]], path: Path) -> Path | None:
    """Density histograms of the judge's scores per pool on [0, 1] (paper Fig. 6)."""
    pools = [(p, v) for p, v in scores.items() if v]
    if not pools:
        return None
    fig = Figure(figsize=(7.0, 3.6))
    ax = fig.add_subplot()
    bins = [i / 20 for i in range(21)]
    for pool, values in pools:
        label = f"{POOL_LABELS.get(pool, pool)} (n={len(values)})"
        ax.hist(values, bins=bins, density=True, histtype="step", linewidth=2, label=label)
    ax.set_xlim(0, 1)
    ax.set_xlabel("judge score")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_funnel(stages: Sequence[tuple[str, int]], path: Path) -> Path | None:
    """Horizontal bars, first stage on top, each labelled with its count."""
    if not stages:
        return None
    fig = Figure(figsize=(7.0, 0.55 * len(stages) + 1.0))
    ax = fig.add_subplot()
    names = [n for n, _ in stages][::-1]
    counts = [c for _, c in stages][::-1]
    bars = ax.barh(names, counts, color="#4c72b0")
    ax.bar_label(bars, labels=[str(c) for c in counts], padding=3)
    ax.set_xlim(0, max(max(counts), 1) * 1.15)
    ax.set_xlabel("count")
    return _save(fig, path)


def _method_colors(methods: Sequence[str]) -> dict[str, str]:
    return {m: f"C{i % 10}" for i, m in enumerate(methods)}


def plot_method_accuracy(
    summary: Mapping[str, Mapping[str, Any]], per_seed: Mapping[str, Sequence[float]], path: Path
) -> Path | None:
    """Mean test accuracy per method with ±1 sample std error bars and each seed as a dot."""
    methods = [m for m in summary if summary[m].get("n")]
    if not methods:
        return None
    colors = _method_colors(methods)
    fig = Figure(figsize=(1.6 * len(methods) + 2.5, 3.8))
    ax: Axes = fig.add_subplot()
    means = [100 * summary[m]["mean"] for m in methods]
    errs = [100 * (summary[m]["std"] or 0.0) for m in methods]
    ax.bar(methods, means, yerr=errs, capsize=6, color=[colors[m] for m in methods], alpha=0.7)
    tops = [mean + err for mean, err in zip(means, errs, strict=True)]
    for i, m in enumerate(methods):
        values = [100 * v for v in per_seed.get(m, [])]
        ax.plot([i] * len(values), values, "o", color="black", markersize=4)
        tops += values
    ax.set_ylim(0, max(5.0, 1.1 * max(tops)))
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("mean ± sample std (n−1) over seeds; dots: single seeds")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_valid_curves(
    curves: Sequence[tuple[str, str, Sequence[int], Sequence[float]]], path: Path
) -> Path | None:
    """Validation accuracy over steps of several runs, one colour per method.

    Args:
        curves: ``(method, label, steps_done, accuracies)`` per run.
    """
    curves = [c for c in curves if c[2]]
    if not curves:
        return None
    colors = _method_colors(list(dict.fromkeys(c[0] for c in curves)))
    fig = Figure(figsize=(7.0, 3.6))
    ax = fig.add_subplot()
    labelled: set[str] = set()
    for method, _label, steps, accs in curves:
        ax.plot(
            steps,
            [100 * a for a in accs],
            marker="o",
            markersize=3,
            color=colors[method],
            label=None if method in labelled else method,
            alpha=0.8,
        )
        labelled.add(method)
    _steps_axis(ax)
    _accuracy_axis(ax, [100 * a for c in curves for a in c[3]])
    ax.legend()
    return _save(fig, path)


def plot_judge_trace(rows: Sequence[Mapping[str, Any]], path: Path) -> Path | None:
    """Mean judge score per pool over training steps (rows of ``train/judge_trace.jsonl``)."""
    if not rows:
        return None
    pools = list(dict.fromkeys(p for r in rows for p in r.get("mean", {})))
    fig = Figure(figsize=(7.0, 3.4))
    ax = fig.add_subplot()
    for pool in pools:
        pts = [(r["step"] + 1, r["mean"][pool]) for r in rows if pool in r.get("mean", {})]
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            marker="o",
            markersize=3,
            label=POOL_LABELS.get(pool, pool),
        )
    ax.set_ylim(0, 1)
    _steps_axis(ax)
    ax.set_ylabel("mean judge score")
    ax.legend(fontsize="small")
    return _save(fig, path)
