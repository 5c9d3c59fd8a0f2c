"""One micro-batch's loss for each method (method.md §2, §4).

Every method shares the label term; they differ in the rationale terms:

- ``ft``: L = L_pred
- ``single_task``: L = CE(rationale + label | input), one output
- ``dss``: L = α·L_pred + (1 − α)·CE(one teacher rationale)
- ``qcrd``: L = α1·L_pred + α2·L_cl + α3·0.9^it·L_D

QCRD scores every candidate rationale without gradient first (length-sorted batches) and
recomputes the NLL with gradient for the selected positive and negative only, so a row with
five positives costs five cheap forwards and one forward+backward.

Each step function runs its own backward, one loss term at a time: every term is a sum of
per-row pieces, so backpropagating them one by one (the others detached) gives exactly the
full loss's gradient while only one forward graph is alive at a time. That keeps peak memory
at one sequence batch's activations instead of three.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from qcrd.config import QcrdConfig, TrainConfig
from qcrd.losses.contrastive import (
    NO_CANDIDATE,
    averaged_contrastive_loss,
    contrastive_loss,
    dss_loss,
    judge_loss,
    judge_weight,
    multitask_loss,
    select_indices,
)
from qcrd.models.judge import Judge
from qcrd.models.student import Student
from qcrd.tasks.base import EXPLAIN_PREFIX, PREDICT_PREFIX
from qcrd.training.items import TrainItem, single_task_target


@dataclass(frozen=True)
class Candidates:
    """One micro-batch's rationale candidates, row-aligned with its items."""

    explain: list[str]
    """``explain:``-prefixed inputs (what the student reads)."""
    raw_inputs: list[str]
    """Unprefixed inputs (what the judge reads)."""
    positives: list[list[str]]
    negatives: list[list[str]]


def _backward(loss: Tensor, scale: float) -> None:
    """Backpropagate ``scale * loss`` if anything in it is trainable (a batch without, say, a
    single positive gives a constant)."""
    if loss.requires_grad:
        (loss * scale).backward()


def label_loss(student: Student, items: list[TrainItem]) -> Tensor:
    inputs = [PREDICT_PREFIX + it.example.input for it in items]
    return student.nll(inputs, [it.example.label for it in items]).mean()


def baseline_step(
    student: Student, items: list[TrainItem], cfg: TrainConfig, scale: float = 1.0
) -> dict[str, float]:
    """ft, single_task and dss: backpropagate ``scale`` times the loss, return its terms."""
    if cfg.method in ("ft", "single_task"):
        if cfg.method == "ft":
            loss = label_loss(student, items)
        else:
            inputs = [PREDICT_PREFIX + it.example.input for it in items]
            targets = [
                single_task_target(it.positives[0] if it.positives else None, it.example.label)
                for it in items
            ]
            loss = student.nll(inputs, targets).mean()
        _backward(loss, scale)
        return {"loss": loss.item(), "pred": loss.item()}
    # dss: rows without a teacher rationale learn the label only.
    l_pred = label_loss(student, items)
    zero = torch.zeros((), device=l_pred.device)
    _backward(dss_loss(l_pred, zero, cfg.alpha), scale)
    has = [i for i, it in enumerate(items) if it.positives]
    l_rat = zero
    if has:
        l_rat = student.nll(
            [EXPLAIN_PREFIX + items[i].example.input for i in has],
            [items[i].positives[0] for i in has],
        ).mean()
        _backward(dss_loss(zero, l_rat, cfg.alpha), scale)
    loss = dss_loss(l_pred.detach(), l_rat.detach(), cfg.alpha)
    return {"loss": loss.item(), "pred": l_pred.item(), "rationale": l_rat.item()}


def score_candidates(
    student: Student,
    inputs: list[str],
    candidates: list[list[str]],
    batch_size: int,
    scheme: str = "minmax",
) -> tuple[Tensor, Tensor]:
    """NLL of every (input, candidate) pair without gradient, in eval mode (no dropout noise
    in the choice), batched by length.

    Rows with a single candidate are not scored (their selection is trivial) and get 0, and
    nothing is scored for ``sampling``, which ignores the NLLs.

    Returns:
        nll: (B, P) float32; mask: (B, P) bool, True where a candidate exists.
    """
    width = max((len(c) for c in candidates), default=0)
    nll = torch.zeros(len(candidates), max(width, 1))
    mask = torch.zeros(len(candidates), max(width, 1), dtype=torch.bool)
    for b, cands in enumerate(candidates):
        mask[b, : len(cands)] = True
    rows = [b for b, cands in enumerate(candidates) if len(cands) > 1]
    if not rows or scheme == "sampling":
        return nll, mask
    was_training = student.model.training
    student.model.eval()
    try:
        scores = student.score_candidates(
            [inputs[b] for b in rows], [candidates[b] for b in rows], batch_size
        )
    finally:
        student.model.train(was_training)
    for b, values in zip(rows, scores, strict=True):
        nll[b, : len(values)] = torch.tensor(values)
    return nll, mask


