"""The trained judge's scores on the rationale pools it learns to tell apart (paper Fig. 6).

Pools (``POOLS``):

- ``teacher_positive`` / ``teacher_negative``: the filter stage's kept positives and teacher
  negatives. They belong to *training* inputs (test inputs have no teacher rationales), and
  the judge was trained on them: these densities are in-sample. At most ``MAX_POOL`` pairs
  each, a seeded sample, so a large run scores in seconds.
- ``student_negative``: the trained student sampled hot (``train.qcrd.negative_temperature``,
  as during training) on the test inputs that get a rationale.
- ``student_rationale``: the student's greedy rationales on the same test inputs.

    judge = load_trained_judge(cfg, run_root)   # None for runs without a judge
    scored = score_pools(judge, pools)
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from qcrd.config import RunConfig
from qcrd.data.records import read_jsonl
from qcrd.models.judge import Judge, build_judge

POOLS = ("teacher_positive", "teacher_negative", "student_negative", "student_rationale")
MAX_POOL = 500
JUDGE_FILE = "judge.pt"


@dataclass(frozen=True)
class PoolText:
    """A rationale waiting to be scored: which pool, which input."""

    pool: str
    id: str
    input: str
    text: str


@dataclass(frozen=True)
class ScoredText:
    pool: str
    id: str
    text: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_trained_judge(cfg: RunConfig, run_root: Path) -> Judge | None:
    """The judge the train stage saved (``train/judge.pt``), or ``None`` if it saved none."""
    path = run_root / "train" / JUDGE_FILE
    if not path.is_file():
        return None
    judge = build_judge(cfg.judge, seed=cfg.train.seed)
    judge.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return judge


def teacher_pools(
    filter_train: Path, inputs: Mapping[str, str], max_pool: int = MAX_POOL, seed: int = 0
) -> list[PoolText]:
    """Teacher positives and negatives from ``filter/train.jsonl``, a seeded sample of at
    most ``max_pool`` of each (in file order, so the choice does not depend on the sample)."""
    pools: dict[str, list[PoolText]] = {"teacher_positive": [], "teacher_negative": []}
    for row in read_jsonl(filter_train):
        key = str(row["id"])
        if key not in inputs:
            continue
        for pool, field in (
            ("teacher_positive", "positives"),
            ("teacher_negative", "teacher_negatives"),
        ):
            pools[pool] += [PoolText(pool, key, inputs[key], t) for t in row.get(field, [])]
    rng = random.Random(seed)
    chosen: list[PoolText] = []
    for texts in pools.values():
        if len(texts) > max_pool:
            keep = sorted(rng.sample(range(len(texts)), max_pool))
            texts = [texts[i] for i in keep]
        chosen += texts
    return chosen


def score_pools(judge: Judge, texts: Sequence[PoolText], batch_size: int = 32) -> list[ScoredText]:
    """Score every (input, rationale) pair with the judge, in eval mode, on its device."""
    if not texts:
        return []
    scores = judge.scores([t.input for t in texts], [t.text for t in texts], batch_size)
    return [
        ScoredText(t.pool, t.id, t.text, float(s))
        for t, s in zip(texts, scores.cpu().tolist(), strict=True)
    ]


def score_summary(scored: Sequence[ScoredText]) -> dict[str, dict[str, float | int]]:
    """Per pool: how many, mean, median, and the share scored above 0.5."""
    out: dict[str, dict[str, float | int]] = {}
    for pool in POOLS:
        values = [s.score for s in scored if s.pool == pool]
        if values:
            out[pool] = {
                "n": len(values),
                "mean": statistics.fmean(values),
                "median": statistics.median(values),
                "above_0.5": sum(v > 0.5 for v in values) / len(values),
            }
    return out
