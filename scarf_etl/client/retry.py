"""How long to wait before the next attempt: `Retry-After` first, else capped jittered backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), or None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def backoff_delay(attempt: int, *, initial: float, maximum: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(maximum, initial * 2**(attempt-1))].

    Jitter spreads the retries of many concurrent downloads so they do not hit a recovering
    server in lockstep.
    """
    ceiling = min(maximum, initial * (2 ** max(0, attempt - 1)))
    return rng.uniform(0.0, ceiling)


def next_wait(
    attempt: int,
    retry_after: float | None,
    *,
    initial: float,
    maximum: float,
    retry_after_max: float,
    rng: random.Random,
) -> float:
    """The wait after failed attempt number `attempt` (1-based)."""
    if retry_after is not None:
        return min(retry_after, retry_after_max)
    return backoff_delay(attempt, initial=initial, maximum=maximum, rng=rng)
