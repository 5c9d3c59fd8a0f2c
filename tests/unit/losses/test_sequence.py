"""Per-sequence NLL against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from qcrd.losses.sequence import IGNORE_INDEX, sequence_nll


def test_sequence_nll_means_over_target_tokens():
    """V = 2. Row 0: logits [0, 0] -> p = 1/2; logits [ln 3, 0] -> p(0) = 3/4; third token
    ignored: l = (ln 2 + ln 4/3) / 2. Row 1 has no target token: l = 0 (not NaN)."""
    logits = torch.tensor(
        [
            [[0.0, 0.0], [math.log(3.0), 0.0], [5.0, -5.0]],
            [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
        ]
    )  # (B=2, T=3, V=2)
    labels = torch.tensor([[1, 0, IGNORE_INDEX], [IGNORE_INDEX] * 3])  # (2, 3)
    nll = sequence_nll(logits, labels)
    expected = torch.tensor([(math.log(2) + math.log(4 / 3)) / 2, 0.0])
    torch.testing.assert_close(nll, expected)


def test_sequence_nll_shape_mismatch():
    with pytest.raises(ValueError, match="match"):
        sequence_nll(torch.zeros(1, 3, 2), torch.zeros(1, 2, dtype=torch.long))