def negatives_for(item: TrainItem, student_negative: str | None, source: str) -> list[str]:
    own = [student_negative] if student_negative else []
    if source in ("student", "fixed"):
        return own
    if source == "teacher":
        return list(item.teacher_negatives)
    return own + list(item.teacher_negatives)


def _selected_nll(
    student: Student, inputs: list[str], chosen: list[str | None], device: torch.device
) -> tuple[Tensor, Tensor]:
    """With-gradient NLL of each row's chosen rationale (0 where none): (B,), has (B,) bool."""
    rows = [b for b, c in enumerate(chosen) if c is not None]
    nll = torch.zeros(len(chosen), device=device)
    if rows:
        values = student.nll([inputs[b] for b in rows], [chosen[b] for b in rows])  # type: ignore[misc]
        nll = nll.index_put((torch.tensor(rows, device=device),), values.float())
    has = torch.zeros(len(chosen), dtype=torch.bool, device=device)
    has[rows] = True
    return nll, has


def _judge_logits(
    judge: Judge, inputs: list[str], chosen: list[str | None], device: torch.device
) -> Tensor:
    """Judge logits of the chosen rationales, with gradient (NaN-free 0 where none): (B,)."""
    rows = [b for b, c in enumerate(chosen) if c is not None]
    out = torch.zeros(len(chosen), device=device)
    if rows:
        logits = judge.logits([inputs[b] for b in rows], [chosen[b] for b in rows])  # type: ignore[misc]
        out = out.index_put((torch.tensor(rows, device=device),), logits.to(device))
    return out


def qcrd_step(
    student: Student,
    judge: Judge | None,
    items: list[TrainItem],
    student_negatives: dict[str, str],
    cfg: QcrdConfig,
    iteration: int,
    generator: torch.Generator,
    score_batch_size: int,
    scale: float = 1.0,
) -> dict[str, float]:
    """Backpropagate ``scale`` times the QCRD loss of one micro-batch; return its terms.

    L = α1·L_pred + α2·L_cl + α3·L_D (method.md §2), term by term.
    """
    a1, a2 = cfg.alpha_pred, cfg.alpha_cl
    use_judge = cfg.quality_judge and judge is not None
    a3 = judge_weight(cfg.alpha_judge, cfg.alpha_judge_decay, iteration) if use_judge else 0.0
    l_pred = label_loss(student, items)
    device = l_pred.device
    zero = torch.zeros((), device=device)
    _backward(multitask_loss(l_pred, zero, zero, a1, a2, a3), scale)

    raw_inputs = [it.example.input for it in items]
    cands = Candidates(
        explain=[EXPLAIN_PREFIX + x for x in raw_inputs],
        raw_inputs=raw_inputs,
        positives=[list(it.positives) for it in items],
        negatives=[
            negatives_for(it, student_negatives.get(it.example.id), cfg.negative_source)
            if cfg.negatives
            else []
            for it in items
        ],
    )
    live_judge = judge if use_judge else None
    if cfg.scheme in ("mean", "wmean"):
        # The ablation's averaging schemes put gradient through every candidate at once.
        l_cl, l_d = _averaged(student, live_judge, cands, cfg, device)
        _backward(multitask_loss(zero, l_cl, l_d, a1, a2, a3), scale)
    else:
        l_cl, l_d = _selected_terms(
            student, live_judge, cands, cfg, generator, score_batch_size, scale
        )
        _backward(multitask_loss(zero, zero, l_d, a1, a2, a3), scale)
    loss = multitask_loss(l_pred.detach(), l_cl.detach(), l_d.detach(), a1, a2, a3)
    return {
        "loss": loss.item(),
        "pred": l_pred.item(),
        "cl": l_cl.item(),
        "judge": l_d.item(),
        "alpha_judge": a3,
    }


