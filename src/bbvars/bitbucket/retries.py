"""When and how long a request is tried again: the policy, the waits (Retry-After or exponential backoff with
jitter), which failures are worth another try, and the worst case the policy allows (documented in README)."""

from __future__ import annotations

import email.utils
import random
import threading
import time
from dataclasses import dataclass

import httpx
import tenacity

from bbvars.bitbucket import transport

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # per request, the first included
    initial: float = 0.5  # first backoff in seconds, doubled each time, with as much jitter
    max_wait: float = 20.0  # longest single wait (also caps a Retry-After)
    max_total: float = 120.0  # stop retrying a request once this much time has passed since its first try

    def give_up(self, attempt_time: float, jitter: bool) -> tuple[int, float]:
        """(attempts, seconds) until a request fails when every attempt takes `attempt_time` and ends in a retryable
        failure without Retry-After; `jitter` False gives the fewest seconds, True the most. As tenacity does it:
        after each attempt, stop at `attempts` or once `max_total` has passed since the first began."""
        elapsed = 0.0
        for attempt in range(1, self.attempts + 1):
            elapsed += attempt_time
            if attempt == self.attempts or elapsed >= self.max_total:
                return attempt, elapsed
            elapsed += min(self.initial * 2 ** (attempt - 1) + (self.initial if jitter else 0.0), self.max_wait)
        raise AssertionError("unreachable")  # pragma: no cover


DEFAULT_RETRY = RetryPolicy()


# Set on a response when an earlier attempt of the same request may have reached Bitbucket and been applied.
MAYBE_APPLIED = "bbvars.maybe_applied"


def nap(seconds: float, halt: threading.Event, cancel: threading.Event | None = None) -> None:
    """A retry's wait, cut short once the run stops at a lasting rate limit (`halt`) or is cancelled (SIGINT/SIGTERM:
    a backoff of up to max_wait must not hold the exit). Tests replace it to record the waits instead."""
    end = time.monotonic() + seconds
    while not halt.is_set() and not (cancel is not None and cancel.is_set()):
        left = end - time.monotonic()
        if left <= 0:
            return
        halt.wait(min(left, 0.1))


class RetryableStatus(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, RetryableStatus):
        return None
    return retry_after_seconds(exc.response.headers.get("Retry-After"), time.time())


def retry_after_seconds(header: str | None, now: float) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`; None when absent or unreadable."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (ValueError, TypeError):
        return None  # unreadable: back off as if it were absent
    return max(0.0, when.timestamp() - now)


class WaitRetryAfterOrBackoff(tenacity.wait.wait_base):
    """Honour Retry-After when present; Bitbucket sends none on 429, so back off exponentially with jitter."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        hinted = retry_after(outcome.exception() if outcome is not None else None)
        if hinted is not None:
            return min(hinted, self.policy.max_wait)
        return self.backoff(retry_state.attempt_number)

    def backoff(self, attempt: int) -> float:
        # tenacity's wait_exponential_jitter, computed here: its `initial` is deprecated and `multiplier` is not in
        # every tenacity this package allows.
        initial = self.policy.initial
        try:
            base = initial * 2 ** (attempt - 1)
        except OverflowError:
            base = self.policy.max_wait
        return min(base + random.uniform(0, initial), self.policy.max_wait)


def is_retryable(exc: BaseException) -> bool:
    # A LocalProtocolError is our own request being malformed (a credential with a newline), and a certificate that
    # does not verify will not verify on the next try either: no retry can help.
    if isinstance(exc, httpx.LocalProtocolError) or transport.certificate_problem(exc) is not None:
        return False
    return isinstance(exc, (httpx.TransportError, RetryableStatus))


def may_have_been_applied(exc: BaseException | None) -> bool:
    """Whether a failed attempt may still have been carried out: not when refused before it reached Bitbucket."""
    if isinstance(exc, RetryableStatus):
        return exc.response.status_code != 429
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


class Gate:
    """At a 429, one request probes: it goes on with its retries and their backoff, while the client's other requests
    wait for its outcome instead of each retrying on its own. Concurrent requests meet a wall together and would
    otherwise retry it in lockstep, every retry one more refused request. Any answer but 429 opens the gate; a probe
    that ends hands the role to the next waiter. A nested request of the probe's thread (a token fetched inside its
    auth flow) passes. Waiters give up waiting once any of the events given is set (a stop, a cancel)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._limited = False  # the latest answer (to any request) was 429
        self._probe: tuple[int, object] | None = None  # (thread, request) that probes

    def turn(self, me: object, most: float, *events: threading.Event | None) -> None:
        """Wait, before an attempt of `me`, while another request probes: `most` seconds at most (a probe ends
        within its own retry bound; this one is a safety net, never reached by a probe that behaves)."""
        thread = threading.get_ident()
        until = time.monotonic() + most
        with self._cond:
            while self._limited and self._probe is not None and self._probe[1] is not me and self._probe[0] != thread:
                if any(event is not None and event.is_set() for event in events) or time.monotonic() >= until:
                    return
                self._cond.wait(0.2)
            if self._limited and self._probe is None:
                self._probe = (thread, me)

    def answered(self, me: object, status: int) -> None:
        if status != 429 and not self._limited:
            return  # the common case, without the lock
        with self._cond:
            if status == 429:
                self._limited = True
                if self._probe is None:
                    self._probe = (threading.get_ident(), me)
            elif self._limited:
                self._limited, self._probe = False, None
                self._cond.notify_all()

    def leave(self, me: object) -> None:
        """`me` ended (answered, failed or gave up): if it probed, the next waiter takes over."""
        with self._cond:
            if self._probe is not None and self._probe[1] is me:
                self._probe = None
                self._cond.notify_all()
