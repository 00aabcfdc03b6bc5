"""bbvars against a Bitbucket that misbehaves: rate limits, server errors, resets, stalls, expiring tokens, races and
listings that lie. Every test ends with `check`: each input key in exactly one outcome, and the emulator's state as
the report says, with no duplicate."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from bbvars.bitbucket import client as client_module
from bbvars.bitbucket import retries
from bbvars.bitbucket.client import DEFAULT_RETRY, RetryPolicy
from bbvars.emulator import Emulator, Fault
from tests.reliability.helpers import REPOSITORY, VARIABLES, WORKSPACE, check, settle, state, sync
from tests.support import CLIENT_ID, CLIENT_SECRET, FAST_RETRY, api_writes, env_for, seed, token_requests

pytestmark = pytest.mark.usefixtures("fast_retry")

COLLECTION = r"pipelines_config/variables$"  # list (GET) and create (POST)
ONE = r"pipelines_config/variables/"  # update (PUT) and delete (DELETE)
EXPIRED = json.dumps({"type": "error", "error": {"message": "Access token expired."}})


def statuses(emu: Emulator, method: str, path: str = "/variables") -> list[int]:
    return [r.status for r in emu.requests if r.method == method and path in r.path]


def mixed(emu: Emulator) -> dict[str, str]:
    """An input with something to create, to update and to leave alone; the target also has a key to prune."""
    seed(emu, {"UPD": "old", "SAME": "same", "GONE": "gone"})
    return {"NEW": "new", "UPD": "new", "SAME": "same"}


# -- rate limits and server errors ----------------------------------------------------------------------------------


def test_429_bursts_with_text_plain_and_no_retry_after_are_retried(emulator, monkeypatch, capsys):
    wanted = mixed(emulator)
    # What Bitbucket sends: a plain-text body and no Retry-After, so the client must back off on its own.
    burst = dict(status=429, body="Rate limit for this resource has been exceeded", content_type="text/plain")
    emulator.inject(Fault(method="GET", path=COLLECTION, times=2, **burst))
    emulator.inject(Fault(method="POST", path=COLLECTION, times=3, **burst))
    emulator.inject(Fault(method="PUT", path=ONE, times=3, **burst))

    result = sync(emulator, monkeypatch, capsys, wanted, "--concurrency", "1")

    report = check(emulator, result)
    assert result.run.code == 0
    assert (report["created"], report["updated"], report["unchanged"]) == (["NEW"], ["UPD"], ["SAME"])
    assert statuses(emulator, "GET") == [429, 429, 200]
    assert statuses(emulator, "POST") == [429, 429, 429, 201]
    assert statuses(emulator, "PUT") == [429, 429, 429, 200]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_server_errors_are_retried(emulator, monkeypatch, capsys, status, method):
    wanted = mixed(emulator)
    emulator.inject(Fault(method=method, path="/variables", status=status, times=2))

    result = sync(emulator, monkeypatch, capsys, wanted, "--prune")

    report = check(emulator, result)
    assert result.run.code == 0
    assert (report["created"], report["updated"], report["unchanged"], report["deleted"]) == (
        ["NEW"], ["UPD"], ["SAME"], ["GONE"])
    success = {"GET": 200, "POST": 201, "PUT": 200, "DELETE": 204}[method]
    assert statuses(emulator, method) == [status, status, success]


# -- connections reset --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_a_reset_connection_is_retried(emulator, monkeypatch, capsys, method):
    wanted = mixed(emulator)
    emulator.inject(Fault(method=method, path="/variables", reset=True, times=2))

    result = sync(emulator, monkeypatch, capsys, wanted, "--prune")

    report = check(emulator, result)
    assert result.run.code == 0
    assert (report["created"], report["updated"], report["deleted"]) == (["NEW"], ["UPD"], ["GONE"])
    assert len(statuses(emulator, method)) == 3


@pytest.mark.parametrize("secured", [False, True], ids=["plain", "secured"])
def test_a_create_applied_before_its_connection_reset_ends_as_one_variable_reported_once(
    emulator, monkeypatch, capsys, secured
):
    seed(emulator, {"SAME": "same"})

    def apply_then_reset(emu: Emulator) -> None:
        emu.seed_variable(WORKSPACE, "NEW", "new value", secured=secured, repository=REPOSITORY)

    emulator.inject(Fault(method="POST", path=COLLECTION, reset=True, action=apply_then_reset))

    result = sync(emulator, monkeypatch, capsys, {"NEW": "new value", "SAME": "same"},
                  secured=["NEW"] if secured else [])

    report = check(emulator, result)
    assert result.run.code == 0
    # The key did not exist when listed and exists now: this run created it, whatever the retry was told.
    assert report["created"] == ["NEW"] and report["unchanged"] == ["SAME"] and report["updated"] == []
    assert state(emulator)["NEW"] == [("new value", secured)]
    assert statuses(emulator, "POST") == [0, 409]


def test_a_reset_token_request_is_retried(emulator, monkeypatch, capsys):
    emulator.inject(Fault(path="oauth2", reset=True))
    result = sync(emulator, monkeypatch, capsys, {"A": "1"})
    check(emulator, result)
    assert result.run.code == 0 and len(token_requests(emulator)) == 2


# -- responses slower than the timeout ------------------------------------------------------------------------------


@pytest.fixture
def gate():
    """Holds the requests a fault's action stops at (`gate.wait`) until the test opens it, so a response is slower
    than any timeout by construction rather than by a delay racing it; opened at the end whatever happens."""
    opened = threading.Event()
    yield opened
    opened.set()


def held(gate: threading.Event):
    def hold(emu: Emulator) -> None:
        assert gate.wait(timeout=30), "the test never opened the gate"
    return hold


@pytest.mark.parametrize("method, path", [("GET", COLLECTION), ("POST", COLLECTION), ("PUT", ONE)])
def test_a_response_slower_than_the_timeout_is_retried(emulator, monkeypatch, capsys, gate, method, path):
    wanted = mixed(emulator)
    emulator.inject(Fault(method=method, path=path, action=held(gate)))  # the first one only; its retry goes through

    result = sync(emulator, monkeypatch, capsys, wanted, "--timeout", "1")
    gate.set()
    settle(emulator)  # the stalled request is carried out after bbvars gave up on it

    report = check(emulator, result)
    assert result.run.code == 0
    assert (report["created"], report["updated"], report["unchanged"]) == (["NEW"], ["UPD"], ["SAME"])
    assert len(statuses(emulator, method, path.rstrip("$"))) == 2


def test_a_create_that_timed_out_but_landed_before_its_retry(emulator, monkeypatch, capsys, gate):
    seed(emulator, {"SAME": "same"})

    def first_lands_then_retry(emu: Emulator) -> None:
        # The retry arrives: let the stalled first attempt be carried out, and wait until it has been.
        gate.set()
        deadline = time.monotonic() + 10
        while statuses(emu, "POST", VARIABLES)[0] == 0:
            assert time.monotonic() < deadline, "the first attempt was never carried out"
            time.sleep(0.01)

    emulator.inject(Fault(method="POST", path=COLLECTION, action=held(gate)))  # given up on by bbvars
    emulator.inject(Fault(method="POST", path=COLLECTION, action=first_lands_then_retry))

    result = sync(emulator, monkeypatch, capsys, {"NEW": "new", "SAME": "same"}, "--timeout", "1")
    settle(emulator)

    report = check(emulator, result)
    assert result.run.code == 0 and report["created"] == ["NEW"] and report["unchanged"] == ["SAME"]
    assert statuses(emulator, "POST", VARIABLES) == [201, 409]


def test_a_request_that_always_times_out_fails_with_its_cause(emulator, monkeypatch, capsys, gate):
    monkeypatch.setattr(client_module, "DEFAULT_RETRY", RetryPolicy(attempts=2, initial=0.01, max_wait=0.01))
    seed(emulator, {"A": "old"})
    emulator.inject(Fault(method="GET", path=COLLECTION, times=-1, action=held(gate)))

    result = sync(emulator, monkeypatch, capsys, {"A": "new", "B": "b"}, "--timeout", "1")
    gate.set()
    settle(emulator)

    report = check(emulator, result)
    assert result.run.code == 1
    assert len(statuses(emulator, "GET", VARIABLES)) == 2  # the policy's two attempts, then it gave up
    assert [f["key"] for f in report["failed"]] == ["A", "B"]
    assert all("did not answer" in f["error"] and "timeout setting" in f["error"] for f in report["failed"])
    assert "bbvars: error: repository acme/api: A, B failed: Bitbucket did not answer" in result.run.stderr
    assert api_writes(emulator) == []


# -- tokens -----------------------------------------------------------------------------------------------------------


def test_a_token_expiring_mid_run_is_renewed_once_and_every_key_succeeds(emulator, monkeypatch, capsys):
    wanted = {f"KEY_{i:02d}": f"value {i}" for i in range(30)}
    posts = []
    lock = threading.Lock()

    def expire_at_the_tenth_write(emu: Emulator) -> None:
        with lock:
            posts.append(1)
            if len(posts) == 10:
                emu.expire_tokens()

    emulator.inject(Fault(method="POST", path=COLLECTION, times=-1, action=expire_at_the_tenth_write))

    result = sync(emulator, monkeypatch, capsys, wanted, "--concurrency", "8")

    report = check(emulator, result)
    assert result.run.code == 0 and report["created"] == sorted(wanted)
    assert len(token_requests(emulator)) == 2  # the first, and exactly one renewal
    assert statuses(emulator, "POST", VARIABLES).count(401) >= 1
    assert statuses(emulator, "POST", VARIABLES).count(201) == 30


def test_a_token_expiring_while_the_token_endpoint_stumbles(emulator, monkeypatch, capsys):
    def expire_and_stumble(emu: Emulator) -> None:
        emu.expire_tokens()
        emu.inject(Fault(path="oauth2", status=502, times=2))

    emulator.inject(Fault(method="PUT", path=ONE, action=expire_and_stumble))
    wanted = mixed(emulator)

    result = sync(emulator, monkeypatch, capsys, wanted, "--concurrency", "1")

    report = check(emulator, result)
    assert result.run.code == 0 and report["updated"] == ["UPD"] and report["created"] == ["NEW"]
    assert [r.status for r in token_requests(emulator)] == [200, 502, 502, 200]


def test_a_token_endpoint_failing_transiently_is_retried(emulator, monkeypatch, capsys):
    emulator.inject(Fault(path="oauth2", status=503, times=2))
    result = sync(emulator, monkeypatch, capsys, {"A": "1", "B": "2"})
    check(emulator, result)
    assert result.run.code == 0
    assert [r.status for r in token_requests(emulator)] == [503, 503, 200]


def test_a_token_endpoint_that_stays_down_fails_before_any_api_request(emulator, monkeypatch, capsys):
    emulator.inject(Fault(path="oauth2", status=503, times=-1))
    result = sync(emulator, monkeypatch, capsys, {"A": "1", "B": "2"})
    report = check(emulator, result)
    assert result.run.code == 1
    assert len(token_requests(emulator)) == FAST_RETRY.attempts
    assert [r for r in emulator.requests if r.path.startswith("/2.0")] == []
    assert all("HTTP 503 for a token" in f["error"] for f in report["failed"])


def test_fresh_tokens_called_expired_do_not_loop(emulator, monkeypatch, capsys):
    emulator.inject(Fault(method="POST", path=COLLECTION, status=401, body=EXPIRED, times=-1))
    result = sync(emulator, monkeypatch, capsys, {f"K{i}": "v" for i in range(6)}, "--concurrency", "1")
    report = check(emulator, result)
    assert result.run.code == 1
    assert len(token_requests(emulator)) <= 2
    assert len(api_writes(emulator)) == 2  # the first write, once renewed; then the run stops
    assert sum("not attempted" in f["error"] for f in report["failed"]) == 5


# -- races and lying listings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("theirs, outcome", [("mine", "unchanged"), ("theirs", "updated")])
def test_a_variable_created_by_someone_else_between_list_and_create(emulator, monkeypatch, capsys, theirs, outcome):
    emulator.inject(Fault(method="POST", path=COLLECTION, action=lambda emu: seed(emu, {"RACE": theirs})))

    result = sync(emulator, monkeypatch, capsys, {"RACE": "mine"})

    report = check(emulator, result, raced={"RACE"})
    assert result.run.code == 0 and report[outcome] == ["RACE"]
    assert state(emulator) == {"RACE": [("mine", False)]}
    assert statuses(emulator, "POST", VARIABLES) == [409]


def test_a_variable_deleted_by_someone_else_before_its_update_is_created(emulator, monkeypatch, capsys):
    seed(emulator, {"UPD": "old", "SAME": "same"})
    emulator.inject(Fault(method="PUT", path=ONE,
                          action=lambda emu: emu.delete_variable(WORKSPACE, "UPD", repository=REPOSITORY)))

    result = sync(emulator, monkeypatch, capsys, {"UPD": "new", "SAME": "same"})

    report = check(emulator, result, raced={"UPD"})
    assert result.run.code == 0 and report["created"] == ["UPD"] and report["unchanged"] == ["SAME"]
    assert statuses(emulator, "PUT") == [404] and statuses(emulator, "POST", VARIABLES) == [201]


def test_a_variable_deleted_and_recreated_by_someone_else_before_its_update(emulator, monkeypatch, capsys):
    seed(emulator, {"UPD": "old"})

    def recreate(emu: Emulator) -> None:
        emu.delete_variable(WORKSPACE, "UPD", repository=REPOSITORY)
        seed(emu, {"UPD": "theirs"})

    emulator.inject(Fault(method="PUT", path=ONE, action=recreate))

    result = sync(emulator, monkeypatch, capsys, {"UPD": "new"})

    report = check(emulator, result, raced={"UPD"})
    assert result.run.code == 0 and report["updated"] == ["UPD"]
    assert state(emulator) == {"UPD": [("new", False)]}


@pytest.mark.parametrize("omit_size", [False, True], ids=["size", "no-size"])
@pytest.mark.parametrize("count", [250, 200])
def test_list_pages_without_next_links(emulator, monkeypatch, capsys, omit_size, count):
    existing = {f"VAR_{i:03d}": f"value {i}" for i in range(count)}
    seed(emulator, existing)
    emulator.omit_next, emulator.omit_size = True, omit_size

    result = sync(emulator, monkeypatch, capsys, {**existing, "EXTRA": "x"})

    report = check(emulator, result)
    assert result.run.code == 0
    assert report["unchanged"] == sorted(existing) and report["created"] == ["EXTRA"]
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert [r.query.get("pagelen") for r in gets] == ["100"] * len(gets)
    # Never stops early (a missed variable would be POSTed and meet a 409); stops on a short or an empty page.
    assert len(gets) == (2 if count == 200 and not omit_size else 3)  # `size`, when given, is trusted
    assert statuses(emulator, "POST", VARIABLES) == [201]


# -- guarantees: convergence, bounds, causes ------------------------------------------------------------------------


PARTIAL_FAILURES = {
    "503 on every create": Fault(method="POST", path=COLLECTION, status=503, times=-1),
    "reset on every update": Fault(method="PUT", path=ONE, reset=True, times=-1),
    "429 that never ends": Fault(method="PUT", path=ONE, status=429, times=-1),
    "400 on one create": Fault(method="POST", path=COLLECTION, status=400, times=1),
    "listing down": Fault(method="GET", path=COLLECTION, status=500, times=-1),
    "scope missing for writes": Fault(
        method="POST", path=COLLECTION, status=403, times=-1,
        body=json.dumps({"type": "error", "error": {
            "message": "Your credentials lack one or more required privilege scopes.",
            "detail": {"granted": ["pipeline"], "required": ["pipeline:variable"]}}})),
    "token expiring twice": Fault(method="PUT", path=ONE, status=401, body=EXPIRED, times=-1),
}


@pytest.mark.parametrize("fault", PARTIAL_FAILURES.values(), ids=PARTIAL_FAILURES.keys())
def test_a_rerun_after_a_partial_failure_converges(emulator, monkeypatch, capsys, fault):
    seed(emulator, {f"UPD_{i}": "old" for i in range(5)} | {f"SAME_{i}": "same" for i in range(3)})
    wanted = {f"UPD_{i}": "new" for i in range(5)} | {f"SAME_{i}": "same" for i in range(3)} | {
        f"NEW_{i}": "new" for i in range(5)}
    emulator.inject(fault)

    first = sync(emulator, monkeypatch, capsys, wanted, "--concurrency", "2")
    check(emulator, first)
    # A 429 that never ends is a clean stop (exit 4: a re-run continues), every other fault a failure.
    assert first.run.code == (4 if fault.status == 429 else 1) and first.report["failed"]
    assert first.run.stderr.count("bbvars: error:") <= 1

    emulator.clear_faults()
    second = sync(emulator, monkeypatch, capsys, wanted, "--concurrency", "2")
    check(emulator, second)
    assert second.run.code == 0

    emulator.reset_requests()
    third = sync(emulator, monkeypatch, capsys, wanted, "--concurrency", "2")
    report = check(emulator, third)
    assert third.run.code == 0 and report["unchanged"] == sorted(wanted)
    assert api_writes(emulator) == []


def test_a_permanent_503_stops_after_the_policy_attempts_and_stops_further_writes(emulator, monkeypatch, capsys):
    emulator.inject(Fault(method="POST", path=COLLECTION, status=503, times=-1))
    wanted = {f"K{i}": "v" for i in range(6)}

    result = sync(emulator, monkeypatch, capsys, wanted, "--concurrency", "1")

    report = check(emulator, result)
    assert result.run.code == 1
    assert statuses(emulator, "POST", VARIABLES) == [503] * FAST_RETRY.attempts
    causes = [f["error"] for f in report["failed"]]
    assert [c for c in causes if not c.startswith("not attempted: ")] == [
        c for c in causes if "HTTP 503 creating" in c and f"after {FAST_RETRY.attempts} attempts" in c][:1]
    assert sum(c.startswith("not attempted: ") for c in causes) == 5
    assert result.run.stderr.count("bbvars: error: repository acme/api: 6 keys not written (5 not attempted): "
                                   "Bitbucket answered HTTP 503 after") == 1
    # Keys never tried are not told they failed in a request they did not make.
    assert all("creating" not in c for c in causes if c.startswith("not attempted: "))


def test_with_concurrency_a_fatal_error_bounds_the_writes_in_flight(emulator, monkeypatch, capsys):
    emulator.inject(Fault(method="POST", path=COLLECTION, status=503, times=-1))
    result = sync(emulator, monkeypatch, capsys, {f"K{i:02d}": "v" for i in range(40)}, "--concurrency", "4")
    check(emulator, result)
    assert result.run.code == 1
    assert FAST_RETRY.attempts <= len(api_writes(emulator)) <= 4 * FAST_RETRY.attempts


def test_retries_are_bounded_in_total_time(emulator, monkeypatch, capsys):
    policy = RetryPolicy(attempts=1000, initial=0.02, max_wait=0.05, max_total=0.5)
    monkeypatch.setattr(client_module, "DEFAULT_RETRY", policy)
    emulator.inject(Fault(method="GET", path=COLLECTION, status=502, times=-1))

    result = sync(emulator, monkeypatch, capsys, {"A": "1"})

    check(emulator, result)
    assert result.run.code == 1
    assert 3 <= len(statuses(emulator, "GET")) < 100


def test_backoff_with_the_default_policy_grows_and_is_jittered(emulator, monkeypatch, capsys):
    monkeypatch.setattr(client_module, "DEFAULT_RETRY", DEFAULT_RETRY)
    waits: list[float] = []
    monkeypatch.setattr(retries, "nap", lambda seconds, halt, cancel=None: waits.append(seconds))
    policy = DEFAULT_RETRY
    emulator.inject(Fault(method="GET", path=COLLECTION, status=429, times=-1))

    runs = []
    for _ in range(2):
        waits.clear()
        result = sync(emulator, monkeypatch, capsys, {"A": "1"})
        check(emulator, result)
        assert result.run.code == 4 and "rate limit" in result.run.stderr  # a clean stop, not a failure
        runs.append(list(waits))

    for measured in runs:
        assert len(measured) == policy.attempts - 1  # a wait between attempts, none after the last
        for number, wait in enumerate(measured):
            base = min(policy.initial * 2 ** number, policy.max_wait)
            assert base <= wait <= min(base + policy.initial, policy.max_wait)
        assert measured == sorted(measured) and measured[-1] > 4 * measured[0]
    assert runs[0] != runs[1], "the waits are jittered"
    assert len(statuses(emulator, "GET")) == 2 * policy.attempts


CAUSES = {
    "missing scope": ("scope", "lack the scope pipeline:variable"),
    "repository not found": ("repository", "repository acme/nope not found"),
    "environment not found": ("environment", "deployment environment 'Nope' not found"),
    "wrong secret": ("secret", "rejected the OAuth client id or secret"),
    "public consumer": ("public", "consumer is public"),
    "unreachable": ("unreachable", "cannot reach Bitbucket at 127.0.0.1"),
    "not JSON": ("html", "not JSON"),
    "unreadable answer": ("garbled", "could not be read (DecodingError"),
}


@pytest.mark.parametrize("case, cause", CAUSES.values(), ids=CAUSES.keys())
def test_what_cannot_succeed_fails_with_its_cause_named(emulator, monkeypatch, capsys, request, case, cause):
    seed(emulator, {"A": "old"})
    env = env_for(emulator)
    args = ["--concurrency", "1"]
    if case == "scope":
        emulator.add_consumer("reader", CLIENT_SECRET + "-r", scopes=("pipeline",))
        env.update(BITBUCKET_CLIENT_ID="reader", BITBUCKET_CLIENT_SECRET=CLIENT_SECRET + "-r")
    elif case == "repository":
        args += ["-r", "nope"]
    elif case == "environment":
        args += ["-e", "Nope"]
    elif case == "secret":
        env.update(BITBUCKET_CLIENT_SECRET="wrong-secret-value")
    elif case == "public":
        emulator.add_consumer(CLIENT_ID, CLIENT_SECRET, private=False)
    elif case == "unreachable":
        # A port bound (so nothing else can take it) but never listening: every connection to it is refused.
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        request.addfinalizer(closed.close)
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
        env.update(BITBUCKET_API_URL=dead + "/2.0", BITBUCKET_TOKEN_URL=dead + "/site/oauth2/access_token")
    elif case == "html":
        emulator.inject(Fault(method="GET", path=COLLECTION, status=200, body="<html>login</html>",
                              content_type="text/html"))
    elif case == "garbled":
        emulator.inject(Fault(method="GET", path=COLLECTION, status=200, body="not gzip at all",
                              headers={"Content-Encoding": "gzip"}))

    result = sync(emulator, monkeypatch, capsys, {"A": "new", "B": "b", "C": "c"}, *args, env=env)

    report = check(emulator, result)
    assert result.run.code == 1
    assert len(report["failed"]) == 3 and not report["created"] + report["updated"] + report["unchanged"]
    assert any(cause in f["error"] for f in report["failed"]), report["failed"]
    assert "bbvars: error: " in result.run.stderr and cause in result.run.stderr
    assert len(api_writes(emulator)) <= 1  # a fatal answer stops the run at the first write
    assert state(emulator) == {"A": [("old", False)]}
