"""Per-sequence NLL: the l(x, r) of method.md §2, one number per rationale."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

IGNORE_INDEX = -100


def sequence_nll(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE_INDEX) -> Tensor:
    """Mean token cross-entropy of each sequence, over its non-ignored target tokens.

    ``logits[:, t]`` must already predict ``labels[:, t]``: a causal LM's caller shifts both
    by one first (seq2seq decoders are aligned as they come). A mean rather than a sum, so
    that long and short rationales sit on the same scale as the hinge margin δ.

    Args:
        logits: ``(B, T, V)`` next-token logits.
        labels: ``(B, T)`` target ids, ``ignore_index`` at padding and prompt positions.
        ignore_index: the label value that carries no loss.

    Returns:
        ``(B,)`` float32 NLLs; a row without any target token gets 0.
    """
    if logits.shape[:2] != labels.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}")
    token_nll = F.cross_entropy(
        logits.float().transpose(1, 2),  # (B, V, T): cross_entropy wants classes on dim 1
        labels,
        ignore_index=ignore_index,
        reduction="none",
    )  # (B, T), 0 at ignored positions
    counts = (labels != ignore_index).sum(dim=1).clamp(min=1)  # (B,)
    return token_nll.sum(dim=1) / counts
