"""Teacher backend for any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp server).

Calls run concurrently (``teacher.concurrency`` workers) under a requests/tokens-per-minute
limiter. Every call has a total deadline (``timeout_s``) and is retried with exponential
back-off and jitter that honours ``Retry-After``; the SDK's own retries are off so that
attempts are ours to count and record. Errors are read into a short reason code (``http_503``,
``timeout``, ``connection``, ``malformed_response``); only the code is ever stored or logged,
never the SDK's message (an authentication error's message quotes part of the key).

K samples: with ``n_per_request='auto'`` the first call asks for ``n=K`` alone, while the
others wait; if the server returns K choices, every prompt is then asked once with ``n=K``,
and if it returns fewer (llama.cpp ignores ``n``) or rejects ``n`` with HTTP 400, each sample
is asked separately. Returned choices are kept either way. Separate calls send ``seed + i``
for sample ``i``, so they are distinct samples, not one sample K times.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any, Literal
from urllib.parse import urlsplit

import openai

from qcrd.config import TeacherConfig
from qcrd.teacher.backend import (
    Failure,
    Response,
    Sample,
    SampleRequest,
    SamplingParams,
    TeacherError,
    chars_per_token_estimate,
)
from qcrd.teacher.ratelimit import RateLimiter, Sleep
from qcrd.teacher.retry import Backoff, parse_retry_after

log = logging.getLogger(__name__)

# Sent when the key's environment variable is unset and the server is on this machine (a
# llama.cpp or vLLM server started without --api-key accepts anything).
LOCAL_PLACEHOLDER_KEY = "sk-no-key-local-server"
# Chat formatting adds a few tokens around the user message.
_CHAT_OVERHEAD_TOKENS = 8

NMode = Literal["unknown", "yes", "no"]


def is_loopback(base_url: str) -> bool:
    host = urlsplit(base_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(base_url: str | None) -> str | None:
    """The URL without user info, query or fragment (where people sometimes put secrets)."""
    if base_url is None:
        return None
    parts = urlsplit(base_url)
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def resolve_api_key(cfg: TeacherConfig) -> str:
    key = os.environ.get(cfg.api_key_env)
    if key:
        return key
    if cfg.base_url is not None and is_loopback(cfg.base_url):
        return LOCAL_PLACEHOLDER_KEY
    raise TeacherError(
        f"the openai teacher backend needs an API key in the environment variable "
        f"{cfg.api_key_env} (teacher.api_key_env); only a loopback base_url may go without"
    )


@dataclass(frozen=True)
class Verdict:
    """How to treat a failed call: ``reason`` is the code recorded if it is the last."""

    reason: str
    retryable: bool
    retry_after: float | None = None
    fatal: bool = False


class MalformedResponse(Exception):
    """A 200 whose body is not a usable chat completion."""


def classify(err: BaseException, now: float) -> Verdict | None:
    """Read a call's exception into a :class:`Verdict`; ``None`` if it is not a call error
    (a bug, which should propagate). ``now`` is the epoch time, for HTTP-date Retry-After."""
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        retry_after = parse_retry_after(dict(err.response.headers.items()), now)
        if status in (401, 403, 404):
            return Verdict(f"http_{status}", retryable=False, fatal=True)
        retryable = status in (408, 409, 429) or status >= 500
        return Verdict(f"http_{status}", retryable=retryable, retry_after=retry_after)
    if isinstance(err, openai.APITimeoutError | TimeoutError):
        return Verdict("timeout", retryable=True)
    if isinstance(err, openai.APIConnectionError):
        return Verdict("connection", retryable=True)
    if isinstance(
        err,
        MalformedResponse
        | openai.APIResponseValidationError
        | json.JSONDecodeError
        | UnicodeDecodeError,
    ):
        return Verdict("malformed_response", retryable=True)
    return None


@dataclass(frozen=True)
class _Reply:
    choices: list[tuple[str, str | None]]  # (text, finish_reason), in choice order
    prompt_tokens: int
    completion_tokens: int
    attempts: int


@dataclass(frozen=True)
class _GaveUp:
    reason: str
    attempts: int


class _NRejected(Exception):
    """The server answered n>1 with HTTP 400 (some reject the parameter outright)."""


def parse_completion(completion: Any) -> tuple[list[tuple[str, str | None]], int, int]:
    """(choices, prompt_tokens, completion_tokens) of a chat completion, checked.

    Raises:
        MalformedResponse: no choices, or a choice whose content is not text.
    """
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("no choices")
    out: list[tuple[str, str | None]] = []
    for choice in sorted(choices, key=lambda c: getattr(c, "index", 0) or 0):
        content = getattr(getattr(choice, "message", None), "content", None)
        if content is not None and not isinstance(content, str):
            raise MalformedResponse("choice content is not text")
        out.append((content or "", getattr(choice, "finish_reason", None)))
    usage = getattr(completion, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    return out, prompt_tokens, completion_tokens


class OpenAIBackend:
    """The ``openai`` teacher backend.

    Args:
        cfg: the teacher settings.
        client: an ``AsyncOpenAI`` (default: one built from ``cfg`` with ``max_retries=0``).
        clock: monotonic seconds, for the rate limiter.
        wall_clock: epoch seconds, for HTTP-date ``Retry-After``.
        sleep: coroutine used for every wait (tests inject a fake).
        rng: jitter source (default: seeded from ``cfg.seed``).
    """

    name = "openai"
    billed = True

    def __init__(
        self,
        cfg: TeacherConfig,
        *,
        client: openai.AsyncOpenAI | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.source = f"openai:{cfg.model}"
        self._client = client or openai.AsyncOpenAI(
            api_key=resolve_api_key(cfg),
            base_url=cfg.base_url,
            timeout=cfg.timeout_s,
            max_retries=0,
        )
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random(cfg.seed)
        self._backoff = Backoff(cfg.retry_backoff_s, cfg.retry_backoff_max_s)
        self.n_mode: NMode = "unknown" if cfg.n_per_request == "auto" else cfg.n_per_request
        self.n_evidence = "configured" if cfg.n_per_request != "auto" else "not yet probed"
        self.retries_by_reason: dict[str, int] = {}

    def key_fields(
        self, request: SampleRequest, template_ref: str, params: SamplingParams
    ) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.cfg.model,
            "template": template_ref,
            "prompt": request.prompt,
            **params.key_fields(),
        }

    def estimate_prompt_tokens(self, prompt: str) -> int:
        return chars_per_token_estimate(prompt) + _CHAT_OVERHEAD_TOKENS

    def describe(self) -> dict[str, Any]:
        return {
            "n_per_request": self.cfg.n_per_request,
            "n_mode": self.n_mode,
            "n_evidence": self.n_evidence,
            "retries_by_reason": dict(sorted(self.retries_by_reason.items())),
            "base_url": redact_url(self.cfg.base_url),
        }

    async def aclose(self) -> None:
        await self._client.close()

    async def generate(
        self, requests: Sequence[SampleRequest], params: SamplingParams
    ) -> AsyncIterator[Response]:
        # Loop-bound objects are made here, inside the running loop.
        self._limiter = RateLimiter(
            self.cfg.requests_per_minute,
            self.cfg.tokens_per_minute,
            clock=self._clock,
            sleep=self._sleep,
        )
        self._probe_lock = asyncio.Lock()
        todo: asyncio.Queue[SampleRequest] = asyncio.Queue()
        for request in requests:
            todo.put_nowait(request)
        out: asyncio.Queue[Response | None] = asyncio.Queue()
        pump = asyncio.create_task(self._run_workers(todo, params, out))
        try:
            while (item := await out.get()) is not None:
                yield item
            await pump  # re-raises a worker's TeacherError
        finally:
            pump.cancel()

    async def _run_workers(
        self,
        todo: asyncio.Queue[SampleRequest],
        params: SamplingParams,
        out: asyncio.Queue[Response | None],
    ) -> None:
        async def worker() -> None:
            while not todo.empty():
                await self._serve(todo.get_nowait(), params, out)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.cfg.concurrency, todo.qsize())):
                    group.create_task(worker())
        except* TeacherError as errors:
            raise errors.exceptions[0] from None
        finally:
            out.put_nowait(None)

    async def _serve(
        self, request: SampleRequest, params: SamplingParams, out: asyncio.Queue[Response | None]
    ) -> None:
        remaining = list(request.indices)
        while remaining:
            if len(remaining) > 1 and self.n_mode == "unknown":
                # One probe at a time: the others wait here for its verdict.
                async with self._probe_lock:
                    if self.n_mode == "unknown":
                        remaining = await self._ask(request, remaining, params, out)
                        continue
            remaining = await self._ask(request, remaining, params, out)

    async def _ask(
        self,
        request: SampleRequest,
        remaining: list[int],
        params: SamplingParams,
        out: asyncio.Queue[Response | None],
    ) -> list[int]:
        """One call for the first sample(s) of ``remaining``; returns what is still missing."""
        n = 1 if self.n_mode == "no" else len(remaining)
        wanted = remaining[:n]
        try:
            result = await self._call(request.prompt, n, params.seed_for(wanted[0]), params)
        except _NRejected:
            self._decide("no", "HTTP 400 to a request with n>1")
            return remaining
        if isinstance(result, _GaveUp):
            failures = tuple(Failure(i, result.reason) for i in wanted)
            await out.put(Response(request, failures=failures, attempts=result.attempts))
            return remaining[n:]
        got = result.choices[:n]
        if n > 1:
            if len(got) < n:
                self._decide("no", f"asked n={n}, the server returned {len(got)} choice(s)")
            else:
                self._decide("yes", f"asked n={n}, the server returned {len(got)} choices")
        samples = tuple(
            Sample(index, text, finish) for index, (text, finish) in zip(wanted, got, strict=False)
        )
        await out.put(
            Response(
                request,
                samples=samples,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                attempts=result.attempts,
            )
        )
        return remaining[len(samples) :]

    def _decide(self, mode: NMode, evidence: str) -> None:
        if self.cfg.n_per_request != "auto":
            if mode == "no" and self.n_mode == "yes" and self.n_evidence == "configured":
                log.warning("n_per_request=yes, but %s; asking for the rest again", evidence)
                self.n_evidence = f"configured; {evidence}"
            return
        if self.n_mode != mode:
            log.info("n per request: %s (%s)", mode, evidence)
            self.n_mode, self.n_evidence = mode, evidence

    async def _call(
        self, prompt: str, n: int, seed: int | None, params: SamplingParams
    ) -> _Reply | _GaveUp:
        """One logical call with its retries; raises TeacherError when retrying is futile."""
        kwargs: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_tokens": params.max_tokens,
        }
        if n > 1:
            kwargs["n"] = n
        if seed is not None:
            kwargs["seed"] = seed
        if params.stop:
            kwargs["stop"] = list(params.stop)
        cost = self.estimate_prompt_tokens(prompt) + params.max_tokens * n
        attempt = 0
        while True:
            attempt += 1
            await self._limiter.acquire(cost)
            try:
                completion = await asyncio.wait_for(
                    self._client.chat.completions.create(**kwargs), timeout=self.cfg.timeout_s
                )
                choices, prompt_tokens, completion_tokens = parse_completion(completion)
                return _Reply(choices, prompt_tokens, completion_tokens, attempt)
            except Exception as err:
                verdict = classify(err, self._wall_clock())
                if verdict is None:
                    raise
            if verdict.fatal:
                raise TeacherError(
                    f"the teacher server answered {verdict.reason} for model "
                    f"{self.cfg.model!r} at {redact_url(self.cfg.base_url) or 'the default URL'}"
                    ": check teacher.model, teacher.base_url and the key's permissions"
                )
            if n > 1 and self.n_mode == "unknown" and verdict.reason == "http_400":
                raise _NRejected
            if not verdict.retryable or attempt > self.cfg.max_retries:
                log.warning(
                    "giving up on a request after %d attempt(s): %s", attempt, verdict.reason
                )
                return _GaveUp(verdict.reason, attempt)
            self.retries_by_reason[verdict.reason] = (
                self.retries_by_reason.get(verdict.reason, 0) + 1
            )
            delay = self._backoff.delay(attempt, verdict.retry_after, self._rng)
            if verdict.reason == "http_429":
                self._limiter.pause_for(delay)  # the limit is ours as a whole, not this call's
            log.debug("attempt %d failed (%s); retrying in %.2fs", attempt, verdict.reason, delay)
            await self._sleep(delay)