def _selected_terms(
    student: Student,
    judge: Judge | None,
    cands: Candidates,
    cfg: QcrdConfig,
    generator: torch.Generator,
    score_batch_size: int,
    scale: float,
) -> tuple[Tensor, Tensor]:
    """MinMax / MaxMin / Sampling: select without gradient, then backpropagate L_cl through
    the selected positive and negative (one at a time). Returns L_cl and L_D (not yet
    backpropagated; the caller weights it)."""
    explain, positives, negatives = cands.explain, cands.positives, cands.negatives
    pos_nll, pos_mask = score_candidates(student, explain, positives, score_batch_size, cfg.scheme)
    neg_nll, neg_mask = score_candidates(student, explain, negatives, score_batch_size, cfg.scheme)
    pos_idx = select_indices(pos_nll, pos_mask, cfg.scheme, "positive", generator).tolist()
    neg_idx = select_indices(neg_nll, neg_mask, cfg.scheme, "negative", generator).tolist()
    chosen_pos = [
        c[i] if i != NO_CANDIDATE else None for c, i in zip(positives, pos_idx, strict=True)
    ]
    chosen_neg = [
        c[i] if i != NO_CANDIDATE else None for c, i in zip(negatives, neg_idx, strict=True)
    ]
    device = next(student.model.parameters()).device
    has_pos = torch.tensor([c is not None for c in chosen_pos], device=device)
    has_neg = torch.tensor([c is not None for c in chosen_neg], device=device)
    zero = torch.zeros((), device=device)
    s_pos = s_neg = None
    l_d = zero
    if judge is not None:
        # One judge forward for both sides of every row.
        logits = _judge_logits(judge, cands.raw_inputs * 2, chosen_pos + chosen_neg, device)
        logit_pos, logit_neg = logits.split(len(explain))
        s_pos, s_neg = torch.sigmoid(logit_pos), torch.sigmoid(logit_neg)
        if has_pos.any() and has_neg.any():
            l_d = judge_loss(logit_pos[has_pos], logit_neg[has_neg])

    def l_cl(nll_pos: Tensor, nll_neg: Tensor) -> Tensor:
        return contrastive_loss(
            nll_pos, s_pos, has_pos, nll_neg, s_neg, has_neg, beta=cfg.beta, delta=cfg.delta
        )

    no_neg = torch.zeros(len(explain), device=device)
    nll_pos, _ = _selected_nll(student, explain, chosen_pos, device)
    _backward(multitask_loss(zero, l_cl(nll_pos, no_neg), zero, 0, cfg.alpha_cl, 0), scale)
    nll_neg, _ = _selected_nll(student, explain, chosen_neg, device)
    full = l_cl(nll_pos.detach(), nll_neg)  # its gradient reaches the negatives only
    _backward(multitask_loss(zero, full, zero, 0, cfg.alpha_cl, 0), scale)
    return full, l_d


def _flatten(inputs: list[str], cands: list[list[str]]) -> tuple[list[str], list[str], Tensor]:
    width = max((len(c) for c in cands), default=0)
    mask = torch.zeros(len(cands), max(width, 1), dtype=torch.bool)
    xs, ys = [], []
    for b, c in enumerate(cands):
        mask[b, : len(c)] = True
        xs.extend([inputs[b]] * len(c))
        ys.extend(c)
    return xs, ys, mask


def _unflatten(values: Tensor, mask: Tensor) -> Tensor:
    out = torch.zeros(mask.shape, device=values.device, dtype=values.dtype)
    return out.masked_scatter(mask.to(values.device), values) if values.numel() else out


def _averaged(
    student: Student,
    judge: Judge | None,
    cands: Candidates,
    cfg: QcrdConfig,
    device: torch.device,
) -> tuple[Tensor, Tensor]:
    """Mean / W-mean: every candidate carries gradient (the ablation's costlier schemes)."""
    matrices: list[tuple[Tensor, Tensor]] = []
    logits: list[Tensor | None] = []
    for pool in (cands.positives, cands.negatives):
        xs, ys, mask = _flatten(cands.explain, pool)
        nll = student.nll(xs, ys).float() if ys else torch.zeros(0, device=device)
        matrices.append((_unflatten(nll, mask), mask.to(device)))
        if judge is not None and ys:
            rx, _, _ = _flatten(cands.raw_inputs, pool)
            logits.append(_unflatten(judge.logits(rx, ys).to(device), mask))
        else:
            logits.append(None)
    (pos_nll, pos_mask), (neg_nll, neg_mask) = matrices
    s_pos = torch.sigmoid(logits[0]) if logits[0] is not None else None
    s_neg = torch.sigmoid(logits[1]) if logits[1] is not None else None
    l_cl = averaged_contrastive_loss(
        pos_nll,
        s_pos,
        pos_mask,
        neg_nll,
        s_neg,
        neg_mask,
        scheme="wmean" if cfg.scheme == "wmean" else "mean",
        beta=cfg.beta,
        delta=cfg.delta,
    )
    l_d = torch.zeros((), device=device)
    if logits[0] is not None and logits[1] is not None:
        l_d = judge_loss(logits[0][pos_mask], logits[1][neg_mask])
    return l_cl, l_d
