"""QCRD losses (method.md §2) as pure functions of tensors.

Notation follows the paper: ``l`` is a student's mean token NLL of a rationale, ``s`` the
judge's score of it in [0, 1], ``δ`` the hinge margin and ``β`` the negative-term weight.

The trainer works in two passes, so that only the chosen rationales pay for a backward pass:

1. score every candidate without gradient -> ``(B, P)`` NLLs plus a validity mask;
2. :func:`select_indices` picks one positive and one negative per row (minmax, maxmin,
   sampling); the NLLs of those are recomputed with gradient and go to
   :func:`contrastive_loss`.

The averaging schemes (mean, wmean) have nothing to select: every valid candidate carries
gradient, and :func:`averaged_contrastive_loss` takes the with-gradient ``(B, P)`` matrices.

Judge scores only *weight* the contrastive terms: they are detached here, so the judge is
trained by :func:`judge_loss` alone.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Scheme = Literal["minmax", "maxmin", "sampling", "mean", "wmean"]
Role = Literal["positive", "negative"]

NO_CANDIDATE = -1
"""Index :func:`select_indices` returns for a row whose mask has no valid candidate."""


def select_indices(
    nll: Tensor,
    mask: Tensor,
    scheme: Scheme,
    role: Role,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Pick one candidate per row for the selecting schemes.

    ``minmax`` takes the closest positive (lowest NLL) and the farthest negative (highest
    NLL); ``maxmin`` the reverse; ``sampling`` a uniformly random valid candidate whatever
    its NLL. Ties go to the lowest index.

    Args:
        nll: per-candidate NLLs computed without gradient, ``(B, P)``; values at masked
            positions are ignored (they may be anything, NaN included).
        mask: ``(B, P)`` bool, True where a candidate exists (rows hold different counts).
        scheme: ``minmax``, ``maxmin`` or ``sampling``; ``mean``/``wmean`` select nothing and
            raise ``ValueError`` (use :func:`averaged_contrastive_loss`).
        role: whether the candidates are positives or negatives.
        generator: the random source for ``sampling`` (required there, for reproducibility);
            unused otherwise.

    Returns:
        ``(B,)`` long tensor of column indices on ``nll``'s device, :data:`NO_CANDIDATE`
        (-1) for rows without any valid candidate. Callers must mask those rows out: -1
        would silently index the last column of a Python list.
    """
    if nll.shape != mask.shape or nll.dim() != 2:
        raise ValueError(f"nll {tuple(nll.shape)} and mask {tuple(mask.shape)} must both be (B, P)")
    mask = mask.bool()
    has_any = mask.any(dim=1)  # (B,)
    if scheme == "sampling":
        if generator is None:
            raise ValueError("scheme 'sampling' needs a torch.Generator, so runs are reproducible")
        # The argmax of i.i.d. uniforms over the valid columns is a uniform valid column.
        noise = torch.rand(nll.shape, generator=generator, device=generator.device)  # (B, P)
        noise = noise.to(nll.device).masked_fill(~mask, -1.0)
        picked = noise.argmax(dim=1)
    elif scheme in ("minmax", "maxmin"):
        # minmax: closest positive, farthest negative; maxmin: the opposite of both.
        take_min = (scheme == "minmax") == (role == "positive")
        values = nll.detach().float()
        if take_min:
            picked = values.masked_fill(~mask, float("inf")).argmin(dim=1)
        else:
            picked = values.masked_fill(~mask, float("-inf")).argmax(dim=1)
    elif scheme in ("mean", "wmean"):
        raise ValueError(
            f"scheme {scheme!r} averages over every candidate and selects none: "
            "use averaged_contrastive_loss"
        )
    else:
        raise ValueError(f"unknown contrastive scheme {scheme!r}")
    return torch.where(has_any, picked, torch.full_like(picked, NO_CANDIDATE))


def gather_selected(values: Tensor, index: Tensor) -> Tensor:
    """``values[b, index[b]]`` for each row, 0 where ``index`` is :data:`NO_CANDIDATE`.

    Args:
        values: ``(B, P)``, e.g. judge scores of every candidate.
        index: ``(B,)`` from :func:`select_indices`.

    Returns:
        ``(B,)`` the selected values.
    """
    safe = index.clamp(min=0).unsqueeze(1)  # (B, 1)
    picked = values.gather(1, safe).squeeze(1)  # (B,)
    return torch.where(index >= 0, picked, torch.zeros_like(picked))


def positive_term(nll_pos: Tensor, score_pos: Tensor | None = None) -> Tensor:
    """P = s_pos · l: pull the student towards a good rationale, as much as the judge trusts it.

    Args:
        nll_pos: ``(B,)`` NLL of the selected positive, with gradient.
        score_pos: ``(B,)`` judge score in [0, 1]; detached here. ``None`` (the QJ ablation)
            means weight 1.

    Returns:
        ``(B,)`` per-row positive term.
    """
    if score_pos is None:
        return nll_pos
    return score_pos.detach().to(nll_pos.dtype) * nll_pos


