"""Requests-per-minute and tokens-per-minute limits, shared by all of a backend's calls.

Two token buckets refilled continuously. A bucket holds at most ten seconds' worth of its
budget, so a run starts smoothly instead of firing a minute's quota in its first second (which
servers that enforce limits over sub-minute windows answer with 429). A call costing more
than a bucket holds is let through once the bucket is full and leaves it in debt, so large
requests are slowed, never starved. A 429 pauses every caller until its ``Retry-After``.

The clock and the sleep are injected: tests drive a fake clock and never sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

BURST_SECONDS = 10.0


@dataclass
class TokenBucket:
    """``per_minute`` units a minute, holding at most ``BURST_SECONDS`` worth (and at least 1)."""

    per_minute: float
    now: float
    level: float = field(init=False)
    capacity: float = field(init=False)

    def __post_init__(self) -> None:
        self.capacity = max(1.0, self.per_minute * BURST_SECONDS / 60.0)
        self.level = self.capacity

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.now)
        self.level = min(self.capacity, self.level + elapsed * self.per_minute / 60.0)
        self.now = now

    def wait_for(self, cost: float) -> float:
        """Seconds until ``cost`` can be taken (0 if now); never more than needed to fill."""
        need = min(cost, self.capacity) - self.level
        return 0.0 if need <= 0 else need * 60.0 / self.per_minute

    def take(self, cost: float) -> None:
        self.level -= cost


class RateLimiter:
    """Admits calls under optional requests- and tokens-per-minute limits.

    Args:
        requests_per_minute: request budget, or ``None`` for no limit.
        tokens_per_minute: token budget (prompt plus ``max_tokens`` per sample, as servers
            count it), or ``None``.
        clock: monotonic seconds.
        sleep: coroutine sleeping for the given seconds.
    """

    def __init__(
        self,
        requests_per_minute: float | None,
        tokens_per_minute: float | None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        now = clock()
        self._buckets: list[tuple[TokenBucket, bool]] = []  # (bucket, counts tokens?)
        if requests_per_minute is not None:
            self._buckets.append((TokenBucket(requests_per_minute, now), False))
        if tokens_per_minute is not None:
            self._buckets.append((TokenBucket(tokens_per_minute, now), True))
        self._paused_until = now
        self._lock = asyncio.Lock()

    def pause_for(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (a server said it is overloaded)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    async def acquire(self, tokens: int) -> None:
        """Wait until one request of ``tokens`` tokens fits the limits, then take it.

        The lock makes callers queue in order, so a large call is not overtaken forever.
        """
        async with self._lock:
            while True:
                now = self._clock()
                wait = self._paused_until - now
                for bucket, counts_tokens in self._buckets:
                    bucket.refill(now)
                    wait = max(wait, bucket.wait_for(tokens if counts_tokens else 1))
                if wait <= 0:
                    break
                await self._sleep(wait)
            for bucket, counts_tokens in self._buckets:
                bucket.take(tokens if counts_tokens else 1)
