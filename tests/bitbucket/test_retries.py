"""The retry policy's worst case: give_up() agrees with what the client and tenacity really do, and the docs' table of
give-up times is what give_up() computes."""

from __future__ import annotations

import re
import types

import httpx
import pytest
import tenacity

from bbvars.bitbucket import retries
from bbvars.bitbucket.client import BitbucketClient
from bbvars.bitbucket.retries import DEFAULT_RETRY, RetryPolicy
from bbvars.errors import ApiError
from bbvars.models import Target
from tests.support import ROOT

API = "https://api.example.test/2.0"
PATH = "repositories/acme/api/pipelines_config/variables"


@pytest.fixture
def clock(monkeypatch):
    """A clock that moves only when tenacity sleeps or an attempt 'takes' its time: no real waiting."""
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(tenacity, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(retries, "nap", lambda seconds, halt, cancel=None: sleep(seconds))
    return now, sleeps


@pytest.mark.parametrize("attempt_time", [0.0, 1.0, 5.0, 30.0, 60.0, 600.0])
@pytest.mark.parametrize("jitter", [False, True])
def test_give_up_matches_what_the_client_does(httpx_mock, monkeypatch, clock, attempt_time, jitter):
    now, _sleeps = clock
    monkeypatch.setattr(retries.random, "uniform", lambda low, high: high if jitter else low)

    def slow_timeout(request):
        now[0] += attempt_time
        raise httpx.ReadTimeout("slow")

    httpx_mock.add_callback(slow_timeout, is_reusable=True)
    with BitbucketClient(API, None) as bb, pytest.raises(ApiError):
        bb.list_variables(PATH, Target("acme", "api"))
    attempts, seconds = DEFAULT_RETRY.give_up(attempt_time, jitter)
    assert len(httpx_mock.get_requests()) == attempts
    assert now[0] == pytest.approx(seconds)


def test_give_up_never_exceeds_the_documented_ceiling():
    policy = DEFAULT_RETRY
    for timeout in (1, 5, 30, 59, 60, 61, 119, 120, 121, 600):
        _, seconds = policy.give_up(timeout, True)
        assert seconds <= policy.max_total + policy.max_wait + timeout


def test_the_docs_state_the_give_up_times_the_policy_gives():
    limits = (ROOT / "docs" / "limits.md").read_text()
    section = limits[limits.index("## Time\n"):limits.index("## Memory\n")]
    header = re.search(r"^\| the server \|(.*)\|$", section, re.M).group(1)
    timeouts = [float(t) for t in re.findall(r"--timeout (\d+)", header)]
    rows = {"never answers, or trickles": None, "always 429 (or 5xx), answered at once": 0.0}
    for name, fixed in rows.items():
        cells = re.search(rf"^\| {re.escape(name)} \|(.*)\|$", section, re.M).group(1).split("|")
        for timeout, cell in zip(timeouts, cells, strict=True):
            attempt_time = timeout if fixed is None else fixed
            attempts, low = DEFAULT_RETRY.give_up(attempt_time, False)
            _, high = DEFAULT_RETRY.give_up(attempt_time, True)
            assert cell.strip() == f"{attempts} tries, {low:g}-{high:g} s", (name, timeout)
    policy = RetryPolicy()
    assert f"at most {policy.attempts} times" in section and f"{policy.max_total:g} s have passed" in section


def test_a_retry_wait_ends_soon_after_a_cancel_or_a_halt():
    # A backoff can be max_wait (20 s) long: SIGINT/SIGTERM (cancel) or the run's stop (halt) must not wait it out.
    import threading
    import time

    for which in ("cancel", "halt"):
        halt, cancel = threading.Event(), threading.Event()
        threading.Timer(0.2, (cancel if which == "cancel" else halt).set).start()
        started = time.monotonic()
        retries.nap(20.0, halt, cancel)
        assert time.monotonic() - started < 2.0, which
    started = time.monotonic()
    retries.nap(0.3, threading.Event(), threading.Event())
    assert time.monotonic() - started >= 0.3  # else the whole wait
