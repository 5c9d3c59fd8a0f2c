"""Run stages in order, skipping complete ones and continuing an interrupted one.

run_stages(cfg, ["data", "teacher", "filter", "train", "evaluate", "report"])
"""

from __future__ import annotations

import logging
import os
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


class IncompleteStage(RuntimeError):
    """A stage finished with work left (e.g. teacher requests that failed)."""


def needs_rationales(cfg: RunConfig) -> bool:
    return cfg.train.method != "ft"


def _world_size() -> int:
    """Processes started by ``accelerate launch`` / ``torchrun`` (1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _wait_for_everyone() -> None:
    if _world_size() > 1:
        import torch
        from accelerate import PartialState

        # The same flag as the training loop's Accelerator: the shared state is set up once.
        PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()


def run_stage(
    cfg: RunConfig, run: RunDir, stage: str, force: bool = False
) -> dict[str, Any] | None:
    """Run one stage unless it is already complete; return its summary (None if skipped).

    Under several processes every process runs the stage; the main one alone resets the
    folder and writes the manifest.
    """
    if force:
        if _is_main_process():
            run.reset(stage)
        _wait_for_everyone()
    if run.is_complete(stage, cfg):
        log.info("stage %s: complete, skipped", stage)
        return None
    if stage in ("teacher", "filter") and not needs_rationales(cfg):
        log.info("stage %s: not needed by method ft, skipped", stage)
        return None
    start = time.perf_counter()
    summary = RUNNERS[stage](cfg, run, run.stage(stage))
    summary = {**summary, "seconds": round(time.perf_counter() - start, 1)}
    if summary.get("complete") is False:
        # Not marked complete, so the next run asks again for what failed (and only that:
        # everything obtained is in the cache). Later stages must not see a partial set.
        raise IncompleteStage(
            f"stage {stage}: {summary.get('failed', '?')} request(s) failed "
            f"({summary.get('failed_by_reason', {})}); everything obtained is cached. "
            "Rerun the same command to retry the failures."
        )
    if _is_main_process():
        run.complete(stage, cfg, summary)
    return summary


def check_reusable(
    cfg: RunConfig, run: RunDir, stages: list[str] | tuple[str, ...], force: bool
) -> None:
    """Raise StageMismatch if a completed stage that these stages read or would skip was made
    with another configuration (with ``force``, the stages run are redone: only those upstream
    of them count). Checked before anything is written, so a refused command changes nothing."""
    first = min(STAGES.index(s) for s in stages)
    last = max(STAGES.index(s) for s in stages)
    for stage in STAGES[:first] if force else STAGES[: last + 1]:
        run.is_complete(stage, cfg)


def run_stages(
    cfg: RunConfig, stages: list[str] | tuple[str, ...] = STAGES, force: bool = False
) -> dict[str, dict[str, Any] | None]:
    if _world_size() > 1 and set(stages) != {"train"}:
        raise ValueError(
            "only the train stage runs in several processes: run qcrd data, qcrd teacher "
            "and qcrd filter in one process first, and qcrd evaluate and qcrd report after"
        )
    check_reusable(cfg, RunDir(Path(cfg.run_dir)), stages, force)
    run = RunDir.create(cfg)
    return {stage: run_stage(cfg, run, stage, force=force) for stage in stages}
