"""QCRD losses against hand-computed values (the maths is in each docstring)."""

from __future__ import annotations

import math

import pytest
import torch

from qcrd.losses.contrastive import (
    NO_CANDIDATE,
    averaged_contrastive_loss,
    contrastive_loss,
    dss_loss,
    gather_selected,
    judge_loss,
    judge_weight,
    multitask_loss,
    negative_term,
    positive_term,
    select_indices,
)

NAN = float("nan")

# Two rows of candidates; row 1's third column is padding holding a value that would win
# every max if the mask were ignored.
NLL = torch.tensor([[2.0, 1.0, 3.0], [0.5, 4.0, 9.9]])  # (B=2, P=3)
MASK = torch.tensor([[True, True, True], [True, True, False]])  # (2, 3)


@pytest.mark.parametrize(
    ("scheme", "role", "expected"),
    [
        ("minmax", "positive", [1, 0]),  # closest positive: min NLL
        ("minmax", "negative", [2, 1]),  # farthest negative: max NLL; 9.9 is padding
        ("maxmin", "positive", [2, 1]),  # farthest positive
        ("maxmin", "negative", [1, 0]),  # closest negative
    ],
)
def test_select_indices_min_max_respect_mask(scheme, role, expected):
    """Row 0 = [2, 1, 3]: argmin 1, argmax 2. Row 1 = [0.5, 4, (9.9 masked)]: argmin 0,
    argmax 1, not the masked 2."""
    picked = select_indices(NLL, MASK, scheme, role)
    assert picked.dtype == torch.long
    assert picked.tolist() == expected


def test_select_indices_empty_row_and_nan_padding():
    """Row 0 has no candidate -> NO_CANDIDATE (-1); row 1 pads with NaN, which must not win
    (min over the valid [3, 1] is column 2)."""
    nll = torch.tensor([[1.0, 2.0, 3.0], [3.0, NAN, 1.0]])
    mask = torch.tensor([[False, False, False], [True, False, True]])
    assert select_indices(nll, mask, "minmax", "positive").tolist() == [NO_CANDIDATE, 2]
    assert select_indices(nll, mask, "minmax", "negative").tolist() == [NO_CANDIDATE, 0]
    gen = torch.Generator().manual_seed(0)
    assert select_indices(nll, mask, "sampling", "positive", gen)[0].item() == NO_CANDIDATE


