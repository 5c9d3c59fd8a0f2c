"""Run directories: each stage writes into its own folder and marks completion with a manifest.

The manifest is written last, so a folder without one is an interrupted stage. It records a
fingerprint of the configuration the stage depends on; a complete stage whose fingerprint still
matches is skipped, one whose fingerprint changed is refused (start a new run directory or pass
``--force``) so results from two configurations never mix.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qcrd.config import RunConfig, dump_config

STAGES = ("data", "teacher", "filter", "train", "evaluate", "report")

# Which config sections each stage's output depends on (its own and everything upstream).
_DEPENDS: dict[str, tuple[str, ...]] = {
    "data": ("data",),
    "teacher": ("data", "teacher"),
    "filter": ("data", "teacher", "filter"),
    "train": ("data", "teacher", "filter", "student", "judge", "train", "eval"),
    "evaluate": ("data", "teacher", "filter", "student", "judge", "train", "eval"),
    "report": ("data", "teacher", "filter", "student", "judge", "train", "eval"),
}

MANIFEST = "manifest.json"
KEPT_ON_RESET = "cache.sqlite"  # the teacher cache and its -wal / -shm files


class StageMismatch(RuntimeError):
    """A completed stage was made with a different configuration."""


# Settings that change how a stage runs but not what it produces: moving the data folder,
# sharing the teacher cache, or throttling requests must not invalidate finished work.
_OPERATIONAL = {
    "data": ("root",),
    "teacher": (
        "cache_path",
        "api_key_env",
        "concurrency",
        "requests_per_minute",
        "tokens_per_minute",
        "timeout_s",
        "max_retries",
        "price_prompt_per_mtok",
        "price_completion_per_mtok",
        "retry_backoff_s",
        "retry_backoff_max_s",
    ),
    "train": ("checkpoint_every",),
}


def fingerprint(cfg: RunConfig, stage: str) -> str:
    dumped = cfg.model_dump(mode="json")
    part = {k: dumped[k] for k in _DEPENDS[stage]}
    for section, keys in _OPERATIONAL.items():
        for key in keys:
            if section in part:
                part[section].pop(key, None)
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class RunDir:
    root: Path

    @classmethod
    def create(cls, cfg: RunConfig) -> RunDir:
        root = Path(cfg.run_dir)
        root.mkdir(parents=True, exist_ok=True)
        (root / "config.yaml").write_text(dump_config(cfg))
        return cls(root)

    def stage(self, name: str) -> Path:
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}; stages are {', '.join(STAGES)}")
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def manifest(self, name: str) -> dict[str, Any] | None:
        path = self.root / name / MANIFEST
        if not path.is_file():
            return None
        return json.loads(path.read_text())

    def is_complete(self, name: str, cfg: RunConfig) -> bool:
        """True if the stage finished with this configuration; raises if with another."""
        found = self.manifest(name)
        if found is None:
            return False
        if found.get("fingerprint") != fingerprint(cfg, name):
            raise StageMismatch(
                f"stage '{name}' in {self.root} was completed with a different configuration; "
                "use a new run_dir, or --force to redo it and every stage after it"
            )
        return True

    def reset(self, name: str) -> None:
        """Forget a stage and every later one (their outputs depend on it).

        The teacher's request cache survives: it is keyed by exactly what changes a response,
        so keeping it can never serve a stale sample, and deleting it would mean paying again.
        """
        for later in STAGES[STAGES.index(name) :]:
            path = self.root / later
            if not path.exists():
                continue
            kept = [c for c in path.iterdir() if c.name.startswith(KEPT_ON_RESET)]
            if later != "teacher" or not kept:
                shutil.rmtree(path)
                continue
            for child in path.iterdir():
                if child not in kept:
                    shutil.rmtree(child) if child.is_dir() else child.unlink()

    def complete(self, name: str, cfg: RunConfig, summary: dict[str, Any]) -> None:
        """Write the stage's manifest, last, atomically."""
        body = {
            "stage": name,
            "fingerprint": fingerprint(cfg, name),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "summary": summary,
        }
        path = self.stage(name) / MANIFEST
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(body, indent=2))
        tmp.replace(path)
