"""The real ``qcrd`` command on ``configs/tiny.yaml``, as a new user runs it.

One complete run is shared by the module; tests that change a run directory copy it first.
The subprocesses run torch on one thread (see the ``one_torch_thread`` fixture for why) and
with a wide terminal so that rich does not wrap the lines checked here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qcrd.cli import app
from qcrd.config import load_config
from qcrd.rundir import MANIFEST, STAGES, fingerprint

CHECKOUT = Path(__file__).resolve().parents[2]
TINY = "configs/tiny.yaml"
QCRD = Path(sys.executable).with_name("qcrd")  # the console script pip installed
RUN_BUDGET_S = 120.0
COMMANDS = (
    "run",
    "data",
    "teacher",
    "filter",
    "train",
    "evaluate",
    "report",
    "config",
    "compare",
    "export",
)


@dataclass(frozen=True)
class Completed:
    run_dir: Path
    result: subprocess.CompletedProcess[str]
    seconds: float


def qcrd(*args: str, data_root: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QCRD_PROGRESS": "0",
        "QCRD_DATA_ROOT": str(data_root),
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "250",
    }
    return subprocess.run(
        [str(QCRD), *args],
        cwd=CHECKOUT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _outputs(run_dir: Path) -> dict[str, int]:
    """Every file a stage wrote, with its modification time in nanoseconds."""
    return {
        str(p.relative_to(run_dir)): p.stat().st_mtime_ns
        for stage in STAGES
        for p in (run_dir / stage).rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny_cli_run(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Completed:
    run_dir = tmp_path_factory.mktemp("cli") / "tiny"
    start = time.perf_counter()
    result = qcrd("run", "-c", TINY, f"run_dir={run_dir}", data_root=data_root)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stdout + result.stderr
    return Completed(run_dir, result, seconds)


def test_run_completes_within_budget_and_prints_test_accuracy(tiny_cli_run: Completed) -> None:
    out = tiny_cli_run.result.stdout
    for stage in STAGES:
        assert re.search(rf"^{stage} done in [\d.]+ s$", out, re.MULTILINE), out
    assert re.search(r"^test accuracy \d+\.\d\d% \(qcrd on svamp, 16 examples\)", out, re.M), out
    assert tiny_cli_run.seconds < RUN_BUDGET_S, f"qcrd run took {tiny_cli_run.seconds:.0f} s"


def test_every_stage_is_complete_with_the_saved_config(tiny_cli_run: Completed) -> None:
    run_dir = tiny_cli_run.run_dir
    cfg = load_config(run_dir / "config.yaml")
    assert cfg == load_config(CHECKOUT / TINY, [f"run_dir={run_dir}"])
    for stage in STAGES:
        manifest = json.loads((run_dir / stage / MANIFEST).read_text())
        assert manifest["stage"] == stage
        assert manifest["fingerprint"] == fingerprint(cfg, stage)
    metrics = json.loads((run_dir / "evaluate" / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["test_examples"] == 16
    steps = [r for r in map(json.loads, (run_dir / "train" / "log.jsonl").open()) if "step" in r]
    assert [r["step"] for r in steps] == list(range(cfg.train.max_steps or 0))
    assert (run_dir / "train" / "best" / "model.safetensors").is_file()
    assert (run_dir / "report" / "report.md").read_text().strip()


def test_second_run_does_no_work(tiny_cli_run: Completed, data_root: Path) -> None:
    run_dir = tiny_cli_run.run_dir
    before = _outputs(run_dir)
    result = qcrd("run", "-c", TINY, f"run_dir={run_dir}", data_root=data_root)
    assert result.returncode == 0, result.stderr
    for stage in STAGES:
        assert f"{stage}: already complete" in result.stdout
    assert " done in " not in result.stdout
    assert "test accuracy" in result.stdout  # the result is still reported
    assert _outputs(run_dir) == before  # no file rewritten, none added


def test_help_of_the_command_and_every_subcommand(data_root: Path) -> None:
    result = qcrd("--help", data_root=data_root)
    assert result.returncode == 0, result.stderr
    for command in COMMANDS:
        assert re.search(rf"│ {command}\s", result.stdout), command
    runner = CliRunner()
    for command in COMMANDS:
        sub = runner.invoke(app, [command, "--help"], prog_name="qcrd")
        assert sub.exit_code == 0, (command, sub.output)
        assert f"qcrd {command}" in sub.output
        assert "--config" in sub.output


@pytest.mark.parametrize(
    ("override", "named"),
    [("train.lrr=1e-3", "train.lrr: unknown key"), ("train.lr=abc", "train.lr: ")],
)
def test_bad_override_exits_2_naming_the_key(
    tmp_path: Path, data_root: Path, override: str, named: str
) -> None:
    result = qcrd("run", "-c", TINY, f"run_dir={tmp_path / 'run'}", override, data_root=data_root)
    assert result.returncode == 2
    assert named in result.stdout
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_changed_config_is_refused_and_force_redoes_it(
    tiny_cli_run: Completed, tmp_path: Path, data_root: Path
) -> None:
    run_dir = tmp_path / "tiny"
    shutil.copytree(tiny_cli_run.run_dir, run_dir)
    saved_config = (run_dir / "config.yaml").read_text()
    before = _outputs(run_dir)
    args = ("-c", TINY, f"run_dir={run_dir}", "train.lr=5e-4")

    refused = qcrd("run", *args, data_root=data_root)
    assert refused.returncode == 1
    message = " ".join(refused.stdout.split())
    assert f"stage 'train' in {run_dir} was completed with a different configuration" in message
    assert "--force" in message
    assert (run_dir / "config.yaml").read_text() == saved_config
    assert _outputs(run_dir) == before

    forced = qcrd("run", "--force", *args, data_root=data_root)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    for stage in STAGES:
        assert re.search(rf"^{stage} done in", forced.stdout, re.MULTILINE), forced.stdout
    cfg = load_config(run_dir / "config.yaml")
    assert cfg.train.lr == 5e-4
    for stage in STAGES:
        assert json.loads((run_dir / stage / MANIFEST).read_text())["fingerprint"] == (
            fingerprint(cfg, stage)
        )
    old_log = (tiny_cli_run.run_dir / "train" / "log.jsonl").read_text()
    assert (run_dir / "train" / "log.jsonl").read_text() != old_log
