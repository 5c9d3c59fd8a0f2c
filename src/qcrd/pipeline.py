"""Run stages in order, skipping complete ones and continuing an interrupted one.

    run_stages(cfg, ["data", "teacher", "filter", "train", "evaluate", "report"])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig
from qcrd.rundir import STAGES, RunDir

log = logging.getLogger(__name__)


def _data(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
    from qcrd.data.stage import run_data_stage

    return run_data_stage(cfg, out)


def _teacher(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
    from qcrd.teacher.stage import run_teacher_stage

    return run_teacher_stage(cfg, run.root / "data", out)


def _filter(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
    from qcrd.filtering.stage import run_filter_stage

    return run_filter_stage(cfg, run.root / "data", run.root / "teacher", out)


def _train(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
    from qcrd.training.loop import train

    return train(cfg, run)


def _evaluate(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
    from qcrd.evaluation.stage import run_evaluate_stage

    return run_evaluate_stage(cfg, run.root, out)


def _report(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
    from qcrd.reporting.report import write_report

    return write_report(cfg, run.root, out)


RUNNERS: dict[str, Callable[[RunConfig, RunDir, Path], dict[str, Any]]] = {
    "data": _data,
    "teacher": _teacher,
    "filter": _filter,
    "train": _train,
    "evaluate": _evaluate,
    "report": _report,
}


def needs_rationales(cfg: RunConfig) -> bool:
    return cfg.train.method != "ft"


def run_stage(cfg: RunConfig, run: RunDir, stage: str, force: bool = False) -> dict[str, Any] | None:
    """Run one stage unless it is already complete; return its summary (None if skipped)."""
    if force:
        run.reset(stage)
    if run.is_complete(stage, cfg):
        log.info("stage %s: complete, skipped", stage)
        return None
    if stage in ("teacher", "filter") and not needs_rationales(cfg):
        log.info("stage %s: not needed by method ft, skipped", stage)
        return None
    start = time.perf_counter()
    summary = RUNNERS[stage](cfg, run, run.stage(stage))
    summary = {**summary, "seconds": round(time.perf_counter() - start, 1)}
    run.complete(stage, cfg, summary)
    return summary


def run_stages(
    cfg: RunConfig, stages: list[str] | tuple[str, ...] = STAGES, force: bool = False
) -> dict[str, dict[str, Any] | None]:
    run = RunDir.create(cfg)
    return {stage: run_stage(cfg, run, stage, force=force) for stage in stages}
