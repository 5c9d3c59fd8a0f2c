"""A run killed mid-training continues on exactly the trajectory of an uninterrupted one.

``qcrd run`` (QCRD, tiny config, 8 steps, a checkpoint every 2) is killed with SIGKILL once a
checkpoint exists and the log holds at least 3 steps, then the same command is run again. Its
log must equal, step for step, that of a run that was never interrupted: every loss term, the
gradient norm, the learning rate and every validation. CPU, fp32, one torch thread: the two
trajectories are bitwise identical, so the comparison is exact. Any state the checkpoint
forgot (an RNG, the negative buffer, the judge or its optimizer, the data position, the
scheme's sampling generator) shows up as a difference from the first step after the resume.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
ARGS = (
    "-c",
    "configs/tiny.yaml",
    "train.method=qcrd",
    "train.max_steps=8",
    "train.checkpoint_every=2",
    "train.eval_every=4",
    "train.precision=fp32",
    # Iterations of 3 steps put every checkpoint but the one at step 6 mid-iteration, where
    # no sampling re-seeds the RNG before the judge's dropout draws from it; lag 1 makes
    # iteration 1 (steps 3-5) sample the negatives of iteration 2 with the current student.
    "train.qcrd.iteration_steps=3",
    "train.qcrd.negative_lag=1",
)
# Wall-clock measurements differ between any two runs; everything else must not.
TIMINGS = ("sample_seconds", "step_seconds", "sample_cpu_seconds", "step_cpu_seconds")

pytestmark = pytest.mark.slow


def _command(subcommand: str, run_dir: Path, data_root: Path) -> list[str]:
    # data.root as the tiny_prepared fixture set it: the copied stages' fingerprints match.
    cli = [subcommand, *ARGS, f"run_dir={run_dir}", f"data.root={data_root}"]
    return [sys.executable, "-m", "qcrd.cli", *cli]


def _qcrd(subcommand: str, run_dir: Path, data_root: Path) -> subprocess.CompletedProcess[str]:
    command = _command(subcommand, run_dir, data_root)
    return subprocess.run(
        command, cwd=CHECKOUT, env=ENV, capture_output=True, text=True, timeout=600
    )


ENV = {**os.environ, "QCRD_PROGRESS": "0", "OMP_NUM_THREADS": "1", "COLUMNS": "250"}


def _steps(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "train" / "log.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # the line being written when the process died
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in rows if "step" in r]


def _prepared(tiny_prepared: Path, run_dir: Path) -> Path:
    for stage in ("data", "teacher", "filter"):
        shutil.copytree(tiny_prepared / stage, run_dir / stage)
    return run_dir


def _run_until_killed(run_dir: Path, data_root: Path) -> int:
    """Start ``qcrd run`` and SIGKILL it once it has a checkpoint and 3 logged steps."""
    proc = subprocess.Popen(
        _command("run", run_dir, data_root),
        cwd=CHECKOUT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoint = run_dir / "train" / "checkpoint" / "rank0.pt"
    try:
        while proc.poll() is None:
            if checkpoint.is_file() and len(_steps(run_dir)) >= 3:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)  # polling a condition, not waiting for time to pass
        return proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_killed_run_resumes_on_the_uninterrupted_trajectory(
    tmp_path: Path, tiny_prepared: Path, data_root: Path
) -> None:
    reference = _prepared(tiny_prepared, tmp_path / "reference")
    result = _qcrd("train", reference, data_root)
    assert result.returncode == 0, result.stderr
    expected = _steps(reference)
    assert [r["step"] for r in expected] == list(range(8))

    killed = _prepared(tiny_prepared, tmp_path / "killed")
    assert _run_until_killed(killed, data_root) == -signal.SIGKILL, "the run ended before the kill"
    assert not (killed / "train" / "manifest.json").exists()
    done_before_kill = len(_steps(killed))
    assert 3 <= done_before_kill < 8

    resumed = _qcrd("run", killed, data_root)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at step" in " ".join(resumed.stderr.split())
    assert "test accuracy" in resumed.stdout

    got = _steps(killed)
    assert [r["step"] for r in got] == list(range(8)), "steps lost or logged twice"
    for want, row in zip(expected, got, strict=True):
        assert row == want, f"step {want['step']} differs after resuming"
    judge_rows = [
        r for r in map(json.loads, (killed / "train" / "log.jsonl").open()) if "judge_pretrain" in r
    ]
    assert len(judge_rows) == 1, "the judge's pretraining losses were lost or repeated"
