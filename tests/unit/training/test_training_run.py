"""The training loop end to end on the tiny config: it trains every parameter, logs finite
losses, and does not care how a batch is split into micro-batches."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from qcrd.config import RunConfig
from qcrd.models.judge import build_judge
from qcrd.models.student import load_student
from qcrd.pipeline import run_stages

# Small enough for a unit test: two steps of 4 examples, short negatives and targets.
FAST = (
    "train.batch_size=4",
    "train.max_steps=2",
    "train.eval_every=2",
    "train.precision=fp32",
    "train.qcrd.negative_max_new_tokens=8",
    "student.max_target_tokens=64",
    "judge.max_tokens=64",
    "eval.max_new_tokens=4",
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _steps(run_dir: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (run_dir / "train" / "log.jsonl").read_text().splitlines()]
    return [r for r in rows if "step" in r]


def _final_state(run_dir: Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(
        run_dir / "train" / "checkpoint" / "rank0.pt", weights_only=False
    )
    return state


def _unchanged(
    before: torch.nn.Module, after: dict[str, torch.Tensor], min_change: float
) -> list[str]:
    """Trainable parameters whose largest element change is below ``min_change``."""
    return [
        name
        for name, p in before.named_parameters()
        if p.requires_grad and (after[name] - p.detach()).abs().max().item() < min_change
    ]


def test_qcrd_trains_every_student_and_judge_parameter(
    tiny_run: Callable[..., RunConfig],
) -> None:
    # No judge pretraining, so every change to the judge comes from L_D inside the loop.
    cfg = tiny_run(*FAST, "judge.pretrain_steps=0", "judge.lr=1e-3")
    run_stages(cfg, ["data", "teacher", "filter", "train"])
    run_dir = Path(cfg.run_dir)
    state = _final_state(run_dir)
    assert state["step"] == 2

    # Adam moves every element with a gradient by about lr on the first step. The judge's
    # AdamW also decays weights (default 0.01), which alone moves a weight of 1 by only
    # lr * 0.01 per step: a tenth of lr separates "trained" from "decayed".
    student = load_student(cfg.student)
    assert _unchanged(student.model, state["student"], 0.1 * cfg.train.lr) == []
    judge = build_judge(cfg.judge, seed=cfg.train.seed)
    # A key bias adds q·b to every score of a query alike, which softmax cancels: its gradient
    # is exactly zero in any BERT, so weight decay is all that moves it.
    assert _unchanged(judge, state["judge"], 0.1 * cfg.judge.lr) == [
        f"encoder.encoder.layer.{i}.attention.self.key.bias" for i in range(2)
    ]

    steps = _steps(run_dir)
    assert [r["step"] for r in steps] == [0, 1]
    for row in steps:
        for key in ("loss", "pred", "cl", "judge", "grad_norm", "lr"):
            assert math.isfinite(row[key]), (key, row)
        assert row["pred"] > 0 and row["cl"] > 0 and row["judge"] > 0, row
    assert steps[1]["alpha_judge"] == pytest.approx(0.5 * 0.9)  # decays per iteration
    assert (run_dir / "train" / "best" / "model.safetensors").is_file()
    assert (run_dir / "train" / "judge.pt").is_file()
    assert "valid_accuracy" in steps[-1]


@pytest.mark.parametrize(("batch_size", "grad_accum"), [(4, 2), (1, 8)])
@pytest.mark.parametrize("method", ["ft", "dss", "single_task"])
def test_batch_8_equals_smaller_batches_with_accumulation(
    tiny_run: Callable[..., RunConfig], method: str, batch_size: int, grad_accum: int
) -> None:
    """One optimizer step on the same 8 examples, whole or as micro-batches.

    The schedule splits the same seeded permutation (test_schedule), so both runs see the
    same 8 examples; every loss is a mean over rows and accumulation divides each
    micro-batch's mean by their count, so the gradients agree up to float rounding (padding
    differs between the splits). Compared: the logged loss terms and gradient norm, and the
    weights after the step. Adam's first step is lr * g / (|g| + eps), about lr * sign(g):
    rounding could flip the sign only of gradients near zero, so weights are compared to a
    fraction of lr. Measured on CPU fp32: loss terms within 6e-7, weights within 6e-6
    (lr 1e-3).
    """
    common = (
        f"train.method={method}",
        "train.max_steps=1",
        "train.precision=fp32",
        "train.lr=1e-3",
        "student.max_target_tokens=64",
        "eval.max_new_tokens=1",
    )
    whole = tiny_run(*common, "train.batch_size=8", "train.grad_accum=1", name="whole")
    split = tiny_run(
        *common, f"train.batch_size={batch_size}", f"train.grad_accum={grad_accum}", name="split"
    )
    for cfg in (whole, split):
        run_stages(cfg, ["data", "teacher", "filter", "train"])
    (a,), (b,) = _steps(Path(whole.run_dir)), _steps(Path(split.run_dir))
    terms = ["loss", "pred", "grad_norm"] + (["rationale"] if method == "dss" else [])
    assert sorted(k for k in a if k in {"loss", "pred", "rationale", "grad_norm"}) == sorted(terms)
    for key in terms:
        assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), key

    before = load_student(whole.student).model.state_dict()
    after_whole = _final_state(Path(whole.run_dir))["student"]
    after_split = _final_state(Path(split.run_dir))["student"]
    moved = max((after_whole[k] - before[k]).abs().max().item() for k in before)
    assert moved == pytest.approx(whole.train.lr, rel=0.01)  # the step did happen
    diff = max((after_whole[k] - after_split[k]).abs().max().item() for k in after_whole)
    assert diff < 1e-2 * whole.train.lr, diff
