"""The 429 wall and what a stop leaves behind: at a 429 one request probes while the others wait, and once the run
has concluded that Bitbucket's rate limit lasts, no worker sends another retry or write; and the fingerprint variable says what became of the writes that landed, written when
the budget kept room for it (max-requests), reported not written when a lasting 429 refuses every request."""

from __future__ import annotations

import time

import pytest

from bbvars.bitbucket import client as client_module
from bbvars.bitbucket.retries import RetryPolicy
from bbvars.emulator import Emulator, Fault
from bbvars.models import Variable
from bbvars.sync import applier as applier_module
from bbvars.sync import budget
from tests.support import api_writes
from tests.sync.test_budget import FINGERPRINT_KEY, HOUR, every_key_once, not_attempted, plain, sync

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
    # At the wall the writes in flight are refused once each; then one of them probes with its retries while the
    # others wait for it (retries.Gate), rather than all retrying in lockstep (48 refused here before).
    policy = client_module.DEFAULT_RETRY
    assert sum(r.status == 429 for r in emulator.requests) <= CONCURRENCY + policy.attempts - 1


# -- what becomes of the fingerprints at a stop ---------------------------------------------------------------------

SECURED = [Variable(f"S{i}", f"secret-{i}", True) for i in range(8)]
FINGERPRINTS = dict(fingerprint=True, fingerprint_key=FINGERPRINT_KEY)



def test_the_stop_cause_is_known_before_the_waiters_are_woken(emulator: Emulator, monkeypatch) -> None:
    """The probe that concludes the limit lasts records the run's stop before it sets the halt: a waiter woken at
    once must find that cause (it was `not attempted: None`, exit 1, when the probe's thread was slow to record it)."""
    monkeypatch.setattr(client_module, "DEFAULT_RETRY", RetryPolicy(attempts=6, initial=0.02, max_wait=0.2))
    emulator.hourly_limit = HOUR
    exhausted = client_module.BitbucketClient._exhausted

    def slow(self, *args):  # the probe's thread descheduled while it words the cause
        time.sleep(0.5)
        return exhausted(self, *args)

    monkeypatch.setattr(client_module.BitbucketClient, "_exhausted", slow)
    wanted = plain(70)
    stopped = sync(emulator, wanted, concurrency=CONCURRENCY)
    every_key_once(stopped, wanted)
    assert budget.stopped(stopped)
    assert stopped.failed and all(f["error"].startswith("not attempted: rate limit") for f in stopped.failed), {
        f["error"][:60] for f in stopped.failed}

def test_a_cap_stop_still_records_the_writes_that_landed(emulator: Emulator) -> None:
    # A retry spends the request the 4th create was planned with: that create is refused by the cap, and the
    # fingerprint write, for which the cap kept room, still records the 3 that landed.
    emulator.inject(Fault(method="POST", path="/variables", status=500, times=1))

    capped = sync(emulator, SECURED, max_requests=7, concurrency=1, **FINGERPRINTS)

    assert len(emulator.requests) == 7 and [r.method for r in api_writes(emulator)][-1] == "POST"
    assert capped.created == ["S0", "S1", "S2"] and capped.fingerprints == "created"
    assert not_attempted(capped) == ["S3", "S4", "S5", "S6", "S7"] and budget.stopped(capped)
    every_key_once(capped, SECURED)
    emulator.reset_requests()

    again = sync(emulator, SECURED, **FINGERPRINTS)

    # The re-run sends the minimum: the 5 creates left and the fingerprint update; the 3 recorded stay unsent.
    assert again.ok and again.unchanged == ["S0", "S1", "S2"] and again.created == ["S3", "S4", "S5", "S6", "S7"]
    assert [r.method for r in api_writes(emulator)] == ["POST"] * 5 + ["PUT"]


