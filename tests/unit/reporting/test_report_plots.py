"""Every figure function draws a real PNG from literal data, and draws nothing from nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from qcrd.reporting import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

STEPS = [
    {"step": 0, "loss": 2.0, "pred": 1.5, "cl": 3.0, "judge": 0.7, "alpha_judge": 0.5, "lr": 1e-3},
    {"step": 1, "loss": 1.8, "pred": 1.4, "cl": 2.5, "judge": 0.6, "valid_accuracy": 0.25},
    {"step": 2, "loss": 1.5, "pred": 1.2, "cl": 2.0, "judge": 0.5, "valid_accuracy": 0.5},
]

CASES: dict[str, tuple[Callable[..., Path | None], tuple[Any, ...], tuple[Any, ...]]] = {
    # name: (function, arguments that draw, arguments with nothing to draw)
    "loss_terms": (plots.plot_loss_terms, (STEPS,), ([{"judge_pretrain": [1.0]}],)),
    "valid_accuracy": (plots.plot_valid_accuracy, (STEPS,), (STEPS[:1],)),
    "judge_pretrain": (plots.plot_judge_pretrain, ([0.7, 0.6, 0.65],), ([],)),
    "judge_densities": (
        plots.plot_judge_densities,
        ({"teacher_positive": [0.9, 0.95], "student_negative": [0.1, 0.8, 0.05]},),
        ({"teacher_positive": []},),
    ),
    "funnel": (plots.plot_funnel, ([("asked", 160), ("parsed", 150), ("kept", 100)],), ([],)),
    "method_accuracy": (
        plots.plot_method_accuracy,
        (
            {"ft": {"n": 2, "mean": 0.4, "std": 0.1}, "qcrd": {"n": 1, "mean": 0.5, "std": None}},
            {"ft": [0.3, 0.5], "qcrd": [0.5]},
        ),
        ({"ft": {"n": 0, "mean": None, "std": None}}, {}),
    ),
    "valid_curves": (
        plots.plot_valid_curves,
        ([("ft", "ft seed 0", [2, 4], [0.1, 0.2]), ("dss", "dss seed 0", [2, 4], [0.2, 0.3])],),
        ([("ft", "ft seed 0", [], [])],),
    ),
    "judge_trace": (
        plots.plot_judge_trace,
        (
            [
                {"step": 0, "mean": {"teacher_positive": 0.6}},
                {"step": 4, "mean": {"teacher_positive": 0.8}},
            ],
        ),
        ([],),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_is_a_nonempty_png(name: str, tmp_path: Path) -> None:
    function, args, _ = CASES[name]
    path = function(*args, tmp_path / f"{name}.png")
    assert path == tmp_path / f"{name}.png"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 2000


@pytest.mark.parametrize("name", sorted(CASES))
def test_nothing_to_draw_writes_nothing(name: str, tmp_path: Path) -> None:
    function, _, empty = CASES[name]
    assert function(*empty, tmp_path / f"{name}.png") is None
    assert not list(tmp_path.iterdir())


def test_loss_terms_are_the_losses_not_the_bookkeeping() -> None:
    assert plots.loss_terms(STEPS) == ["loss", "pred", "cl", "judge"]
    assert plots.loss_terms([{"step": 0, "loss": 1.0, "new_term": 2.0, "best": True}]) == [
        "loss",
        "new_term",
    ]
