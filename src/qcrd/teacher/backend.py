"""The teacher backend protocol and the records that cross it.

A backend turns :class:`SampleRequest` s (one prompt, the sample indices still missing) into a
stream of :class:`Response` s, one per call it made (a request with ``n=K`` is one response
holding K samples; K separate calls are K responses). The stage writes each response to the
cache as it arrives, so the backend never sees the cache and a killed run loses at most the
calls that were in flight.

Backends: ``openai`` (any OpenAI-compatible endpoint), ``local`` (a Hugging Face model in
process) and ``replay`` (rationales generated elsewhere, read from the data stage's output).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class TeacherError(RuntimeError):
    """A problem no retry can fix (a missing key, an unknown model, bad credentials)."""


@dataclass(frozen=True)
class SamplingParams:
    """The sampling settings that change a teacher's output.

    ``seed`` is the base seed: a call whose first sample index is ``i`` sends ``seed + i``,
    so K separate calls for one prompt do not return K copies of one sample. ``stop`` comes
    from the prompt template.
    """

    temperature: float
    top_p: float
    max_tokens: int
    seed: int | None
    stop: tuple[str, ...] = ()

    def seed_for(self, first_index: int) -> int | None:
        return None if self.seed is None else self.seed + first_index

    def key_fields(self) -> dict[str, Any]:
        """These settings as cache-key fields (every one of them changes the output)."""
        return {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "stop": list(self.stop),
        }


@dataclass(frozen=True)
class SampleRequest:
    """One prompt and the sample indices wanted for it.

    Attributes:
        example_id: the training example the prompt was rendered from (replay reads by it).
        prompt: the rendered prompt, sent as the user message.
        indices: sample indices still missing, ascending (0-based, below K).
    """

    example_id: str
    prompt: str
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Sample:
    """One sample; ``source`` overrides the backend's (replay keeps each file row's own)."""

    index: int
    text: str
    finish_reason: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Failure:
    """A sample that could not be obtained in this run; ``reason`` is a short countable code."""

    index: int
    reason: str


@dataclass(frozen=True)
class Response:
    """What one call (with its retries) produced.

    Attributes:
        request: the request served.
        samples: samples obtained, by index.
        failures: indices given up on in this run, with why.
        prompt_tokens, completion_tokens: usage the server reported for the successful call.
        attempts: calls made, retries included.
    """

    request: SampleRequest
    samples: tuple[Sample, ...] = ()
    failures: tuple[Failure, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1


class TeacherBackend(Protocol):
    """What the teacher stage needs from a backend.

    Attributes:
        name: ``openai``, ``local`` or ``replay``.
        source: provenance written with every sample (e.g. ``openai:gpt-4o-mini``).
        billed: whether the config's price table applies to its token usage.
    """

    name: str
    source: str
    billed: bool

    def key_fields(
        self, request: SampleRequest, template_ref: str, params: SamplingParams
    ) -> dict[str, Any]:
        """Exactly the settings that change the output of ``request`` (its sample index
        aside): the cache key of each sample is a hash of these plus the index."""
        ...

    def generate(
        self, requests: Sequence[SampleRequest], params: SamplingParams
    ) -> AsyncIterator[Response]:
        """Serve every request, yielding one :class:`Response` per call as calls finish.

        Raises:
            TeacherError: on problems no retry fixes; responses already yielded stand.
        """
        ...

    def estimate_prompt_tokens(self, prompt: str) -> int:
        """A cheap estimate of a prompt's billed tokens (for ``dry_run``)."""
        ...

    def describe(self) -> dict[str, Any]:
        """JSON-able facts learnt while running (e.g. the detected ``n`` support)."""
        ...

    async def aclose(self) -> None: ...


def chars_per_token_estimate(text: str) -> int:
    """About four characters per token for English BPE vocabularies; good to ~20%."""
    return max(1, round(len(text) / 4))
