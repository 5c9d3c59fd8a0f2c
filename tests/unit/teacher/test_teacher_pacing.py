"""Back-off, Retry-After parsing and the rate limiter, on an injected clock (no real sleeps)."""

from __future__ import annotations

import asyncio
import email.utils
import random

import pytest
from teacher_fakes import FakeClock

from qcrd.teacher.ratelimit import RateLimiter
from qcrd.teacher.retry import MAX_RETRY_AFTER_S, Backoff, parse_retry_after


def test_backoff_doubles_within_equal_jitter_bounds_and_caps() -> None:
    backoff = Backoff(base_s=0.5, max_s=4.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0)]:
        draws = [backoff.delay(attempt, None, rng) for _ in range(200)]
        assert min(draws) >= ceiling / 2 and max(draws) <= ceiling
        assert max(draws) - min(draws) > ceiling / 4  # it really is jittered


def test_backoff_never_undercuts_retry_after_and_caps_absurd_hints() -> None:
    rng = random.Random(1)
    backoff = Backoff(base_s=1.0, max_s=2.0)
    assert all(7.0 <= backoff.delay(1, 7.0, rng) <= 7.7 for _ in range(100))
    assert backoff.delay(1, 86_400.0, rng) <= MAX_RETRY_AFTER_S * 1.1
    with pytest.raises(ValueError):
        backoff.delay(0, None, rng)


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"Retry-After": "3"}, now) == 3.0
    assert parse_retry_after({"retry-after": "0.5"}, now) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}, now) == 0.25
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now) == 0.0
    assert parse_retry_after({"Retry-After": "soon"}, now) is None
    assert parse_retry_after({"Retry-After": "-4"}, now) is None
    assert parse_retry_after({}, now) is None


def start_times(limiter: RateLimiter, clock: FakeClock, costs: list[int]) -> list[float]:
    async def go() -> list[float]:
        times = []
        for cost in costs:
            await limiter.acquire(cost)
            times.append(clock.now)
        return times

    return asyncio.run(go())


def test_requests_per_minute_allows_a_ten_second_burst_then_paces() -> None:
    clock = FakeClock()
    limiter = RateLimiter(120.0, None, clock=clock, sleep=clock.sleep)  # 2 a second
    times = start_times(limiter, clock, [1] * 24)
    assert times[:20] == [0.0] * 20  # ten seconds' worth up front
    assert times[20:] == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_tokens_per_minute_paces_by_cost_and_lets_oversized_calls_through() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, 6000.0, clock=clock, sleep=clock.sleep)  # 100 tokens/s, holds 1000
    times = start_times(limiter, clock, [600, 600, 5000, 100])
    # 600 at 0 (400 left); 600 more needs 200 more: t=2, leaving 0; the 5000-token call waits
    # for a full bucket (1000): t=12, leaving a 4000 debt; then 100 needs 4100: t=53.
    assert times == pytest.approx([0.0, 2.0, 12.0, 53.0])


def test_pause_holds_every_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(None, None, clock=clock, sleep=clock.sleep)
    limiter.pause_for(5.0)
    assert start_times(limiter, clock, [1, 1]) == [5.0, 5.0]


def test_concurrent_callers_share_the_budget() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60.0, None, clock=clock, sleep=clock.sleep)  # 1 a second, holds 10

    async def go() -> list[float]:
        times: list[float] = []

        async def one() -> None:
            await limiter.acquire(1)
            times.append(clock.now)

        await asyncio.gather(*(one() for _ in range(13)))
        return sorted(times)

    assert asyncio.run(go()) == pytest.approx([0.0] * 10 + [1.0, 2.0, 3.0])