def test_a_wall_stop_says_the_fingerprints_were_not_written_and_the_rerun_makes_them_true(emulator: Emulator) -> None:
    emulator.hourly_limit = 5  # the listing and 4 creates, then 429s for the rest of the hour

    stopped = sync(emulator, SECURED, concurrency=1, **FINGERPRINTS)

    assert stopped.created == ["S0", "S1", "S2", "S3"] and budget.stopped(stopped)
    assert all(f["error"].startswith("not attempted: rate limit") for f in stopped.failed)
    # The fingerprint write was not sent (every request meets a 429), and the report says so and what it costs.
    assert stopped.fingerprints == "not written"
    assert [r.method for r in api_writes(emulator) if r.status != 429] == ["POST"] * 4
    assert any("BBVARS_FINGERPRINTS" in line and "not written" in line and "4 secured" in line
               and "rewrites them once" in line for line in stopped.warnings), stopped.warnings
    emulator.pass_time(3600)
    emulator.hourly_limit = None  # a fresh hour, with room for the rest
    emulator.reset_requests()

    again = sync(emulator, SECURED, **FINGERPRINTS)

    # The 4 written without a record cannot be compared: rewritten once, with the 4 left and the fingerprints.
    assert again.ok and sorted(again.updated) == ["S0", "S1", "S2", "S3"] and again.fingerprints == "created", (again.failed, again.error)
    assert sorted(r.method for r in api_writes(emulator)) == ["POST"] * 5 + ["PUT"] * 4
    emulator.reset_requests()

    third = sync(emulator, SECURED, **FINGERPRINTS)

    assert third.ok and len(third.unchanged) == 8 and api_writes(emulator) == []


def test_a_wall_stop_names_the_entries_it_left_describing_earlier_values(emulator: Emulator) -> None:
    emulator.hourly_limit = 4 + 2  # the first run (1 listing + 2 creates + 1 fingerprint write), then 1 listing + 1
    first = [Variable("S0", "a", True), Variable("S1", "a", True)]
    assert sync(emulator, first, **FINGERPRINTS).fingerprints == "created"

    stopped = sync(emulator, [Variable("S0", "b", True), Variable("S1", "b", True)], concurrency=1, **FINGERPRINTS)

    assert stopped.updated == ["S0"] and budget.stopped(stopped) and stopped.fingerprints == "not written"
    assert stopped.warnings == [
        "BBVARS_FINGERPRINTS not written, as Bitbucket's rate limit refuses every request: the 1 secured value(s) "
        "written by this run are not recorded, so the next run rewrites them once; until then its entries for S0 "
        "still describe their earlier values, so a re-run asking for those earlier values would take them as "
        "unchanged"]


def test_the_gate_lets_one_request_probe_a_429_and_opens_on_any_other_answer() -> None:
    import threading
    import time

    from bbvars.bitbucket.retries import Gate

    gate, probe, other = Gate(), object(), object()
    gate.turn(probe, 5.0)
    gate.answered(probe, 429)  # the first 429: this request probes
    gate.turn(probe, 5.0)  # the probe itself never waits, nor a request nested on its thread (a token fetched)
    gate.turn(other, 5.0)
    passed = threading.Event()
    waiter = threading.Thread(target=lambda: (gate.turn(other, 5.0), passed.set()))
    waiter.start()
    assert not passed.wait(0.3)  # another thread's request waits for the probe
    gate.answered(probe, 200)  # the limit did not last: everyone goes on
    assert passed.wait(2.0)
    waiter.join()

    gate.answered(probe, 429)
    stop = threading.Event()
    passed.clear()
    waiter = threading.Thread(target=lambda: (gate.turn(other, 5.0, None, stop), passed.set()))
    waiter.start()
    stop.set()  # the run stopped (or was cancelled): the waiter ends its wait, and then sends nothing
    assert passed.wait(2.0)
    waiter.join()

    began = time.monotonic()
    done: list[float] = []
    waiter = threading.Thread(target=lambda: (gate.turn(other, 0.3), done.append(time.monotonic() - began)))
    waiter.start()
    waiter.join(3.0)
    assert done and done[0] < 2.0  # a probe that never ends keeps no one waiting past the bound
