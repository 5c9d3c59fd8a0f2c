"""Self-adversarial negatives (method.md §1.3): the student's own hot samples, j iterations old.

Sampling with the checkpoint from j iterations back at iteration i is the same distribution as
sampling with the current student at iteration i - j and keeping the text until iteration i.
The buffer does the latter: at the start of each iteration it samples, with the current
student, the examples scheduled for iteration i + j, so no old checkpoint is ever kept.
Before j iterations exist, the initial student samples the first j iterations' examples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NegativeBuffer:
    """Pending negatives: for each future micro-batch, one sampled rationale per example.

    Keyed by micro-batch index so that an example seen twice (two epochs) gets a fresh sample
    each time; entries are dropped once consumed. It is part of the checkpoint.
    """

    pending: dict[int, dict[str, str]] = field(default_factory=dict)

    def put(self, micro_batch: int, samples: dict[str, str]) -> None:
        self.pending.setdefault(micro_batch, {}).update(samples)

    def take(self, micro_batch: int) -> dict[str, str]:
        return self.pending.pop(micro_batch, {})

    def state_dict(self) -> dict[str, Any]:
        return {"pending": {str(k): v for k, v in self.pending.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.pending = {int(k): dict(v) for k, v in state["pending"].items()}


def sampling_plan(
    iteration: int, lag: int, iteration_steps: int, grad_accum: int, n_micro: int, fixed: bool
) -> range:
    """Micro-batch indices whose negatives are sampled at the start of ``iteration``.

    Args:
        iteration: the iteration starting now (optimizer step // iteration_steps).
        lag: j, the iterations between sampling and use.
        iteration_steps: optimizer steps per iteration.
        grad_accum: micro-batches per optimizer step.
        n_micro: micro-batches in the whole run.
        fixed: the frozen-generator ablation: the initial student samples everything at
            iteration 0 and nothing is sampled later.

    Returns:
        The micro-batch indices to sample now (empty when none).
    """
    per_iter = iteration_steps * grad_accum
    if fixed:
        return range(0, n_micro) if iteration == 0 else range(0)
    if iteration == 0:
        # The initial student stands in for the checkpoints that do not exist yet.
        first, last = 0, (lag + 1) * per_iter
    else:
        first, last = (iteration + lag) * per_iter, (iteration + lag + 1) * per_iter
    return range(min(first, n_micro), min(last, n_micro))
