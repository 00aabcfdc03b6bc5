"""Every request of one client counted where it went, capped, and paced. Hooked onto the client's httpx requests, so
retries, paging and the token request are all seen, each once per attempt:

- counted: the token requests apart, every API request by the collection it reads or writes (the cost report);
- capped: with `cap` (the max-requests setting), the request that would pass it is never sent: BudgetSpent stops the
  run as a fatal answer does, and the engine reports it as a clean stop. The fingerprint writes' room is kept
  (`reserve`): other requests stop that much below the cap, so a retry spent on the way cuts a write, never the record
  of the writes that landed;
- paced: when Bitbucket's answers say X-RateLimit-NearLimit (access tokens only), the next requests are spaced at
  the hour's rate (3,600 s / X-RateLimit-Limit apart), so a run slows down rather than run into the wall.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Iterator
from urllib.parse import unquote

import httpx

from bbvars.bitbucket import answers, transport
from bbvars.errors import ApiError, Cancelled

HOUR = 3600.0
# Bitbucket's base hourly budget. An announced X-RateLimit-Limit below it is no Bitbucket answer (a test server, or a
# hostile one): honoured, `Limit: 1` would make every request wait an hour, past any --timeout. Spacing is therefore
# at most HOUR / MIN_LIMIT (3.6 s) apart.
MIN_LIMIT = 1000
REQUEST_BUDGET = "request budget"  # how a key the cap left unsent is told: "not attempted: request budget ..."


class BudgetSpent(ApiError):
    """The next request would pass the run's request budget: it is not sent, and the run stops cleanly."""

    def __init__(self, cap: int):
        super().__init__(f"{REQUEST_BUDGET} of {cap} requests reached (the max-requests setting), so no further "
                         "request was sent: a re-run continues with what is left", fatal=True)
        self.cap = cap


def pause(seconds: float, cancel: threading.Event | None) -> None:
    """Wait, or less once the run is cancelled. Tests replace it to let time pass at once."""
    (cancel or threading.Event()).wait(seconds)


def clock() -> float:
    return time.monotonic()


class Meter:
    def __init__(self, api_url: str, cap: int | None = None, cancel: threading.Event | None = None):
        self.base = unquote(httpx.URL(api_url.rstrip("/") + "/").path)  # "/2.0/"
        self.cap = cap
        self.cancel = cancel
        self.sent = 0  # requests sent (attempts: a retry is another request), the token's included
        self.token = 0  # token requests among them
        self.by_path: Counter[str] = Counter()  # API requests by collection path (decoded, no leading slash)
        self.listed: Counter[str] = Counter()  # GETs among them
        self.limit: int | None = None  # X-RateLimit-Limit, once an answer said it
        self.near = False  # the latest answer's X-RateLimit-NearLimit
        self.paced = 0  # requests that waited for their turn
        self.waited = 0.0  # seconds waited in all
        self.frees_at: float | None = None  # wall-clock time the server said requests are allowed again
        self.reserve = 0  # requests kept below the cap for the fingerprint writes (budget.py), released as they end
        self._share = threading.local()  # this thread's part of the reserve it may spend (Meter.reserved)
        self._lock = threading.Lock()
        self._next = 0.0  # clock() before which the next paced request may not start

    def attach(self, client) -> Meter:
        """Hook onto a BitbucketClient: the cap is checked before the client counts the request, so a request
        refused here is counted nowhere."""
        client.http.event_hooks["request"].insert(0, self.before)
        client.http.event_hooks["response"].append(self.after)
        return self

    @contextlib.contextmanager
    def reserved(self, share: int) -> Iterator[None]:
        """Requests this thread sends inside may spend `share` of the reserve (a target's fingerprint write); what
        is left of it is released after."""
        self._share.left = share
        try:
            yield
        finally:
            with self._lock:
                self.reserve = max(0, self.reserve - self._share.left)
            self._share.left = 0

    def _spent(self) -> bool:
        """Whether the next request would pass the cap (or eat into room kept for another thread's)."""
        if self.cap is None:
            return False
        return self.sent >= self.cap - max(0, self.reserve - getattr(self._share, "left", 0))

    def before(self, request: httpx.Request) -> None:
        with self._lock:
            if self._spent():
                raise BudgetSpent(self.cap or 0)
            wait = self._turn()
        if wait > 0:
            began = clock()
            with transport.paused():  # waiting for its turn is not the request's own time
                pause(wait, self.cancel)
            with self._lock:  # what was waited, not what was planned (a cancel cuts it short)
                self.paced += 1
                self.waited += clock() - began
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled()  # never sent: counted nowhere
        with self._lock:
            if self._spent():  # others may have gone first while this one waited
                raise BudgetSpent(self.cap or 0)
            self.sent += 1
            if getattr(self._share, "left", 0) > 0:
                self._share.left -= 1
                self.reserve -= 1
            path = unquote(request.url.path)
            if not path.startswith(self.base):
                self.token += 1
            else:
                path = path[len(self.base):].rstrip("/")
                collection = path if request.method in ("GET", "POST") else path.rpartition("/")[0]
                self.by_path[collection] += 1
                if request.method == "GET":
                    self.listed[collection] += 1

    def _turn(self) -> float:
        """Seconds this request waits: none unless Bitbucket said the hour's budget is nearly spent."""
        if not self.near or not self.limit:
            return 0.0
        now = clock()
        start = max(now, self._next)
        self._next = start + HOUR / max(self.limit, MIN_LIMIT)
        return start - now

    def after(self, response: httpx.Response) -> None:
        told = answers.rate_limit(response)
        if response.status_code == 429:
            self.frees_at = answers.frees_at(response, time.time()) or self.frees_at
        if told is None:
            return
        limit, near = told
        with self._lock:
            self.limit = limit or self.limit
            if near and not self.near:
                self._next = clock()  # from now on, one request per HOUR / limit
            self.near = near

    def spent_on(self, path: str) -> int:
        return self.by_path[unquote(path)]

    def listed_on(self, path: str) -> int:
        return self.listed[unquote(path)]
