"""The term-by-term backward of the step functions equals one backward of the whole loss."""

from __future__ import annotations

import pytest
import torch

from qcrd.config import JudgeConfig, QcrdConfig, StudentConfig, TrainConfig
from qcrd.data.records import Example
from qcrd.losses.contrastive import (
    NO_CANDIDATE,
    contrastive_loss,
    dss_loss,
    judge_loss,
    multitask_loss,
    select_indices,
)
from qcrd.models.judge import build_judge
from qcrd.models.student import load_student
from qcrd.tasks.base import EXPLAIN_PREFIX
from qcrd.training.items import TrainItem
from qcrd.training.steps import (
    _judge_logits,
    _selected_nll,
    baseline_step,
    label_loss,
    qcrd_step,
    score_candidates,
)

ITEMS = [
    TrainItem(
        Example("a", "Tom has 3 apples and gets 2 more.", "( 3.0 + 2.0 )"),
        ("3 + 2 = 5. The answer is 5.", "He has 3 + 2 = 5 apples."),
        ("3 - 2 = 1.",),
    ),
    TrainItem(
        Example("b", "A box holds 12 eggs; 4 break.", "( 12.0 - 4.0 )"),
        ("12 - 4 = 8 eggs are left.",),
        (),
    ),
    TrainItem(Example("c", "Six kids share 18 sweets.", "( 18.0 / 6.0 )"), (), ("18 * 6 = 108.",)),
]
NEGATIVES = {"a": "sweets apples 9 9 9", "c": "zzz"}


def _grads(module: torch.nn.Module) -> list[torch.Tensor]:
    return [
        p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in module.parameters()
    ]


def test_qcrd_step_gradient_equals_single_backward() -> None:
    torch.manual_seed(0)
    student = load_student(StudentConfig(name="tiny-llama"))
    judge = build_judge(JudgeConfig(backbone="tiny-bert", max_tokens=64), seed=0)
    judge.eval()  # no dropout: both computations must see the same judge
    cfg = QcrdConfig(negative_source="both")
    qcrd_step(
        student,
        judge,
        ITEMS,
        NEGATIVES,
        cfg,
        iteration=2,
        generator=torch.Generator().manual_seed(0),
        score_batch_size=4,
        scale=0.5,
    )
    split_student, split_judge = _grads(student.model), _grads(judge)
    student.model.zero_grad()
    judge.zero_grad()

    # Reference: the same selection, then L = a1 L_pred + a2 L_cl + a3 L_D in one backward.
    explain = [EXPLAIN_PREFIX + it.example.input for it in ITEMS]
    raw = [it.example.input for it in ITEMS]
    pos = [list(it.positives) for it in ITEMS]
    neg = [
        ([NEGATIVES[it.example.id]] if it.example.id in NEGATIVES else [])
        + list(it.teacher_negatives)
        for it in ITEMS
    ]
    chosen = []
    for cands, role in ((pos, "positive"), (neg, "negative")):
        nll, mask = score_candidates(student, explain, cands, 4)
        idx = select_indices(nll, mask, "minmax", role).tolist()  # type: ignore[arg-type]
        chosen.append(
            [c[i] if i != NO_CANDIDATE else None for c, i in zip(cands, idx, strict=True)]
        )
    device = torch.device("cpu")
    nll_pos, has_pos = _selected_nll(student, explain, chosen[0], device)
    nll_neg, has_neg = _selected_nll(student, explain, chosen[1], device)
    lp, ln = (
        _judge_logits(judge, raw, chosen[0], device),
        _judge_logits(judge, raw, chosen[1], device),
    )
    l_cl = contrastive_loss(
        nll_pos,
        torch.sigmoid(lp),
        has_pos,
        nll_neg,
        torch.sigmoid(ln),
        has_neg,
        beta=cfg.beta,
        delta=cfg.delta,
    )
    l_d = judge_loss(lp[has_pos], ln[has_neg])
    a3 = cfg.alpha_judge * cfg.alpha_judge_decay**2
    total = multitask_loss(label_loss(student, ITEMS), l_cl, l_d, cfg.alpha_pred, cfg.alpha_cl, a3)
    (0.5 * total).backward()
    for got, want in zip(split_student, _grads(student.model), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)
    for got, want in zip(split_judge, _grads(judge), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)
    assert any(g.abs().sum() > 0 for g in split_judge)


@pytest.mark.parametrize("alpha", [0.5, 0.8])
def test_dss_step_gradient_equals_single_backward(alpha: float) -> None:
    student = load_student(StudentConfig(name="tiny-llama"))
    cfg = TrainConfig(method="dss", alpha=alpha)
    terms = baseline_step(student, ITEMS, cfg, scale=1.0)
    split = _grads(student.model)
    student.model.zero_grad()
    has = [it for it in ITEMS if it.positives]
    l_rat = student.nll(
        [EXPLAIN_PREFIX + it.example.input for it in has], [it.positives[0] for it in has]
    ).mean()
    total = dss_loss(label_loss(student, ITEMS), l_rat, alpha)
    total.backward()
    assert terms["loss"] == pytest.approx(total.item(), rel=1e-6)
    for got, want in zip(split, _grads(student.model), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("scheme", ["minmax", "maxmin", "sampling", "mean", "wmean"])
def test_every_scheme_trains_student_and_judge(scheme: str) -> None:
    """Each ablation scheme yields finite terms and a non-zero gradient on both models."""
    student = load_student(StudentConfig(name="tiny-llama"))
    judge = build_judge(JudgeConfig(backbone="tiny-bert", max_tokens=64), seed=0)
    cfg = QcrdConfig(scheme=scheme, negative_source="both")  # type: ignore[arg-type]
    terms = qcrd_step(student, judge, ITEMS, NEGATIVES, cfg, 0, torch.Generator().manual_seed(0), 4)
    assert all(torch.isfinite(torch.tensor(v)) for v in terms.values())
    assert terms["cl"] > 0 and terms["judge"] > 0
    for model in (student.model, judge):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
