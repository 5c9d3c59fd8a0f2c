"""Run directories: a manifest written last marks completion, a changed config is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from qcrd import pipeline
from qcrd.config import RunConfig, load_config
from qcrd.rundir import MANIFEST, STAGES, RunDir, StageMismatch, fingerprint


def _cfg(tmp_path: Path, *overrides: str) -> RunConfig:
    return load_config(None, [f"run_dir={tmp_path / 'run'}", *overrides])


@pytest.fixture
def fake_runners(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every stage with one that writes ``out.txt`` and records that it ran."""
    calls: list[str] = []

    def make(stage: str) -> Any:
        def runner(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
            calls.append(stage)
            (out / "out.txt").write_text(stage)
            return {"stage": stage}

        return runner

    monkeypatch.setattr(pipeline, "RUNNERS", {s: make(s) for s in STAGES})
    return calls


def test_fingerprint_depends_on_the_stage_and_its_upstream_sections_only(tmp_path: Path) -> None:
    base = _cfg(tmp_path)
    other_lr = _cfg(tmp_path, "train.lr=1e-3")
    other_data = _cfg(tmp_path, "data.max_train=5")
    elsewhere = load_config(None, ["run_dir=/somewhere/else"])
    assert fingerprint(base, "data") == fingerprint(other_lr, "data")
    assert fingerprint(base, "filter") == fingerprint(other_lr, "filter")
    assert fingerprint(base, "train") != fingerprint(other_lr, "train")
    for stage in STAGES:
        assert fingerprint(base, stage) != fingerprint(other_data, stage)
        assert fingerprint(base, stage) == fingerprint(elsewhere, stage)  # moving a run is fine


def test_a_stage_is_complete_only_once_its_manifest_exists(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    run = RunDir.create(cfg)
    out = run.stage("data")
    (out / "train.jsonl").write_text("{}\n")  # outputs without a manifest: interrupted
    assert not run.is_complete("data", cfg)
    run.complete("data", cfg, {"rows": 1})
    assert run.is_complete("data", cfg)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["stage"] == "data"
    assert manifest["fingerprint"] == fingerprint(cfg, "data")
    assert manifest["summary"] == {"rows": 1}
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "train.jsonl"]  # no temp file left


def test_create_saves_the_resolved_config(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "train.lr=3e-5")
    run = RunDir.create(cfg)
    assert load_config(run.root / "config.yaml") == cfg


def test_changed_configuration_raises_a_helpful_mismatch(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    run = RunDir.create(cfg)
    run.complete("train", cfg, {})
    with pytest.raises(StageMismatch) as err:
        run.is_complete("train", _cfg(tmp_path, "train.lr=1e-3"))
    message = str(err.value)
    assert "'train'" in message
    assert str(run.root) in message
    assert "new run_dir" in message
    assert "--force" in message


def test_reset_removes_the_stage_and_every_later_one(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    run = RunDir.create(cfg)
    for stage in STAGES:
        run.complete(stage, cfg, {})
    run.reset("train")
    assert [s for s in STAGES if (run.root / s).exists()] == ["data", "teacher", "filter"]
    assert (run.root / "config.yaml").is_file()
    run.reset("report")  # the last stage: nothing after it
    run.reset("report")  # and resetting what is gone is fine
    assert not (run.root / "report").exists()


def test_unknown_stage_is_rejected(tmp_path: Path) -> None:
    run = RunDir.create(_cfg(tmp_path))
    with pytest.raises(ValueError, match="unknown stage 'training'"):
        run.stage("training")


# --- the pipeline over a run directory ------------------------------------------------------


def test_complete_stages_are_skipped(tmp_path: Path, fake_runners: list[str]) -> None:
    cfg = _cfg(tmp_path, "train.method=dss")
    first = pipeline.run_stages(cfg)
    assert fake_runners == list(STAGES)
    assert all(first[s] is not None for s in STAGES)
    second = pipeline.run_stages(cfg)
    assert fake_runners == list(STAGES)  # nothing ran again
    assert second == dict.fromkeys(STAGES)


def test_an_interrupted_stage_runs_again(
    tmp_path: Path, fake_runners: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(tmp_path, "train.method=dss")

    def crash(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
        (out / "partial.txt").write_text("half")
        raise KeyboardInterrupt

    runners = dict(pipeline.RUNNERS)
    monkeypatch.setitem(pipeline.RUNNERS, "train", crash)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run_stages(cfg)
    run = RunDir(Path(cfg.run_dir))
    assert run.manifest("filter") is not None
    assert run.manifest("train") is None
    monkeypatch.setitem(pipeline.RUNNERS, "train", runners["train"])
    fake_runners.clear()
    pipeline.run_stages(cfg)
    assert fake_runners == ["train", "evaluate", "report"]


def test_ft_skips_the_teacher_and_filter(tmp_path: Path, fake_runners: list[str]) -> None:
    pipeline.run_stages(_cfg(tmp_path, "train.method=ft"))
    assert fake_runners == ["data", "train", "evaluate", "report"]


def test_refused_command_changes_nothing(tmp_path: Path, fake_runners: list[str]) -> None:
    cfg = _cfg(tmp_path, "train.method=dss")
    pipeline.run_stages(cfg)
    saved = (Path(cfg.run_dir) / "config.yaml").read_text()
    fake_runners.clear()
    changed = _cfg(tmp_path, "train.method=dss", "train.lr=1e-3")
    with pytest.raises(StageMismatch, match="'train'"):
        pipeline.run_stages(changed)
    # A stage after the mismatch is refused too, before anything runs.
    with pytest.raises(StageMismatch, match="'data'"):
        pipeline.run_stages(_cfg(tmp_path, "train.method=dss", "data.max_train=3"), ["train"])
    assert fake_runners == []
    assert (Path(cfg.run_dir) / "config.yaml").read_text() == saved


def test_force_redoes_the_stage_and_later_ones(tmp_path: Path, fake_runners: list[str]) -> None:
    cfg = _cfg(tmp_path, "train.method=dss")
    pipeline.run_stages(cfg)
    fake_runners.clear()
    changed = _cfg(tmp_path, "train.method=dss", "train.lr=1e-3")
    pipeline.run_stages(changed, ["train", "evaluate", "report"], force=True)
    assert fake_runners == ["train", "evaluate", "report"]
    run = RunDir(Path(cfg.run_dir))
    assert all(run.is_complete(s, changed) for s in STAGES)
    assert load_config(run.root / "config.yaml") == changed
    # --force does not reach upstream: a changed data section is still refused.
    with pytest.raises(StageMismatch, match="'data'"):
        pipeline.run_stages(
            _cfg(tmp_path, "train.method=dss", "data.max_train=3"), ["train"], force=True
        )


def test_several_processes_run_the_train_stage_only(
    tmp_path: Path, fake_runners: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="only the train stage runs in several processes"):
        pipeline.run_stages(_cfg(tmp_path))
    assert fake_runners == []


def test_only_the_main_process_writes_the_manifest(
    tmp_path: Path, fake_runners: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _cfg(tmp_path, "train.method=dss")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    summaries = pipeline.run_stages(cfg, ["train"])
    assert fake_runners == ["train"]
    assert summaries["train"] is not None
    assert RunDir(Path(cfg.run_dir)).manifest("train") is None
    monkeypatch.setenv("RANK", "0")
    pipeline.run_stages(cfg, ["train"])
    assert RunDir(Path(cfg.run_dir)).manifest("train") is not None


def test_reset_keeps_the_teacher_cache(tmp_path: Path) -> None:
    """--force must never throw away teacher responses that were paid for."""
    cfg = _cfg(tmp_path)
    run = RunDir.create(cfg)
    for stage in STAGES:
        run.complete(stage, cfg, {})
    teacher = run.root / "teacher"
    for name in ("cache.sqlite", "cache.sqlite-wal", "samples.jsonl"):
        (teacher / name).write_text(name)
    run.reset("data")
    assert sorted(p.name for p in teacher.iterdir()) == ["cache.sqlite", "cache.sqlite-wal"]
    assert run.manifest("teacher") is None
    assert not (run.root / "data").exists()


def test_a_stage_with_failures_is_not_marked_complete(
    tmp_path: Path, fake_runners: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A teacher stage whose summary says complete=False raises, and the next run retries it."""
    cfg = _cfg(tmp_path, "train.method=dss")

    def partial(cfg: RunConfig, run: RunDir, out: Path) -> dict[str, Any]:
        return {"complete": False, "failed": 2, "failed_by_reason": {"http_503": 2}}

    monkeypatch.setitem(pipeline.RUNNERS, "teacher", partial)
    with pytest.raises(pipeline.IncompleteStage, match="2 request"):
        pipeline.run_stages(cfg)
    run = RunDir(Path(cfg.run_dir))
    assert run.manifest("data") is not None
    assert run.manifest("teacher") is None
    assert "filter" not in fake_runners
