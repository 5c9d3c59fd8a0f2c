"""Compare methods over seeds: run (or reuse) one run per (method, seed), then aggregate.

    qcrd compare -c configs/tiny.yaml --methods ft,dss,qcrd --seeds 0,1,2

Layout under the configuration's ``run_dir`` (the comparison's root):

- ``shared/``: the data, teacher and filter stages, made once. They depend on the data,
  teacher and filter sections only, which every member shares, so each member's copies of
  them carry matching fingerprints and are skipped by the pipeline.
- ``teacher_cache.sqlite``: the teacher's request cache, shared by ``shared/`` and every
  member (``teacher.cache_path``, unless the configuration names one already; the path is not
  part of any stage fingerprint). A member's teacher stage redone with ``--force`` therefore
  asks the teacher for nothing it has answered before, and a reset stage folder loses no
  cache.
- ``<method>-seed<seed>/``: one complete run each (``train.method``, ``train.seed`` and
  ``run_dir`` are the only overrides). A complete member is reused, so a comparison builds up
  over several sittings, seed by seed; one made with another configuration is refused.
- ``comparison/``: ``comparison.json``, ``comparison.md``, ``comparison.html`` and figures.

Spread over seeds is the *sample* standard deviation (n − 1 denominator); with one seed it is
``None`` (shown as n/a), never 0.
"""

from __future__ import annotations

import json
import logging
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from qcrd.config import ConfigError, Method, RunConfig, build_config
from qcrd.rundir import MANIFEST, STAGES, RunDir

log = logging.getLogger(__name__)

SHARED_DIR = "shared"
OUT_DIR = "comparison"
CACHE_FILE = "teacher_cache.sqlite"
SHARED_STAGES = ("data", "teacher", "filter")
STD_NOTE = "sample standard deviation over seeds (n − 1 denominator); null with one seed"


def with_shared_cache(base: RunConfig) -> RunConfig:
    """``base`` with ``teacher.cache_path`` set to ``<run_dir>/teacher_cache.sqlite`` if unset."""
    if base.teacher.cache_path is not None:
        return base
    tree = base.model_dump(mode="json")
    tree["teacher"]["cache_path"] = str(Path(base.run_dir) / CACHE_FILE)
    return build_config(tree)


def member_name(method: str, seed: int) -> str:
    return f"{method}-seed{seed}"


def with_run(base: RunConfig, run_dir: Path, method: str, seed: int) -> RunConfig:
    """``base`` with ``run_dir``, ``train.method`` and ``train.seed`` replaced (validated)."""
    tree = base.model_dump(mode="json")
    tree["run_dir"] = str(run_dir)
    tree["train"]["method"] = method
    tree["train"]["seed"] = seed
    return build_config(tree)


def check_plan(methods: Sequence[str], seeds: Sequence[int]) -> None:
    """Reject unknown methods, repeated entries and empty lists before anything runs."""
    known = get_args(Method)
    for m in methods:
        if m not in known:
            raise ConfigError(f"unknown method {m!r}; methods are {', '.join(known)}")
    if not methods or not seeds:
        raise ConfigError("a comparison needs at least one method and one seed")
    for name, values in (("methods", list(methods)), ("seeds", [str(s) for s in seeds])):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ConfigError(f"--{name} lists {', '.join(twice)} more than once")


def prepare_shared(base: RunConfig, methods: Sequence[str]) -> Path:
    """Run the data, teacher and filter stages once in ``<root>/shared`` (teacher and filter
    only if some method reads rationales)."""
    from qcrd.pipeline import run_stages

    root = Path(base.run_dir)
    rationale_method = next((m for m in methods if m != "ft"), None)
    cfg = with_run(base, root / SHARED_DIR, rationale_method or "ft", base.train.seed)
    run_stages(cfg, SHARED_STAGES if rationale_method else ("data",))
    return root / SHARED_DIR


def seed_member(shared: Path, member: Path, method: str) -> list[str]:
    """Copy the complete shared stages a member lacks into it; return the stages copied."""
    copied = []
    for stage in SHARED_STAGES if method != "ft" else ("data",):
        source, target = shared / stage, member / stage
        if (target / MANIFEST).is_file() or not (source / MANIFEST).is_file():
            continue
        if target.exists():
            shutil.rmtree(target)  # an interrupted copy or stage: the shared one replaces it
        # A cache inside the teacher folder (a shared/ made before the cache was shared) is
        # not copied: the members never call the teacher.
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("cache.sqlite*"))
        copied.append(stage)
    return copied


