"""The 429 wall and what a stop leaves behind: once the run has concluded that Bitbucket's rate limit lasts, no worker
sends another retry or write; and the fingerprint variable says what became of the writes that landed, written when
the budget kept room for it (max-requests), reported not written when a lasting 429 refuses every request."""

from __future__ import annotations

import pytest

from bbvars.bitbucket import client as client_module
from bbvars.bitbucket.retries import RetryPolicy
from bbvars.emulator import Emulator
from bbvars.sync import applier as applier_module
from bbvars.sync import budget
from tests.sync.test_budget import HOUR, every_key_once, plain, sync

pytestmark = pytest.mark.usefixtures("fast_retry")

CONCURRENCY = 8


def watch_the_stop(monkeypatch, emulator: Emulator) -> tuple[list[int], list[bool]]:
    """The emulator's request count at the moment the run decides to stop (Applier.stop first set), and for each
    attempt the client begins, whether the decision had been made by then."""
    marks: list[int] = []
    begun: list[bool] = []

    def setter(self, value) -> None:
        if value is not None and not marks:
            marks.append(len(emulator.requests))
        self.__dict__["_stop"] = value

    monkeypatch.setattr(applier_module.Applier, "stop", property(lambda self: self.__dict__.get("_stop"), setter),
                        raising=False)
    attempt = client_module.BitbucketClient._attempt

    def watched(self, *args):
        begun.append(bool(marks))
        return attempt(self, *args)

    monkeypatch.setattr(client_module.BitbucketClient, "_attempt", watched)
    return marks, begun


@pytest.mark.parametrize("attempt", range(3))
def test_at_the_wall_no_retry_or_write_is_sent_after_the_stop_decision(emulator: Emulator, monkeypatch,
                                                                        attempt) -> None:
    # Backoff long enough that the workers' retries drift apart, as Bitbucket's jittered seconds do.
    monkeypatch.setattr(client_module, "DEFAULT_RETRY", RetryPolicy(attempts=6, initial=0.02, max_wait=0.2))
    emulator.hourly_limit = HOUR
    marks, begun = watch_the_stop(monkeypatch, emulator)
    wanted = plain(70)

    stopped = sync(emulator, wanted, concurrency=CONCURRENCY)

    every_key_once(stopped, wanted)
    assert budget.stopped(stopped) and len(stopped.created) == HOUR - 1
    assert all(f["error"].startswith("not attempted: rate limit") for f in stopped.failed)
    # Once the run has decided to stop, no attempt begins: not a retry, not a new write. Only answers to attempts
    # already on their way may reach the server after it, one per other worker at most.
    assert sum(begun) == 0
    assert len(emulator.requests) - marks[0] <= CONCURRENCY - 1