def test_select_indices_ties_go_to_lowest_index():
    nll = torch.tensor([[1.0, 1.0, 1.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    assert select_indices(nll, mask, "minmax", "positive").item() == 0
    assert select_indices(nll, mask, "minmax", "negative").item() == 0


def test_sampling_is_seeded_uniform_and_valid():
    """3 valid columns of 4 in every row: over 3000 rows each valid column is drawn about
    1000 times (binomial sd ~ 26, so 900..1100 is a > 3.5 sd band) and column 3 never; the
    same seed repeats the draw exactly."""
    rows = 3000
    nll = torch.zeros(rows, 4)
    mask = torch.tensor([True, True, False, True]).expand(rows, 4)
    draw = select_indices(nll, mask, "sampling", "positive", torch.Generator().manual_seed(7))
    again = select_indices(nll, mask, "sampling", "positive", torch.Generator().manual_seed(7))
    other = select_indices(nll, mask, "sampling", "positive", torch.Generator().manual_seed(8))
    assert torch.equal(draw, again)
    assert not torch.equal(draw, other)
    counts = torch.bincount(draw, minlength=4).tolist()
    assert counts[2] == 0
    assert all(900 <= counts[k] <= 1100 for k in (0, 1, 3)), counts


def test_select_indices_rejects_misuse():
    with pytest.raises(ValueError, match="Generator"):
        select_indices(NLL, MASK, "sampling", "positive")
    with pytest.raises(ValueError, match="averaged_contrastive_loss"):
        select_indices(NLL, MASK, "mean", "positive")
    with pytest.raises(ValueError, match=r"\(B, P\)"):
        select_indices(NLL, MASK[:, :2], "minmax", "positive")


def test_gather_selected():
    """values[b, index[b]]: row 0 -> values[0, 2] = 3; row 1 has no candidate -> 0."""
    values = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    index = torch.tensor([2, NO_CANDIDATE])
    assert gather_selected(values, index).tolist() == [3.0, 0.0]


def test_positive_term():
    """P = s · l: [0.5 · 2, 0.9 · 1] = [1.0, 0.9]; without scores (QJ off), P = l."""
    nll = torch.tensor([2.0, 1.0])
    score = torch.tensor([0.5, 0.9])
    torch.testing.assert_close(positive_term(nll, score), torch.tensor([1.0, 0.9]))
    torch.testing.assert_close(positive_term(nll, None), nll)


def test_negative_term_hinge_values_and_gradient():
    """δ = 3, l = [1, 2.5, 3, 4], s = [0.2, 0.5, 0.3, 0.1]:
    hinge = max(0, 3 − l) = [2, 0.5, 0, 0]; N = (1 − s) · hinge = [1.6, 0.25, 0, 0];
    dN/dl = −(1 − s) while l < δ, else 0: [−0.8, −0.5, 0, 0] (flat at δ and past it)."""
    nll = torch.tensor([1.0, 2.5, 3.0, 4.0], requires_grad=True)
    score = torch.tensor([0.2, 0.5, 0.3, 0.1])
    term = negative_term(nll, score, delta=3.0)
    torch.testing.assert_close(term, torch.tensor([1.6, 0.25, 0.0, 0.0]))
    term.sum().backward()
    assert nll.grad is not None
    torch.testing.assert_close(nll.grad, torch.tensor([-0.8, -0.5, 0.0, 0.0]))


def test_contrastive_loss_rows_with_missing_terms():
    """δ = 3, β = 0.2. Row 0 has both terms, row 1 a positive only, row 2 nothing, row 3 a
    negative only (the missing ones hold NaN placeholders, which must not leak).

    P = [0.5 · 1, 1.0 · 2] = [0.5, 2.0] on rows 0, 1
    N = [(1 − 0.25) · (3 − 2), (1 − 0) · (3 − 0.5)] = [0.75, 2.5] on rows 0, 3
    per row: 0.5 + 0.2 · 0.75 = 0.65; 2.0; 0.2 · 2.5 = 0.5; mean over the 3 rows with a term:
    L = (0.65 + 2.0 + 0.5) / 3 = 1.05.
    dL/dl_pos = s / 3 = [1/6, 1/3, 0, 0]; dL/dl_neg = −β (1 − s) / 3 = [−0.05, 0, 0, −1/15].
    """
    nll_pos = torch.tensor([1.0, 2.0, NAN, NAN], requires_grad=True)
    nll_neg = torch.tensor([2.0, NAN, NAN, 0.5], requires_grad=True)
    s_pos = torch.tensor([0.5, 1.0, 0.3, 0.7], requires_grad=True)
    s_neg = torch.tensor([0.25, 0.0, 0.0, 0.0], requires_grad=True)
    has_pos = torch.tensor([True, True, False, False])
    has_neg = torch.tensor([True, False, False, True])
    loss = contrastive_loss(nll_pos, s_pos, has_pos, nll_neg, s_neg, has_neg, beta=0.2, delta=3.0)
    torch.testing.assert_close(loss, torch.tensor(1.05))
    loss.backward()
    assert nll_pos.grad is not None and nll_neg.grad is not None
    torch.testing.assert_close(nll_pos.grad, torch.tensor([1 / 6, 1 / 3, 0.0, 0.0]))
    torch.testing.assert_close(nll_neg.grad, torch.tensor([-0.05, 0.0, 0.0, -1 / 15]))
    # The judge's scores only weight this term: no gradient reaches them.
    assert s_pos.grad is None and s_neg.grad is None


def test_contrastive_loss_without_judge_and_without_rows():
    """QJ off: weights 1, so L = mean_i [l_pos + β · max(0, δ − l_neg)]
    = [(1 + 0.2 · 2) + (3 + 0.2 · 0)] / 2 = (1.4 + 3.0) / 2 = 2.2.
    No row with a term: L = 0, still differentiable."""
    nll_pos = torch.tensor([1.0, 3.0])
    nll_neg = torch.tensor([1.0, 4.0])
    both = torch.tensor([True, True])
    loss = contrastive_loss(nll_pos, None, both, nll_neg, None, both, beta=0.2, delta=3.0)
    torch.testing.assert_close(loss, torch.tensor(2.2))

    nll = torch.tensor([NAN, NAN], requires_grad=True)
    none = torch.tensor([False, False])
    empty = contrastive_loss(nll, None, none, nll, None, none, beta=0.2, delta=3.0)
    assert empty.item() == 0.0
    empty.backward()
    assert nll.grad is not None and not nll.grad.isnan().any()


# Two rows; positives (B, 3) with row 1 holding one real candidate, negatives (B, 2) with
# row 1 holding one. Padding holds 0.
NLL_POS = [[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]]
S_POS = [[1.0, 0.5, 0.0], [0.5, 0.9, 0.9]]
MASK_POS = [[True, True, True], [True, False, False]]
NLL_NEG = [[1.0, 4.0], [2.0, 2.5]]
S_NEG = [[0.5, 0.0], [0.0, 0.5]]
MASK_NEG = [[True, True], [True, False]]


def _averaged(scheme, with_scores=True):
    nll_pos = torch.tensor(NLL_POS, requires_grad=True)
    nll_neg = torch.tensor(NLL_NEG, requires_grad=True)
    s_pos = torch.tensor(S_POS, requires_grad=True) if with_scores else None
    s_neg = torch.tensor(S_NEG, requires_grad=True) if with_scores else None
    loss = averaged_contrastive_loss(
        nll_pos,
        s_pos,
        torch.tensor(MASK_POS),
        nll_neg,
        s_neg,
        torch.tensor(MASK_NEG),
        scheme=scheme,
        beta=0.2,
        delta=3.0,
    )
    return loss, nll_pos, s_pos, s_neg


def test_mean_scheme():
    """δ = 3, β = 0.2; hinge = max(0, 3 − l_neg) = [[2, 0], [1, -]].
    P_0 = (1·1 + 0.5·2 + 0·3) / 3 = 2/3;  P_1 = 0.5·4 = 2
    N_0 = ((1 − 0.5)·2 + (1 − 0)·0) / 2 = 0.5;  N_1 = (1 − 0)·1 = 1
    L = [(2/3 + 0.2·0.5) + (2 + 0.2·1)] / 2 = (0.7667 + 2.2) / 2 = 1.48333.
    dL/dl_pos = s / (n_valid · B): row 0 [1, 0.5, 0] / 6, row 1 [0.5/2, 0, 0]."""
    loss, nll_pos, s_pos, s_neg = _averaged("mean")
    torch.testing.assert_close(loss, torch.tensor((2 / 3 + 0.1 + 2.2) / 2))
    loss.backward()
    assert nll_pos.grad is not None
    torch.testing.assert_close(
        nll_pos.grad, torch.tensor([[1 / 6, 0.5 / 6, 0.0], [0.25, 0.0, 0.0]])
    )
    assert s_pos is not None and s_neg is not None
    assert s_pos.grad is None and s_neg.grad is None


def test_wmean_scheme():
    """Score-weighted means, δ = 3, β = 0.2:
    P_0 = (1·1 + 0.5·2 + 0·3) / (1 + 0.5 + 0) = 4/3;  P_1 = 0.5·4 / 0.5 = 4
    N_0 = (0.5·2 + 1·0) / (0.5 + 1) = 2/3;  N_1 = 1·1 / 1 = 1
    L = [(4/3 + 0.2·2/3) + (4 + 0.2·1)] / 2 = (1.46667 + 4.2) / 2 = 2.83333."""
    loss, _, s_pos, s_neg = _averaged("wmean")
    torch.testing.assert_close(loss, torch.tensor((4 / 3 + 0.4 / 3 + 4.2) / 2))
    loss.backward()
    assert s_pos is not None and s_neg is not None
    assert s_pos.grad is None and s_neg.grad is None


def test_wmean_without_scores_equals_mean():
    """Without a judge every weight is 1, and a weighted mean with equal weights is the mean:
    P = [2, 4], N = [1, 1], L = [(2 + 0.2) + (4 + 0.2)] / 2 = 3.2."""
    mean, *_ = _averaged("mean", with_scores=False)
    wmean, *_ = _averaged("wmean", with_scores=False)
    torch.testing.assert_close(mean, torch.tensor(3.2))
    torch.testing.assert_close(wmean, mean)


def test_wmean_zero_weights_give_zero_not_nan():
    """Every positive scored 0: Σ s l / Σ s = 0/0, defined as 0; so L = 0 with no negatives."""
    nll = torch.tensor([[1.0, 2.0]], requires_grad=True)
    score = torch.zeros(1, 2)
    mask = torch.ones(1, 2, dtype=torch.bool)
    none = torch.zeros(1, 2, dtype=torch.bool)
    loss = averaged_contrastive_loss(
        nll, score, mask, nll, score, none, scheme="wmean", beta=0.2, delta=3.0
    )
    assert loss.item() == 0.0
    loss.backward()
    assert nll.grad is not None and not nll.grad.isnan().any()


def test_judge_loss_bce():
    """z_pos = [0, ln 3] (s = [1/2, 3/4]), z_neg = [0] (s = 1/2):
    L = −[log 1/2 + log 3/4 + log(1 − 1/2)] / 3 = (2 ln 2 + ln 4/3) / 3;
    dL/dz = (s − y) / 3 = [−1/6, −1/12] for positives, [1/6] for the negative."""
    z_pos = torch.tensor([0.0, math.log(3.0)], requires_grad=True)
    z_neg = torch.tensor([0.0], requires_grad=True)
    loss = judge_loss(z_pos, z_neg)
    torch.testing.assert_close(loss, torch.tensor((2 * math.log(2) + math.log(4 / 3)) / 3))
    loss.backward()
    assert z_pos.grad is not None and z_neg.grad is not None
    torch.testing.assert_close(z_pos.grad, torch.tensor([-1 / 6, -1 / 12]))
    torch.testing.assert_close(z_neg.grad, torch.tensor([1 / 6]))


def test_judge_loss_one_class_or_none():
    """Negatives only, z = [0]: L = −log(1 − 1/2) = ln 2. Nothing at all: L = 0."""
    torch.testing.assert_close(
        judge_loss(torch.zeros(0), torch.zeros(1)), torch.tensor(math.log(2))
    )
    assert judge_loss(torch.zeros(0), torch.zeros(0)).item() == 0.0


def test_judge_weight_decays_per_iteration():
    """α3 · 0.9^i: 0.5, 0.45, 0.405."""
    assert [judge_weight(0.5, 0.9, i) for i in range(3)] == pytest.approx([0.5, 0.45, 0.405])
    with pytest.raises(ValueError):
        judge_weight(0.5, 0.9, -1)


def test_multitask_loss():
    """0.5 · 1 + 0.5 · 2 + 0.25 · 4 = 2.5; without the judge term 1.5."""
    one, two, four = torch.tensor(1.0), torch.tensor(2.0), torch.tensor(4.0)
    assert multitask_loss(one, two, four, 0.5, 0.5, 0.25).item() == pytest.approx(2.5)
    assert multitask_loss(one, two, None, 0.5, 0.5, 0.25).item() == pytest.approx(1.5)


def test_dss_loss():
    """α · L_label + (1 − α) · L_rationale = 0.25 · 1 + 0.75 · 3 = 2.5."""
    assert dss_loss(torch.tensor(1.0), torch.tensor(3.0), 0.25).item() == pytest.approx(2.5)
    with pytest.raises(ValueError, match="alpha"):
        dss_loss(torch.tensor(1.0), torch.tensor(3.0), 1.5)
