"""A run's cost in requests and its request budget, against the emulator over real HTTP with a small hourly budget:
the dry run's cost equals what the real run spends (the server's count), a capped run stops at the cap with a true
report, its re-run sends exactly the writes left, a lasting rate limit ends in the same clean stop, and the
access-token headers slow a run down before the wall."""

from __future__ import annotations

import threading

import httpx
import pytest

from bbvars.bitbucket import meter as meter_module
from bbvars.bitbucket.answers import rate_limit
from bbvars.emulator import Emulator
from bbvars.errors import Cancelled, speak
from bbvars.models import Job, Policy, RemoteVariable, Target, Variable
from bbvars.redaction import Redactor
from bbvars.request.settings import Settings
from bbvars.surfaces.cli.options import cli_voice
from bbvars.sync import budget
from bbvars.sync.plan import Action, Operation
from tests.support import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, api_writes, seed, sync_one
from tests.support import run_jobs as engine_run

pytestmark = pytest.mark.usefixtures("fast_retry")

BUDGET = "not attempted: request budget"
HOUR = 50  # the emulator's hourly budget in these tests
FINGERPRINT_KEY = "0be41abda2043795d0d97d7e7537b49d"  # 128 bits, as BBVARS_FINGERPRINT_KEY must hold


@pytest.fixture
def small(emulator: Emulator) -> Emulator:
    emulator.hourly_limit = HOUR
    return emulator


def settings_for(emu: Emulator, **values) -> Settings:
    base = dict(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=emu.api_url, token_url=emu.token_url,
                workspace="acme", repository="api")
    return Settings(**{**base, **values})


def sync(emu: Emulator, variables: list[Variable], **values):
    return sync_one(settings_for(emu, **values), variables, Redactor())


def plain(count: int, prefix: str = "K", value: str = "v") -> list[Variable]:
    return [Variable(f"{prefix}{i:02d}", value) for i in range(count)]


def not_attempted(result) -> list[str]:
    assert all(f["error"].startswith(BUDGET) for f in result.failed), result.failed
    return sorted(f["key"] for f in result.failed)


def every_key_once(result, variables: list[Variable]) -> None:
    told = result.created + result.updated + result.unchanged + [f["key"] for f in result.failed]
    assert sorted(told) == sorted(v.key for v in variables)


# -- the cost ---------------------------------------------------------------------------------------------------------


def test_the_dry_runs_cost_is_what_the_real_run_spends_by_the_servers_count(small: Emulator) -> None:
    seed(small, {"SAME": "s", "OLD": "o", "GONE": "g"})
    seed(small, {"SECRET": "was"}, secured=True)
    wanted = [Variable("SAME", "s"), Variable("OLD", "new"), Variable("SECRET", "now", True), *plain(5)]
    options = dict(prune=True, fingerprint=True, fingerprint_key=FINGERPRINT_KEY)

    dry = sync(small, wanted, dry_run=True, **options)
    # 1 token + 1 listing page + 5 creates + 2 updates + 1 delete + 1 fingerprint write
    assert dry.cost == {**dry.cost, "token": 1, "listing": 1, "writes": 8, "fingerprints": 1, "needed": 11,
                        "spent": 2, "exact": True}
    assert dry.as_json()["requests"]["needed"] == 11
    small.reset_requests()

    real = sync(small, wanted, **options)

    assert real.ok and real.cost["needed"] == 11 and real.cost["spent"] == 11 == len(small.requests)
    assert real.requests == 11


def test_many_targets_cost_per_target_and_in_total(small: Emulator) -> None:
    seed(small, {f"E{i:03d}": "x" for i in range(120)}, repository="api", environment="Test")
    jobs = [Job(Target("acme", "api"), plain(3), Policy(), name="repo"),
            Job(Target("acme", "api", "Test"), plain(2, "E"), Policy(), name="test"),
            Job(Target("acme", "api", "Staging"), plain(1), Policy(), name="staging")]
    settings = settings_for(small, dry_run=True)

    dry = engine_run(settings, jobs, Redactor())
    small.reset_requests()
    real = engine_run(Settings(**{**settings.__dict__, "dry_run": False}), jobs, Redactor())

    repo, test, staging = (t.cost for t in real.targets)
    assert (repo["listing"], repo["writes"], repo["needed"]) == (1, 3, 4)
    # The environments are listed once for the repository, counted with its first deployment target; the Test
    # environment holds 120 variables: two pages.
    assert (test["environments"], test["listing"], test["writes"], test["needed"]) == (1, 2, 2, 5)
    assert (staging["environments"], staging["listing"], staging["needed"]) == (0, 1, 2)
    assert dry.cost["needed"] == real.cost["needed"] == 1 + 4 + 5 + 2 == real.cost["spent"] == len(small.requests)
    assert [t.cost["needed"] for t in dry.targets] == [4, 5, 2]
    assert real.as_json()["requests"]["needed"] == 12


