"""Checkpoints that resume a run on exactly the same trajectory.

A checkpoint holds the student and judge weights, both optimizers and schedulers, every RNG
state, the pending self-adversarial negatives, the step (the data position: the schedule is
fixed by the seed) and the best validation score so far. It is written to a temporary folder
and renamed, so a run killed while saving keeps the previous checkpoint.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(folder: Path, rank: int, state: dict[str, Any]) -> None:
    """Write this process's state as ``folder/rank{rank}.pt`` via a temporary file."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rank{rank}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def commit_checkpoint(staging: Path, final: Path) -> None:
    """Swap a fully written staging folder in for the previous checkpoint."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    if old.exists():
        shutil.rmtree(old)


def find_checkpoint(final: Path) -> Path | None:
    """The last complete checkpoint, including one left as ``.old`` by a crash mid-swap."""
    for candidate in (final, final.with_name(final.name + ".old")):
        if (candidate / "rank0.pt").is_file():
            return candidate
    return None


def load_checkpoint(folder: Path, rank: int) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(folder / f"rank{rank}.pt", weights_only=False)
    return state
