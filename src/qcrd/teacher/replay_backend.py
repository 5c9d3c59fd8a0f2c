"""Teacher backend that replays rationales generated elsewhere (the data stage's
``rationales.jsonl``), e.g. MCC-KD's ten GPT-3.5-turbo rationales per SVAMP question.

Those ten come ordered with the correct ones first, so taking the first K would hand the
filter a cleaner set than K temperature samples would be. Instead each example gets a seeded
shuffle of its rationales and sample ``i`` is the shuffle's ``i``-th: a random subset of K,
in random order, standing in for K samples at temperature 0.7. The shuffle depends only on
(seed, example id), so it is the same in every process and does not change with K (the
subset for K=3 is a prefix of the one for K=5). With ``seed=None`` the file order is kept.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from qcrd.data.records import Rationale, RationaleSet, read_rationale_sets
from qcrd.teacher.backend import (
    Failure,
    Response,
    Sample,
    SampleRequest,
    SamplingParams,
    TeacherError,
    chars_per_token_estimate,
)

SHORT_REASON = "replay_has_fewer_rationales"


def replay_order(n_available: int, example_id: str, seed: int | None) -> list[int]:
    """The positions of an example's rationales in sample order."""
    order = list(range(n_available))
    if seed is not None:
        random.Random(f"qcrd-replay:{seed}:{example_id}").shuffle(order)
    return order


class ReplayBackend:
    """The ``replay`` teacher backend.

    Args:
        sets: pre-generated rationales, one set per training example.
        digest: identifies the rationale file's content (part of every cache key, so a
            different file never reuses another's rows).
    """

    name = "replay"
    billed = False
    source = "replay"

    def __init__(self, sets: Sequence[RationaleSet], digest: str) -> None:
        self._by_id = {s.id: s.rationales for s in sets}
        self.digest = digest
        self.short: dict[str, int] = {}

    @classmethod
    def from_file(cls, path: Path) -> ReplayBackend:
        if not path.is_file():
            raise TeacherError(
                f"teacher.backend 'replay' needs {path}, written by the data stage from a source "
                "with pre-generated rationales (e.g. data.source=mcckd)"
            )
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return cls(read_rationale_sets(path), digest)

    def rationales_for(self, example_id: str, seed: int | None) -> list[Rationale]:
        """All of an example's rationales in sample order."""
        found = self._by_id.get(example_id, ())
        if not found:
            raise TeacherError(
                f"replay: training example {example_id!r} has no rationale in the replay file; "
                "every example needs at least one (re-run the data stage, or use another backend)"
            )
        return [found[i] for i in replay_order(len(found), example_id, seed)]

    def key_fields(
        self, request: SampleRequest, template_ref: str, params: SamplingParams
    ) -> dict[str, Any]:
        # Neither the prompt nor the temperature changes a replayed text; the file, the
        # example and the seed do.
        return {
            "backend": self.name,
            "rationales_sha256": self.digest,
            "id": request.example_id,
            "seed": params.seed,
        }

    def estimate_prompt_tokens(self, prompt: str) -> int:
        return chars_per_token_estimate(prompt)

    def describe(self) -> dict[str, Any]:
        return {
            "rationales_sha256": self.digest,
            "examples_with_fewer_than_k": len(self.short),
        }

    async def aclose(self) -> None:
        return None

    async def generate(
        self, requests: Sequence[SampleRequest], params: SamplingParams
    ) -> AsyncIterator[Response]:
        for request in requests:
            ordered = self.rationales_for(request.example_id, params.seed)
            samples = tuple(
                Sample(i, ordered[i].text, source=ordered[i].source)
                for i in request.indices
                if i < len(ordered)
            )
            failures = tuple(Failure(i, SHORT_REASON) for i in request.indices if i >= len(ordered))
            if failures:
                self.short[request.example_id] = len(ordered)
            yield Response(request, samples=samples, failures=failures, attempts=0)