def test_a_target_not_listed_is_a_bound(small: Emulator) -> None:
    jobs = [Job(Target("acme", "nope"), tuple(plain(4)), Policy())]
    result = engine_run(settings_for(small, dry_run=True), jobs, Redactor())
    cost = result.targets[0].cost
    assert cost["exact"] is False and cost["needed"] == 1 + 1 + 4
    assert "not listed, so a bound" in budget.cost_line(cost, True)


def test_operation_costs() -> None:
    secured = RemoteVariable("{1}", "K", None, True)
    twice = (RemoteVariable("{2}", "K", "a", False), RemoteVariable("{3}", "K", "b", False))
    assert budget.op_cost(Operation(Action.CREATE, "K", Variable("K", "v"))) == 1
    assert budget.op_cost(Operation(Action.UNCHANGED, "K", Variable("K", "v"), twice[0])) == 0
    assert budget.op_cost(Operation(Action.UPDATE, "K", Variable("K", "v"), twice[0], others=twice[1:])) == 2
    assert budget.op_cost(Operation(Action.DELETE, "K", remote=twice[0], others=twice[1:])) == 2
    # secured -> plain: delete, then create
    assert budget.op_cost(Operation(Action.UPDATE, "K", Variable("K", "v"), secured)) == 2


def test_over_the_hour_a_dry_run_says_so_with_the_numbers(small: Emulator) -> None:
    small.add_access_token(ACCESS_TOKEN)
    wanted = plain(60)
    result = sync(small, wanted, dry_run=True, client_id=None, client_secret=None, access_token=ACCESS_TOKEN)
    line = speak(budget.hourly_line(result.cost) or "", cli_voice)  # as the CLI says it
    assert line == ("requests: this run needs 61 API requests, over the 50 an hour Bitbucket allows an access token: "
                    "run fewer targets at once (--target), cap the run (--max-requests; a re-run continues with what "
                    "is left), or run the rest after the hour")
    assert budget.hourly_line({"needed": 1006, "token": 1, "hourly": 1000, "credential": "oauth-consumer"}).startswith(
        "requests: this run needs 1,005 API requests, over the 1,000 an hour Bitbucket allows an OAuth consumer")
    assert "hourly" not in sync(small, plain(3), dry_run=True).cost


# -- the cap -----------------------------------------------------------------------------------------------------------


def test_a_capped_run_stops_at_the_cap_and_the_rerun_sends_exactly_the_rest(small: Emulator) -> None:
    wanted = plain(30)

    capped = sync(small, wanted, max_requests=20)

    # 1 token + 1 listing + 18 creates, in the plan's order; the other 12 not attempted, each told once.
    assert len(small.requests) == 20 == capped.cost["spent"]
    assert capped.created == [v.key for v in wanted[:18]]
    assert not_attempted(capped) == [v.key for v in wanted[18:]]
    every_key_once(capped, wanted)
    assert budget.stopped(capped) and capped.cost["stopped"] == "request budget" and capped.cost["needed"] == 32
    assert capped.error.startswith("request budget: the run may send 20 requests")
    small.reset_requests()

    again = sync(small, wanted)

    assert again.ok and again.created == [v.key for v in wanted[18:]] and len(again.unchanged) == 18
    assert [(r.method, r.status) for r in api_writes(small)] == [("POST", 201)] * 12
    assert again.cost["spent"] == again.cost["needed"] == 1 + 1 + 12 == len(small.requests)


