"""Test doubles for the teacher: a scripted OpenAI client and a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx2
import openai

URL = "http://127.0.0.1:9/v1/chat/completions"


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    """The exception the SDK raises for an HTTP ``status`` answer."""
    response = httpx2.Response(status, headers=headers or {}, request=httpx2.Request("POST", URL))
    classes: dict[int, type[openai.APIStatusError]] = {
        400: openai.BadRequestError,
        401: openai.AuthenticationError,
        404: openai.NotFoundError,
        429: openai.RateLimitError,
    }
    cls = classes.get(
        status, openai.InternalServerError if status >= 500 else openai.APIStatusError
    )
    return cls(f"HTTP {status} with key sk-SECRET-in-message", response=response, body=None)


def timeout_error() -> openai.APITimeoutError:
    return openai.APITimeoutError(request=httpx2.Request("POST", URL))


def connection_error() -> openai.APIConnectionError:
    return openai.APIConnectionError(request=httpx2.Request("POST", URL))


def completion(texts: list[str], prompt_tokens: int = 100, completion_tokens: int = 20) -> Any:
    choices = [
        SimpleNamespace(index=i, message=SimpleNamespace(content=t), finish_reason="stop")
        for i, t in enumerate(texts)
    ]
    usage = SimpleNamespace(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    return SimpleNamespace(choices=choices, usage=usage)


Script = Callable[[dict[str, Any], int], Any]
"""Given a call's kwargs and its 0-based number, return a completion or an exception."""


def obeys_n(kwargs: dict[str, Any], number: int) -> Any:
    n = kwargs.get("n", 1)
    seed = kwargs.get("seed")
    return completion([f"s{seed}-c{i}. The answer is {i}." for i in range(n)])


def ignores_n(kwargs: dict[str, Any], number: int) -> Any:
    return completion([f"s{kwargs.get('seed')}. The answer is 1."])


@dataclass
class FakeClient:
    """Quacks like ``AsyncOpenAI`` for ``chat.completions.create``; records every call."""

    script: Script = obeys_n
    calls: list[dict[str, Any]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    delay: float = 0.0

    def __post_init__(self) -> None:
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self._create))

    async def _create(self, **kwargs: Any) -> Any:
        number = len(self.calls)
        self.calls.append(kwargs)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)  # yields, so concurrent calls overlap
            result = self.script(kwargs, number)
        finally:
            self.in_flight -= 1
        if isinstance(result, BaseException):
            raise result
        return result

    async def close(self) -> None:
        return None


@dataclass
class FakeClock:
    """Monotonic time that only moves when someone sleeps on it."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)
