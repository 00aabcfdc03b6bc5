"""Bitbucket's hourly request budget: each credential may send so many API requests per rolling hour (counted per
OAuth consumer, per user for Atlassian API tokens, per token for access tokens). A request over it is answered 429
with a text/plain body and no Retry-After header, as Bitbucket does; a refused request is not counted. Access tokens
on /2.0/repositories/* also get the X-RateLimit-* headers, whose NearLimit turns true once less than 20% is left.

The clock is an attribute (`clock`, seconds, default time.monotonic) so a test can let an hour pass at once."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW = 3600.0  # Bitbucket's window: a rolling hour
NEAR = 0.8  # NearLimit: less than 20% of the hour's budget left


def parse_rate(text: str) -> int:
    """`1000/h` (or a bare `1000`) -> 1000 requests an hour; ValueError otherwise."""
    number, _, unit = text.strip().partition("/")
    if unit.strip().lower() not in ("", "h", "hour"):
        raise ValueError("the rate is requests per hour, such as 1000/h")
    count = int(number)
    if count < 1:
        raise ValueError("the rate must be at least 1/h")
    return count


class HourlyBudget:
    """Timestamps of each credential's counted requests within the last hour. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._sent: dict[str, deque[float]] = {}

    def _window(self, who: str, now: float) -> deque[float]:
        sent = self._sent.setdefault(who, deque())
        while sent and sent[0] <= now - WINDOW:
            sent.popleft()
        return sent

    def take(self, who: str, limit: int | None) -> bool:
        """Count one request of `who`; False (and nothing counted) when `limit` requests were sent this hour."""
        with self._lock:
            now = self.clock()
            sent = self._window(who, now)
            if limit is not None and len(sent) >= limit:
                return False
            sent.append(now)
            return True

    def used(self, who: str) -> int:
        """Requests of `who` counted within the last hour."""
        with self._lock:
            return len(self._window(who, self.clock()))

    def spend(self, who: str, count: int, at: float | None = None) -> None:
        """Count `count` requests of `who` as sent at `at` (default: now), as another program would have: a test's
        way to start from a partly spent hour."""
        with self._lock:
            when = self.clock() if at is None else at
            sent = self._sent.setdefault(who, deque())
            sent.extend([when] * count)
            self._sent[who] = deque(sorted(sent))


    def advance(self, seconds: float) -> None:
        """Let `seconds` pass: every counted request becomes that much older (for a process whose clock a test
        cannot replace)."""
        with self._lock:
            for sent in self._sent.values():
                for i in range(len(sent)):
                    sent[i] -= seconds


def headers(used: int, limit: int) -> dict[str, str]:
    """The access-token headers after a request: the limit, and whether less than 20% of it is left."""
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Resource": "api",
            "X-RateLimit-NearLimit": "true" if used >= NEAR * limit else "false"}