def test_the_cap_keeps_room_for_the_fingerprint_write(emulator: Emulator) -> None:
    wanted = [Variable(f"S{i}", f"secret-{i}", True) for i in range(8)]

    capped = sync(emulator, wanted, max_requests=7, fingerprint=True, fingerprint_key=FINGERPRINT_KEY)

    # 1 token + 1 listing + 4 creates + the fingerprint write: the 4 written are known next time.
    assert capped.created == ["S0", "S1", "S2", "S3"] and capped.fingerprints == "created"
    assert not_attempted(capped) == ["S4", "S5", "S6", "S7"] and len(emulator.requests) == 7
    emulator.reset_requests()

    again = sync(emulator, wanted, fingerprint=True, fingerprint_key=FINGERPRINT_KEY)

    assert again.ok and again.unchanged == ["S0", "S1", "S2", "S3"] and again.created == ["S4", "S5", "S6", "S7"]
    assert [r.method for r in api_writes(emulator)] == ["POST"] * 4 + ["PUT"]  # the rest, then the fingerprints


def test_a_cap_below_the_listing_stops_before_anything_is_written(emulator: Emulator) -> None:
    wanted = plain(3)
    result = engine_run(settings_for(emulator, max_requests=1),
                        [Job(Target("acme", "api"), tuple(wanted), Policy()),
                         Job(Target("acme"), tuple(plain(2, "W")), Policy())], Redactor())
    assert len(emulator.requests) == 1  # the token; the listings would pass the cap
    for target in result.targets:
        assert not_attempted(target) and target.error.startswith("request budget")
    assert budget.stopped(result)


# -- a rate limit that lasts --------------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float, cancel=None) -> None:
        self.now += seconds


def test_a_lasting_rate_limit_is_a_clean_stop_and_the_rerun_continues(small: Emulator) -> None:
    small.budget.clock = clock = Clock()
    wanted = plain(60)

    stopped = sync(small, wanted, concurrency=1)

    # 50 API requests got through (1 listing + 49 creates), then Bitbucket kept answering 429.
    assert stopped.created == [v.key for v in wanted[:49]]
    failed = sorted(f["key"] for f in stopped.failed)
    assert failed == [v.key for v in wanted[49:]]
    assert all(f["error"].startswith("not attempted: rate limit: Bitbucket still answered 429 after the retries")
               for f in stopped.failed)
    assert "do not say when its rolling hour frees requests" in stopped.error  # Bitbucket does not say: no guess
    every_key_once(stopped, wanted)
    assert budget.stopped(stopped) and stopped.cost["stopped"] == "rate limit"
    clock.now += 3600
    small.reset_requests()

    again = sync(small, wanted, concurrency=1)

    assert again.ok and again.created == [v.key for v in wanted[49:]]
    assert len(api_writes(small)) == 11


def test_access_token_headers_slow_the_run_before_the_wall(small: Emulator, monkeypatch) -> None:
    small.add_access_token(ACCESS_TOKEN)
    clock = Clock()
    small.budget.clock = clock
    monkeypatch.setattr(meter_module, "clock", clock)
    monkeypatch.setattr(meter_module, "pause", clock.pause)
    monkeypatch.setattr(meter_module, "MIN_LIMIT", 50)  # the emulator's small hour stands in for Bitbucket's 1,000
    # Another program spent 40 of the 50 over the past hour, evenly.
    for i in range(40):
        small.budget.spend(f"access token {ACCESS_TOKEN}", 1, at=clock.now - 3500 + i * 87.5)
    wanted = plain(29)
    options = dict(client_id=None, client_secret=None, access_token=ACCESS_TOKEN, concurrency=1)

    result = sync(small, wanted, **options)

    # 30 requests (1 listing + 29 creates) where 10 were left: the listing's answer said NearLimit, so the creates
    # went 72 s apart (3,600 s / 50), the hour freed enough on the way, and Bitbucket never answered 429.
    assert result.ok and len(result.created) == 29
    assert [r.status for r in small.requests if r.status == 429] == []
    assert result.cost["paced"]["requests"] == 28 and result.cost["paced"]["seconds"] == pytest.approx(28 * 72)