def negative_term(nll_neg: Tensor, score_neg: Tensor | None, delta: float) -> Tensor:
    """N = (1 − s_neg) · max(0, δ − l): push the NLL of a bad rationale up, until it passes δ.

    Past δ (and at δ exactly) the hinge is flat: zero loss and zero gradient, so the student
    is not driven to arbitrarily low likelihood on text that is merely worse.

    Args:
        nll_neg: ``(B,)`` NLL of the selected negative, with gradient.
        score_neg: ``(B,)`` judge score in [0, 1]; detached here. A negative the judge rates
            highly pushes less. ``None`` (the QJ ablation) means weight 1.
        delta: the margin δ (method.md: 3).

    Returns:
        ``(B,)`` per-row negative term.
    """
    hinge = F.relu(delta - nll_neg)  # (B,); relu's gradient at 0 is 0
    if score_neg is None:
        return hinge
    return (1.0 - score_neg.detach().to(nll_neg.dtype)) * hinge


def _mean_over_rows(
    pos_rows: Tensor, has_pos: Tensor, neg_rows: Tensor, has_neg: Tensor, beta: float
) -> Tensor:
    # torch.where, not a product with the mask: a placeholder NLL of a missing candidate may
    # be NaN or inf, and 0 · inf would poison the sum.
    pos = torch.where(has_pos, pos_rows, torch.zeros_like(pos_rows))  # (B,)
    neg = torch.where(has_neg, neg_rows, torch.zeros_like(neg_rows))  # (B,)
    per_row = pos + beta * neg  # (B,)
    rows = (has_pos | has_neg).sum().clamp(min=1)
    # A sum over zero rows is still attached to the graph, so backward never fails.
    return per_row.sum() / rows


def contrastive_loss(
    nll_pos: Tensor,
    score_pos: Tensor | None,
    has_pos: Tensor,
    nll_neg: Tensor,
    score_neg: Tensor | None,
    has_neg: Tensor,
    *,
    beta: float,
    delta: float,
) -> Tensor:
    """L_cl = mean_i [P_i + β · N_i] for the selecting schemes (minmax, maxmin, sampling).

    Rows contribute only the terms they have: a row without a negative adds P_i, a row
    without a positive adds β · N_i. The mean is over rows holding at least one term, so
    inputs with nothing to learn from (no positive and no negative) do not dilute the rest;
    a batch with no such row gives 0 (attached to the graph).

    Args:
        nll_pos: ``(B,)`` NLL of each row's selected positive, with gradient; the value at
            rows where ``has_pos`` is False is ignored.
        score_pos: ``(B,)`` judge scores of those positives (detached here), or ``None``.
        has_pos: ``(B,)`` bool, whether the row has a positive.
        nll_neg: ``(B,)`` NLL of each row's selected negative, with gradient.
        score_neg: ``(B,)`` judge scores of those negatives (detached here), or ``None``.
        has_neg: ``(B,)`` bool, whether the row has a negative.
        beta: weight of the negative term (method.md: 0.2).
        delta: hinge margin (method.md: 3).

    Returns:
        Scalar loss.
    """
    pos_rows = positive_term(nll_pos, score_pos)  # (B,)
    neg_rows = negative_term(nll_neg, score_neg, delta)  # (B,)
    return _mean_over_rows(pos_rows, has_pos.bool(), neg_rows, has_neg.bool(), beta)


