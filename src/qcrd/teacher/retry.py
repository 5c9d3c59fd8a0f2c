"""Back-off between retries, and reading a server's ``Retry-After``.

Pure and clock-free: callers pass the attempt number, the server's hint and a random source,
so the policy is unit-tested without sleeping.
"""

from __future__ import annotations

import email.utils
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

# A server asking for longer than this is treated as asking for this long: a run should wait
# out a rate-limit window, not stall for an hour on a misconfigured header.
MAX_RETRY_AFTER_S = 120.0


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with "equal jitter" that never undercuts a server's ``Retry-After``.

    Without a hint, attempt ``a`` (1 = the first retry) waits a uniform draw from
    ``[d/2, d]`` with ``d = min(max_s, base_s * 2**(a-1))``: spread out so that many clients
    failing together do not come back together, yet never close to zero. With a hint ``h``
    the wait is ``h`` plus up to 10% jitter: the server said when it will take us again.
    """

    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        if retry_after is not None:
            hint = min(retry_after, MAX_RETRY_AFTER_S)
            return hint + rng.uniform(0.0, 0.1 * hint)
        ceiling = min(self.max_s, self.base_s * 2.0 ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or an
    HTTP date); ``None`` when absent or unreadable. ``now`` is the wall-clock epoch time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    millis = lowered.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = lowered.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - now)
    return value if math.isfinite(value) and value >= 0 else None
