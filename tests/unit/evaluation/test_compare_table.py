"""The comparison's arithmetic and bookkeeping, from per-run metrics written by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from qcrd.config import ConfigError, RunConfig, load_config
from qcrd.evaluation.compare import (
    check_plan,
    compare,
    member_name,
    seed_member,
    summarize,
    with_run,
    with_shared_cache,
)
from qcrd.rundir import MANIFEST, RunDir, StageMismatch, fingerprint

# (method, seed) -> (test accuracy, valid accuracy of the selected checkpoint)
RESULTS = {
    ("ft", 0): (0.50, 0.40),
    ("ft", 1): (0.55, 0.45),
    ("ft", 2): (0.60, 0.50),
    ("dss", 0): (0.60, 0.60),
    ("dss", 1): (0.70, 0.60),
    ("qcrd", 0): (0.80, 0.75),
}


def write_member(base: RunConfig, method: str, seed: int, test: float, valid: float) -> None:
    """What a finished run leaves behind that the comparison reads: evaluate's manifest and
    metrics, and a training log with two validations."""
    cfg = with_run(base, Path(base.run_dir) / member_name(method, seed), method, seed)
    run = RunDir.create(cfg)
    metrics = {
        "test_accuracy": test,
        "test_examples": 200,
        "best_valid_accuracy": valid,
        "rationale_consistency": {"consistency": 0.9, "either_failed_share": 0.1},
    }
    run.stage("evaluate")
    (run.root / "evaluate" / "metrics.json").write_text(json.dumps(metrics))
    run.complete("evaluate", cfg, metrics)
    log = [{"step": 1, "valid_accuracy": valid / 2}, {"step": 3, "valid_accuracy": valid}]
    run.stage("train")
    (run.root / "train" / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))


@pytest.fixture
def base(tmp_path: Path) -> RunConfig:
    cfg = load_config(None, [f"run_dir={tmp_path / 'cmp'}"])
    for (method, seed), (test, valid) in RESULTS.items():
        write_member(cfg, method, seed, test, valid)
    return cfg


def test_summarize_uses_the_sample_std() -> None:
    """0.50, 0.55, 0.60: mean 0.55; squared deviations 0.0025 + 0 + 0.0025 = 0.005;
    sample variance 0.005 / (3 - 1) = 0.0025 -> std 0.05 (the population std would be
    sqrt(0.005 / 3) = 0.0408)."""
    s = summarize([0.50, 0.55, 0.60])
    assert s["n"] == 3
    assert s["mean"] == pytest.approx(0.55)
    assert s["std"] == pytest.approx(0.05)
    assert (s["min"], s["max"]) == (0.50, 0.60)


def test_one_seed_has_no_std_and_none_has_no_mean() -> None:
    assert summarize([0.8])["std"] is None
    assert summarize([]) == {"n": 0, "mean": None, "std": None, "min": None, "max": None}


def test_comparison_table_from_hand_written_runs(base: RunConfig) -> None:
    """ft: 3 seeds (above). dss: 0.60, 0.70 -> mean 0.65, std sqrt(2 * 0.05**2 / 1) = 0.0707;
    seed 2 is missing. qcrd: seed 0 only -> 0.80, std none; seeds 1 and 2 missing."""
    result = compare(base, ["ft", "dss", "qcrd"], [0, 1, 2], run=False)
    s = result["summary"]
    assert s["ft"]["seeds"] == [0, 1, 2]
    assert s["ft"]["test_accuracy"]["mean"] == pytest.approx(0.55)
    assert s["ft"]["test_accuracy"]["std"] == pytest.approx(0.05)
    assert s["ft"]["best_valid_accuracy"]["mean"] == pytest.approx(0.45)
    assert s["dss"]["test_accuracy"]["mean"] == pytest.approx(0.65)
    assert s["dss"]["test_accuracy"]["std"] == pytest.approx(math.sqrt(0.005))
    assert s["qcrd"]["test_accuracy"] == {"n": 1, "mean": 0.8, "std": None, "min": 0.8, "max": 0.8}
    missing = {(m["method"], m["seed"]) for m in result["missing"]}
    assert missing == {("dss", 2), ("qcrd", 1), ("qcrd", 2)}
    # Seed-major order, valid accuracy of each run's selected checkpoint beside its test one.
    assert [(r["method"], r["seed"], r["best_valid_accuracy"]) for r in result["runs"][:3]] == [
        ("ft", 0, 0.40),
        ("dss", 0, 0.60),
        ("qcrd", 0, 0.75),
    ]

    out = Path(base.run_dir) / "comparison"
    assert json.loads((out / "comparison.json").read_text())["summary"] == s
    md = (out / "comparison.md").read_text()
    assert "| ft | 3 | 55.00% ± 5.00 | 50.00% – 60.00% | 45.00% ± 5.00 | 90.00% ± 0.00 |" in md
    assert "| dss | 2 | 65.00% ± 7.07 |" in md
    assert "| qcrd | 1 | 80.00% | 80.00% – 80.00% | 75.00% |" in md
    assert "n − 1" in md
    assert "left out of the numbers above: qcrd-seed1, dss-seed2, qcrd-seed2." in md
    for name in ("accuracy.png", "valid_curves.png"):
        assert (out / "figures" / name).stat().st_size > 2000
    assert (out / "comparison.html").read_text().count('src="data:image/png;base64,') == 2


def test_a_run_made_with_another_configuration_is_refused(base: RunConfig) -> None:
    changed = load_config(None, [f"run_dir={base.run_dir}", "train.lr=1e-3"])
    with pytest.raises(StageMismatch):
        compare(changed, ["ft"], [0], run=False)


@pytest.mark.parametrize(
    ("methods", "seeds", "message"),
    [
        (["ft", "sft"], [0], "unknown method 'sft'"),
        (["ft"], [0, 1, 0], "--seeds lists 0 more than once"),
        (["dss", "dss"], [0], "--methods lists dss more than once"),
        ([], [0], "at least one method"),
    ],
)
def test_bad_plans_are_rejected(methods: list[str], seeds: list[int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_plan(methods, seeds)


def test_members_share_one_teacher_cache_unless_one_is_configured(tmp_path: Path) -> None:
    base = load_config(None, [f"run_dir={tmp_path}"])
    assert with_shared_cache(base).teacher.cache_path == str(tmp_path / "teacher_cache.sqlite")
    mine = load_config(None, [f"run_dir={tmp_path}", "teacher.cache_path=/elsewhere.sqlite"])
    assert with_shared_cache(mine) is mine
    # Not part of a fingerprint: stages made before the cache was shared stay valid.
    for stage in ("data", "teacher", "filter", "train"):
        assert fingerprint(with_shared_cache(base), stage) == fingerprint(base, stage)


def test_members_share_the_data_teacher_and_filter_fingerprints(tmp_path: Path) -> None:
    """Only run_dir, train.method and train.seed change: the shared stages stay valid."""
    base = load_config(None, [f"run_dir={tmp_path}"])
    member = with_run(base, tmp_path / "qcrd-seed3", "qcrd", 3)
    assert (member.train.method, member.train.seed) == ("qcrd", 3)
    for stage in ("data", "teacher", "filter"):
        assert fingerprint(member, stage) == fingerprint(base, stage)
    assert fingerprint(member, "train") != fingerprint(base, "train")


def test_seed_member_copies_complete_shared_stages_without_the_cache(tmp_path: Path) -> None:
    shared, member = tmp_path / "shared", tmp_path / "qcrd-seed0"
    for stage in ("data", "teacher", "filter"):
        (shared / stage).mkdir(parents=True)
        (shared / stage / MANIFEST).write_text("{}")
    (shared / "teacher" / "cache.sqlite").write_text("big")
    (shared / "teacher" / "samples.jsonl").write_text("{}")
    (member / "filter").mkdir(parents=True)  # an interrupted stage: replaced
    (member / "filter" / "partial").write_text("x")
    assert seed_member(shared, member, "qcrd") == ["data", "teacher", "filter"]
    assert sorted(p.name for p in (member / "teacher").iterdir()) == [MANIFEST, "samples.jsonl"]
    assert not (member / "filter" / "partial").exists()
    assert seed_member(shared, member, "qcrd") == []  # complete now: left alone
    ft = tmp_path / "ft-seed0"
    assert seed_member(shared, ft, "ft") == ["data"]  # ft reads no rationales
