"""The order examples are seen in, fixed up front from the seed.

Knowing the whole order in advance is what lets self-adversarial negatives be sampled *now*
for the examples that will be consumed j iterations later (method.md §1.3), and what makes a
resumed run continue exactly where it stopped: the data position is just a step number.
"""

from __future__ import annotations

import math

import torch


def micro_batches(n_items: int, batch_size: int, n_batches: int, seed: int) -> list[list[int]]:
    """``n_batches`` lists of item indices: epoch after epoch of seeded permutations.

    A batch never straddles two epochs; the last, short batch of an epoch is kept.
    """
    if n_items == 0:
        raise ValueError("no training examples")
    batches: list[list[int]] = []
    epoch = 0
    while len(batches) < n_batches:
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n_items, generator=gen).tolist()
        for start in range(0, n_items, batch_size):
            batches.append(order[start : start + batch_size])
            if len(batches) == n_batches:
                break
        epoch += 1
    return batches


def total_optimizer_steps(
    n_items: int, batch_size: int, grad_accum: int, epochs: float, max_steps: int | None
) -> int:
    if max_steps is not None:
        return max_steps
    per_epoch = math.ceil(n_items / batch_size)
    return max(1, math.ceil(per_epoch * epochs / grad_accum))