@dataclass(frozen=True)
class Member:
    method: str
    seed: int
    cfg: RunConfig

    @property
    def root(self) -> Path:
        return Path(self.cfg.run_dir)

    def done(self, stage: str = STAGES[-1]) -> bool:
        """``stage`` (default: the last, report) complete with this configuration; raises
        StageMismatch if complete with another."""
        return RunDir(self.root).is_complete(stage, self.cfg)


def plan_members(base: RunConfig, methods: Sequence[str], seeds: Sequence[int]) -> list[Member]:
    """Seed-major order: a comparison cut short still has every method on its first seeds."""
    root = Path(base.run_dir)
    return [
        Member(m, s, with_run(base, root / member_name(m, s), m, s)) for s in seeds for m in methods
    ]


def run_members(base: RunConfig, members: Sequence[Member]) -> None:
    """Run every member that is not complete (complete ones are reused untouched)."""
    from qcrd.pipeline import run_stages

    todo = [m for m in members if not m.done()]
    log.info("comparison: %d of %d runs to do", len(todo), len(members))
    if not todo:
        return
    shared = prepare_shared(base, sorted({m.method for m in members}))
    for i, member in enumerate(todo, 1):
        log.info("comparison: run %d/%d, %s", i, len(todo), member.root.name)
        member.root.mkdir(parents=True, exist_ok=True)
        seed_member(shared, member.root, member.method)
        run_stages(member.cfg, STAGES)


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """n, mean, sample std (n − 1; ``None`` for n < 2), min and max of ``values``."""
    if not values:
        return {"n": 0, "mean": None, "std": None, "min": None, "max": None}
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,
        "min": min(values),
        "max": max(values),
    }


def run_row(member: Member, metrics: dict[str, Any]) -> dict[str, Any]:
    """One member's line of the comparison, from its ``evaluate/metrics.json``."""
    cons = metrics.get("rationale_consistency") or {}
    div = metrics.get("rationale_diversity") or {}
    judge = metrics.get("judge_scores") or {}
    return {
        "method": member.method,
        "seed": member.seed,
        "run_dir": str(member.root),
        "test_accuracy": metrics.get("test_accuracy"),
        "test_examples": metrics.get("test_examples"),
        "best_valid_accuracy": metrics.get("best_valid_accuracy"),
        "rationale_consistency": cons.get("consistency"),
        "rationale_either_failed_share": cons.get("either_failed_share"),
        "rationale_distinct_2": div.get("distinct_2"),
        "judge_mean": {pool: s.get("mean") for pool, s in judge.items()},
    }


def aggregate(rows: Sequence[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Per method: the seeds found and a :func:`summarize` of each numeric metric."""
    out: dict[str, Any] = {}
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        out[method] = {"seeds": [r["seed"] for r in mine]}
        for key in ("test_accuracy", "best_valid_accuracy", "rationale_consistency"):
            out[method][key] = summarize([r[key] for r in mine if r[key] is not None])
    return out


def collect(base: RunConfig, members: Sequence[Member]) -> dict[str, Any]:
    """The comparison's content: a row per complete member, missing ones, per-method stats."""
    rows, missing = [], []
    for member in members:
        if member.done("evaluate"):  # its numbers exist, whether or not its report does
            metrics = json.loads((member.root / "evaluate" / "metrics.json").read_text())
            rows.append(run_row(member, metrics))
        else:
            missing.append(
                {"method": member.method, "seed": member.seed, "run_dir": str(member.root)}
            )
    methods = list(dict.fromkeys(m.method for m in members))
    return {
        "task": base.data.task,
        "student": base.student.name,
        "root": base.run_dir,
        "methods": methods,
        "seeds": list(dict.fromkeys(m.seed for m in members)),
        "std": STD_NOTE,
        "runs": rows,
        "missing": missing,
        "summary": aggregate(rows, methods),
    }


def compare(
    base: RunConfig, methods: Sequence[str], seeds: Sequence[int], *, run: bool = True
) -> dict[str, Any]:
    """Run what is missing (unless ``run`` is false), aggregate, and write ``comparison/``.

    Returns:
        The content of ``comparison.json`` plus ``"outputs"``, the paths written.
    """
    from qcrd.reporting.comparison import write_comparison

    check_plan(methods, seeds)
    base = with_shared_cache(base)
    members = plan_members(base, methods, seeds)
    if run:
        run_members(base, members)
    result = collect(base, members)
    out = Path(base.run_dir) / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(result, indent=2))
    outputs = write_comparison(base, result, out)
    return {**result, "outputs": [str(out / "comparison.json"), *map(str, outputs)]}