def test_without_slowing_down_the_same_run_hits_the_wall(small: Emulator, monkeypatch) -> None:
    small.add_access_token(ACCESS_TOKEN)
    clock = Clock()
    small.budget.clock = clock
    for i in range(40):
        small.budget.spend(f"access token {ACCESS_TOKEN}", 1, at=clock.now - 3500 + i * 87.5)
    monkeypatch.setattr(meter_module.Meter, "_turn", lambda self: 0.0)

    result = sync(small, plain(29), client_id=None, client_secret=None, access_token=ACCESS_TOKEN, concurrency=1)

    assert not result.ok and result.cost["stopped"] == "rate limit" and len(result.created) == 9


def test_the_wall_with_writes_in_flight_tells_each_key_once(small: Emulator) -> None:
    wanted = plain(70)

    stopped = sync(small, wanted)  # 8 writes in flight meet the 429s together

    every_key_once(stopped, wanted)
    assert budget.stopped(stopped) and len(stopped.created) == 49
    assert all(f["error"].startswith("not attempted: rate limit") for f in stopped.failed)


def test_when_the_hour_frees_requests_is_said_only_when_the_server_says_it(emulator: Emulator) -> None:
    import time

    from bbvars.emulator import Fault

    at = int(time.time()) + 600
    emulator.inject(Fault(path="^/2.0/", status=429, times=-1, headers={"X-RateLimit-Reset": str(at)}))

    result = sync(emulator, plain(2))

    shown = time.strftime("%H:%M:%S UTC", time.gmtime(at))
    assert budget.stopped(result) and f"Bitbucket says requests are allowed again at {shown}" in result.error


def test_rate_limit_headers_are_read_only_as_given() -> None:
    import httpx

    from bbvars.bitbucket.answers import frees_at, rate_limit

    def answer(**headers: str) -> httpx.Response:
        return httpx.Response(200, headers=headers)

    assert rate_limit(answer()) is None  # an OAuth consumer's answers carry none
    assert rate_limit(answer(**{"X-RateLimit-Limit": "1000", "X-RateLimit-NearLimit": "true"})) == (1000, True)
    assert rate_limit(answer(**{"X-RateLimit-Limit": "lots", "X-RateLimit-NearLimit": "false"})) == (None, False)
    assert frees_at(answer(), 100.0) is None  # no header: no guess
    assert frees_at(answer(**{"Retry-After": "30"}), 100.0) == 130.0


LISTING = "https://api.bitbucket.org/2.0/repositories/acme/api/pipelines_config/variables"


def near_limit(limit: str) -> httpx.Response:
    return httpx.Response(200, headers={"X-RateLimit-Limit": limit, "X-RateLimit-NearLimit": "true"},
                          request=httpx.Request("GET", LISTING))


def test_an_announced_limit_below_bitbucket_s_never_spaces_requests_more_than_3_6_s(monkeypatch) -> None:
    # A hostile or wrong server saying `Limit: 1` would have made each request wait an hour, past any --timeout.
    clock, waits = Clock(), []
    monkeypatch.setattr(meter_module, "clock", clock)
    monkeypatch.setattr(meter_module, "pause", lambda seconds, cancel: (waits.append(seconds), clock.pause(seconds)))
    meter = meter_module.Meter("https://api.bitbucket.org/2.0")
    meter.after(near_limit("1"))
    for _ in range(4):
        meter.before(httpx.Request("GET", LISTING))
    assert waits == [pytest.approx(3.6)] * 3 and meter.sent == 4


def test_a_request_cancelled_while_it_waits_its_turn_is_counted_nowhere(monkeypatch) -> None:
    cancel, clock = threading.Event(), Clock()
    monkeypatch.setattr(meter_module, "clock", clock)
    monkeypatch.setattr(meter_module, "pause", lambda seconds, stop: stop.set())  # cancelled at once
    meter = meter_module.Meter("https://api.bitbucket.org/2.0", cancel=cancel)
    meter.after(near_limit("1000"))
    meter.before(httpx.Request("GET", LISTING))  # the first goes at once
    with pytest.raises(Cancelled):
        meter.before(httpx.Request("GET", LISTING))
    assert meter.sent == 1 and meter.listed_on("repositories/acme/api/pipelines_config/variables") == 1
    assert meter.waited == 0.0  # what was waited, not the 3.6 s planned


def test_a_rate_limit_header_of_thousands_of_digits_is_no_limit() -> None:
    assert rate_limit(near_limit("9" * 5000)) == (None, True)