def _row_average(values: Tensor, weights: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Σ_k w_k v_k / Σ_k w_k over the valid columns, and whether the row has any."""
    values = torch.where(mask, values, torch.zeros_like(values))  # (B, P)
    weights = torch.where(mask, weights, torch.zeros_like(weights))  # (B, P)
    total = weights.sum(dim=1)  # (B,)
    # All-zero weights (e.g. every positive scored 0) give a zero numerator too: 0, not NaN.
    average = (weights * values).sum(dim=1) / total.clamp(min=torch.finfo(total.dtype).tiny)
    return average, mask.any(dim=1)


def averaged_contrastive_loss(
    nll_pos: Tensor,
    score_pos: Tensor | None,
    mask_pos: Tensor,
    nll_neg: Tensor,
    score_neg: Tensor | None,
    mask_neg: Tensor,
    *,
    scheme: Literal["mean", "wmean"],
    beta: float,
    delta: float,
) -> Tensor:
    """L_cl for the averaging schemes, where every valid candidate carries gradient.

    With h_k = max(0, δ − l_k) over a row's valid candidates k:

    - ``mean``:  P_i = mean_k s_k · l_k,            N_i = mean_k (1 − s_k) · h_k
    - ``wmean``: P_i = Σ_k s_k l_k / Σ_k s_k,        N_i = Σ_k (1 − s_k) h_k / Σ_k (1 − s_k)

    then L_cl = mean_i [P_i + β · N_i] over rows with at least one term, as in
    :func:`contrastive_loss`. A wmean row whose weights sum to 0 contributes 0. Scores are
    detached; ``None`` means every score is 1 for positives and 0 for negatives (weight 1),
    which makes wmean equal to mean.

    Args:
        nll_pos: ``(B, P)`` positives' NLLs with gradient; masked entries are ignored.
        score_pos: ``(B, P)`` their judge scores, or ``None``.
        mask_pos: ``(B, P)`` bool validity mask.
        nll_neg: ``(B, N)`` negatives' NLLs with gradient.
        score_neg: ``(B, N)`` their judge scores, or ``None``.
        mask_neg: ``(B, N)`` bool validity mask.
        scheme: ``mean`` or ``wmean``.
        beta: weight of the negative term.
        delta: hinge margin.

    Returns:
        Scalar loss.
    """
    if scheme not in ("mean", "wmean"):
        raise ValueError(f"averaged_contrastive_loss takes 'mean' or 'wmean', not {scheme!r}")
    mask_pos, mask_neg = mask_pos.bool(), mask_neg.bool()
    w_pos = torch.ones_like(nll_pos) if score_pos is None else score_pos.detach().to(nll_pos)
    w_neg = torch.ones_like(nll_neg) if score_neg is None else 1.0 - score_neg.detach().to(nll_neg)
    hinge = F.relu(delta - nll_neg)  # (B, N)
    if scheme == "mean":
        # Weight inside the average, uniform over candidates: mean_k (w_k · x_k).
        pos_rows, has_pos = _row_average(w_pos * nll_pos, torch.ones_like(nll_pos), mask_pos)
        neg_rows, has_neg = _row_average(w_neg * hinge, torch.ones_like(hinge), mask_neg)
    else:
        pos_rows, has_pos = _row_average(nll_pos, w_pos, mask_pos)
        neg_rows, has_neg = _row_average(hinge, w_neg, mask_neg)
    return _mean_over_rows(pos_rows, has_pos, neg_rows, has_neg, beta)


def judge_loss(logits_pos: Tensor, logits_neg: Tensor) -> Tensor:
    """L_D: binary cross-entropy of the judge, positives → 1 and negatives → 0.

    With s = sigmoid(z): L_D = −[Σ_pos log s + Σ_neg log(1 − s)] / (n_pos + n_neg), i.e. the
    mean over all pairs (computed from the logits, which is the same value, stably).

    Deviation from the paper (method.md §2): its printed L_D = −log(Σ exp s_pos / Σ exp s_neg)
    is unbounded below when s is a free logit (scaling the logits drives it to −∞), and even
    with s in [0, 1] its optimum depends on the set sizes and its gradient never asks for a
    calibrated score. BCE is bounded below by 0, is the standard discriminator objective and
    makes s a probability of "good rationale", which is what the weights s and 1 − s in
    L_cl assume.

    Args:
        logits_pos: ``(N_pos,)`` judge logits of positive pairs (teacher positives).
        logits_neg: ``(N_neg,)`` judge logits of negative pairs (teacher minority, student
            samples, augmented).

    Returns:
        Scalar loss; 0 (attached to the graph) when both are empty.
    """
    logits = torch.cat([logits_pos.reshape(-1), logits_neg.reshape(-1)]).float()  # (N,)
    if logits.numel() == 0:
        return logits.sum()
    targets = torch.cat([torch.ones(logits_pos.numel()), torch.zeros(logits_neg.numel())]).to(
        logits.device
    )  # (N,)
    return F.binary_cross_entropy_with_logits(logits, targets)


def judge_weight(alpha_judge: float, decay: float, iteration: int) -> float:
    """α3 at an iteration: ``alpha_judge · decay ** iteration`` (the paper's ×0.9 each time).

    Args:
        alpha_judge: the initial weight α3.
        decay: the factor applied once per iteration.
        iteration: completed iterations, from 0.
    """
    if iteration < 0:
        raise ValueError(f"iteration must be >= 0, got {iteration}")
    return alpha_judge * decay**iteration


def multitask_loss(
    l_pred: Tensor,
    l_cl: Tensor,
    l_judge: Tensor | None,
    alpha_pred: float,
    alpha_cl: float,
    alpha_judge: float,
) -> Tensor:
    """L = α1 · L_pred + α2 · L_cl + α3 · L_D (method.md §2).

    Args:
        l_pred: scalar label loss.
        l_cl: scalar contrastive loss.
        l_judge: scalar judge loss, or ``None`` when the judge is not trained (QJ off).
        alpha_pred: α1.
        alpha_cl: α2.
        alpha_judge: α3 for this iteration (see :func:`judge_weight`).

    Returns:
        Scalar loss.
    """
    total = alpha_pred * l_pred + alpha_cl * l_cl
    if l_judge is not None:
        total = total + alpha_judge * l_judge
    return total


def dss_loss(l_label: Tensor, l_rationale: Tensor, alpha: float) -> Tensor:
    """Distilling step-by-step: α · L_label + (1 − α) · L_rationale.

    Args:
        l_label: scalar CE of the label.
        l_rationale: scalar CE of the (one, unfiltered) teacher rationale.
        alpha: label weight in [0, 1] (method.md: 0.5).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return alpha * l_label + (1.0 - alpha) * l_rationale
