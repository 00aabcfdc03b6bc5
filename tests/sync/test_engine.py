"""The engine against the emulator over real HTTP on loopback: paging, races, secured values, dry runs, pruning,
tokens, retries, environments, scopes."""

from __future__ import annotations

import threading
import time

import pytest

from bbvars.emulator import Emulator, Fault
from bbvars.errors import NotFoundError
from bbvars.models import Job, Policy, Target, Variable
from bbvars.redaction import Redactor
from bbvars.request.run import for_target, policy_of, request_of, target_of
from bbvars.request.settings import Settings
from bbvars.sync.engine import (
    NOT_ATTEMPTED,
    RunResult,
    SyncResult,
    mint_token,
    open_client,
    resolve_environment,
)
from tests.support import CLIENT_ID, CLIENT_SECRET, FAST_RETRY, api_writes, seed, stored, sync_one, token_requests
from tests.support import run_jobs as engine_run

pytestmark = pytest.mark.usefixtures("fast_retry")

VARIABLES = "/2.0/repositories/acme/api/pipelines_config/variables"


def settings_for(emu: Emulator, **values) -> Settings:
    base = dict(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=emu.api_url, token_url=emu.token_url,
                workspace="acme", repository="api")
    return Settings(**{**base, **values})


def client_for(settings: Settings):
    redactor = Redactor()
    return open_client(for_target(settings, (), redactor), redactor)


def run(emu: Emulator, variables: dict[str, str] | list[Variable], log=None, **values) -> SyncResult:
    if isinstance(variables, dict):
        variables = [Variable(k, v) for k, v in variables.items()]
    return sync_one(settings_for(emu, **values), variables, Redactor(), log)


# -- paging ---------------------------------------------------------------------------------------------------------


def test_paging_over_250_variables_asks_100_a_page_and_follows_next(emulator):
    existing = {f"V{i:03d}": str(i) for i in range(250)}
    seed(emulator, existing)

    result = run(emulator, {**existing, "NEW": "n"})

    assert result.ok and result.unchanged == sorted(existing) and result.created == ["NEW"]
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert [(r.query.get("page", "1"), r.query["pagelen"]) for r in gets] == [("1", "100"), ("2", "100"), ("3", "100")]
    assert [r.status for r in api_writes(emulator)] == [201]  # no 409: nothing was missed


@pytest.mark.parametrize("omit_size", [False, True])
def test_paging_without_next_links_still_gets_everything(emulator, omit_size):
    existing = {f"V{i:03d}": str(i) for i in range(250)}
    seed(emulator, existing)
    emulator.omit_next, emulator.omit_size = True, omit_size

    result = run(emulator, existing)

    assert result.ok and result.unchanged == sorted(existing) and api_writes(emulator) == []
    assert len([r for r in emulator.requests if r.method == "GET"]) == 3


@pytest.mark.parametrize("count, pages", [(0, 1), (100, 2), (10, 1)])
def test_paging_always_stops_on_an_empty_or_short_page(emulator, count, pages):
    seed(emulator, {f"V{i:03d}": "v" for i in range(count)})
    emulator.omit_next, emulator.omit_size = True, True
    result = run(emulator, {"V000": "v"})
    assert result.ok
    assert len([r for r in emulator.requests if r.method == "GET"]) == pages


# -- races ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("theirs, outcome", [("mine", "unchanged"), ("other", "updated")])
def test_a_409_race_ends_updated_or_unchanged_without_a_duplicate(emulator, theirs, outcome):
    emulator.inject(Fault(method="POST", path="variables$", action=lambda emu: seed(emu, {"RACE": theirs})))

    result = run(emulator, {"RACE": "mine", "OTHER": "o"}, concurrency=1)

    assert result.ok and getattr(result, outcome) == ["RACE"] and result.created == ["OTHER"]
    assert stored(emulator) == {"RACE": ("mine", False), "OTHER": ("o", False)}
    assert next(r.status for r in api_writes(emulator)) == 409


@pytest.mark.parametrize("concurrency, lists", [(1, 1 + 8), (8, 1 + 1)])
def test_many_409s_each_end_unchanged(emulator, concurrency, lists):
    keys = {f"K{i}": "v" for i in range(8)}
    # Listed empty, then all eight created by someone else before the first create is handled. Every create is held
    # until `concurrency` of them are in flight, so with 8 all eight 409s arise before any relisting is taken.
    seeded = threading.Lock()
    held = threading.Barrier(concurrency, timeout=5)

    def race_then_hold(emu):
        with seeded:
            if not emu.variables("acme", "api"):
                seed(emu, keys)
        held.wait()

    emulator.inject(Fault(method="POST", path="variables$", times=-1, action=race_then_hold))

    result = run(emulator, keys, concurrency=concurrency)

    assert result.ok and result.unchanged == sorted(keys)
    assert [r.status for r in api_writes(emulator)] == [409] * 8
    # The first listing, then one relisting per conflict that arose after the last one was taken: one after each
    # create when they run one at a time, and a single one serving all eight when they all met their 409 first.
    assert len([r for r in emulator.requests if r.method == "GET"]) == lists
    assert stored(emulator) == {k: ("v", False) for k in keys}


# -- concurrency ----------------------------------------------------------------------------------------------------


def test_writes_run_concurrency_at_a_time(emulator):
    concurrency = 4
    # Each create waits until `concurrency` creates are in flight together: the run can only finish if the writes
    # really overlap, `concurrency` at a time (a broken barrier is recorded, and fails the test below).
    together = threading.Barrier(concurrency, timeout=5)
    broken = []

    def meet(emu):
        try:
            together.wait()
        except threading.BrokenBarrierError:
            broken.append(1)

    emulator.inject(Fault(method="POST", path="variables$", times=-1, action=meet))
    wanted = {f"K{i:02d}": "v" for i in range(2 * concurrency)}

    result = run(emulator, wanted, concurrency=concurrency)

    assert broken == [], "the writes did not overlap concurrency at a time"
    assert result.ok and result.created == sorted(wanted)
    assert [r.status for r in api_writes(emulator)] == [201] * len(wanted)


def test_never_more_writes_in_flight_than_the_concurrency(emulator):
    concurrency = 4
    # One more than the concurrency can never meet: every create's wait times out (the first ones after a second,
    # the rest at once, the barrier being broken), and none ever passes it.
    one_too_many = threading.Barrier(concurrency + 1, timeout=1)
    passed, broken = [], []

    def meet(emu):
        try:
            one_too_many.wait()
            passed.append(1)
        except threading.BrokenBarrierError:
            broken.append(1)

    emulator.inject(Fault(method="POST", path="variables$", times=-1, action=meet))
    wanted = {f"K{i:02d}": "v" for i in range(3 * concurrency)}

    result = run(emulator, wanted, concurrency=concurrency)

    assert passed == [], f"{concurrency + 1} writes were in flight together with concurrency {concurrency}"
    assert len(broken) == len(wanted)
    assert result.ok and result.created == sorted(wanted)


# -- secured values -------------------------------------------------------------------------------------------------


def test_a_secured_variable_in_the_input_is_always_updated(emulator):
    seed(emulator, {"PASSWORD": "same"}, secured=True)
    seed(emulator, {"PLAIN_NOW_SECURED": "same"})

    result = run(emulator, [Variable("PASSWORD", "same", True), Variable("PLAIN_NOW_SECURED", "same", True)])

    assert result.updated == ["PASSWORD", "PLAIN_NOW_SECURED"] and result.unchanged == []
    assert stored(emulator) == {"PASSWORD": ("same", True), "PLAIN_NOW_SECURED": ("same", True)}


def test_a_remote_secured_variable_cannot_be_compared_so_it_is_overwritten(emulator):
    seed(emulator, {"TOKEN": "same"}, secured=True)
    result = run(emulator, {"TOKEN": "same"})
    assert result.updated == ["TOKEN"] and stored(emulator) == {"TOKEN": ("same", False)}


def test_secured_to_plain_is_a_delete_then_a_create_and_converges(emulator):
    seed(emulator, {"TOKEN": "same", "KEY": "k"}, secured=True)
    result = run(emulator, {"TOKEN": "same", "KEY": "k2"})
    assert result.ok and sorted(result.updated) == ["KEY", "TOKEN"]
    assert result.reasons == {"KEY": "secured flag changes", "TOKEN": "secured flag changes"}
    assert sorted(w.method for w in api_writes(emulator)) == ["DELETE", "DELETE", "POST", "POST"]
    assert stored(emulator) == {"TOKEN": ("same", False), "KEY": ("k2", False)}
    emulator.reset_requests()
    again = run(emulator, {"TOKEN": "same", "KEY": "k2"})
    assert again.unchanged == ["TOKEN", "KEY"] and api_writes(emulator) == []


def test_secured_to_plain_after_a_409_race(emulator):
    # Created secured by someone else between our listing and our create: made plain by delete + create too.
    emulator.inject(Fault(method="POST", path=r"/variables", action=lambda emu: emu.seed_variable(
        "acme", "RACE", "theirs", secured=True, repository="api")))
    result = run(emulator, {"RACE": "ours"})
    assert result.ok and result.updated == ["RACE"] and stored(emulator) == {"RACE": ("ours", False)}


def test_secured_values_are_absent_on_read(emulator):
    seed(emulator, {"PASSWORD": "hunter22"}, secured=True)
    seed(emulator, {"PLAIN": "visible"})
    settings = settings_for(emulator)
    client, _ = client_for(settings)
    with client:
        listed = {v.key: v for v in client.list_variables(
            "repositories/acme/api/pipelines_config/variables", target_of(settings))}
    assert listed["PASSWORD"].value is None and listed["PASSWORD"].secured
    assert listed["PLAIN"].value == "visible"
    assert "hunter22" not in repr(listed)


# -- dry run and prune ----------------------------------------------------------------------------------------------


def test_dry_run_makes_zero_writes_and_reports_what_would_happen(emulator):
    seed(emulator, {"UPD": "old", "SAME": "s", "GONE": "g"})
    before = stored(emulator)

    result = run(emulator, {"NEW": "n", "UPD": "new", "SAME": "s"}, dry_run=True, prune=True)

    assert result.dry_run and result.ok
    assert (result.created, result.updated, result.unchanged, result.deleted) == (["NEW"], ["UPD"], ["SAME"], ["GONE"])
    assert api_writes(emulator) == [] and stored(emulator) == before
    assert {r.method for r in emulator.requests if r.path.startswith("/2.0/")} == {"GET"}


def test_dry_run_with_an_access_token_sends_only_reads(emulator):
    emulator.add_access_token("repo-access-token-1234")
    run(emulator, {"A": "1"}, dry_run=True, client_id=None, client_secret=None,
        access_token="repo-access-token-1234")
    assert {r.method for r in emulator.requests} == {"GET"}


def test_prune_deletes_only_with_the_flag(emulator):
    seed(emulator, {"KEEP": "k", "EXTRA": "e"})

    without = run(emulator, {"KEEP": "k"})
    assert without.deleted == [] and set(stored(emulator)) == {"KEEP", "EXTRA"}

    pruned = run(emulator, {"KEEP": "k"}, prune=True)
    assert pruned.deleted == ["EXTRA"] and pruned.unchanged == ["KEEP"] and set(stored(emulator)) == {"KEEP"}


def test_prune_with_a_prefix_leaves_other_keys_alone(emulator):
    seed(emulator, {"APP_OLD": "o", "APP_KEEP": "k", "DEPLOY_TOKEN": "d", "OTHER": "x"})
    result = run(emulator, [Variable("APP_KEEP", "k")], prune=True, prefix="APP_")
    assert result.deleted == ["APP_OLD"] and set(stored(emulator)) == {"APP_KEEP", "DEPLOY_TOKEN", "OTHER"}


def test_protected_keys_survive_prune(emulator):
    seed(emulator, {"DEPLOY_TOKEN": "d", "DEPLOY_HOOK": "h", "OLD": "o"})
    result = run(emulator, {"NEW": "n"}, prune=True, protect=("DEPLOY_*",))
    assert result.deleted == ["OLD"] and set(stored(emulator)) == {"DEPLOY_TOKEN", "DEPLOY_HOOK", "NEW"}


def test_max_deletes_stops_a_wipe_and_nothing_is_written(emulator):
    seed(emulator, {f"V{i}": str(i) for i in range(20)})
    before = stored(emulator)
    emulator.reset_requests()
    result = run(emulator, {"V0": "changed", "NEW": "n", "V1": "1"}, prune=True, max_deletes=5)
    assert not result.ok and api_writes(emulator) == [] and stored(emulator) == before
    assert result.error.startswith("prune would delete 18 variables of repository acme/api")
    assert result.deleted == [] and result.unchanged == ["V1"]
    assert sorted(f["key"] for f in result.failed) == ["NEW", "V0"]  # every input key reported exactly once
    assert all(result.cause(f) == result.error for f in result.failed)
    # the dry run shows what prune would delete, each key once, and is refused as well
    dry = run(emulator, {"V0": "0"}, prune=True, max_deletes=5, dry_run=True)
    assert sorted(dry.deleted) == sorted(f"V{i}" for i in range(1, 20)) and len(set(dry.deleted)) == 19
    assert not dry.ok and api_writes(emulator) == []
    assert run(emulator, {"V0": "0"}, prune=True, max_deletes=19).ok


def test_prune_of_a_variable_already_deleted_by_someone_else(emulator):
    seed(emulator, {"GONE": "g"})
    emulator.inject(Fault(method="DELETE", action=lambda emu: emu.delete_variable("acme", "GONE", repository="api")))
    result = run(emulator, {"KEEP": "k"}, prune=True)
    # Told apart from a delete of this run: the key is reported once, as already gone, and the run changed nothing
    # of it.
    assert result.ok and result.deleted == [] and result.gone == ["GONE"] and stored(emulator) == {"KEEP": ("k", False)}
    assert result.as_json()["gone"] == ["GONE"] and "deleted" in result.as_json()


def test_two_prunes_at_once_each_report_a_variable_deleted_once_and_already_gone_once(emulator):
    doomed = {f"OLD{i:02d}": "o" for i in range(12)}
    seed(emulator, {"KEEP": "k", **doomed})
    # Every DELETE is held until both runs' listings are answered: both listed every doomed key before either
    # deleted one.

    def after_both_listings(emu) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len([r for r in emu.requests if r.method == "GET" and r.status]) < 2:
            time.sleep(0.01)

    emulator.inject(Fault(method="DELETE", times=-1, action=after_both_listings))
    results: list[SyncResult] = []

    def prune() -> None:
        results.append(run(emulator, {"KEEP": "k"}, prune=True, concurrency=4))

    threads = [threading.Thread(target=prune) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    first, second = results
    assert first.ok and second.ok and stored(emulator) == {"KEEP": ("k", False)}
    # Every doomed key deleted by exactly one run, and reported by the other as already gone, never twice deleted.
    assert sorted(first.deleted + second.deleted) == sorted(doomed)
    for result, other in ((first, second), (second, first)):
        assert sorted(result.gone) == sorted(other.deleted) and result.unchanged == ["KEEP"]
        assert not set(result.gone) & set(result.deleted)
    assert len(api_writes(emulator, "DELETE")) == 2 * len(doomed)


def test_two_runs_creating_the_same_keys_against_a_lagging_listing_both_succeed():
    # Each run's creates meet the other's 409s, and the listing shows a write only 2 s after it: each conflicted key
    # is re-listed until it shows. A listing another key took before this key's wait ended must not answer it (that
    # made one of the two runs fail in most attempts). Three attempts, each on a fresh emulator: about 4 s each.
    keys = {f"L{i:02d}": "v" for i in range(30)}
    for attempt in range(3):
        with Emulator() as emu:
            emu.seed_demo().add_consumer(CLIENT_ID, CLIENT_SECRET, scopes=("pipeline", "pipeline:variable"))
            emu.quirk("lag=2")
            results: list[SyncResult] = []
            threads = [threading.Thread(target=lambda: results.append(run(emu, keys)))  # noqa: B023 - joined below
                       for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert [r.failed for r in results] == [[], []], f"attempt {attempt}"
            assert all(sorted(r.created + r.unchanged + r.updated) == sorted(keys) for r in results)
            assert stored(emu) == {key: ("v", False) for key in keys}


# -- tokens ---------------------------------------------------------------------------------------------------------


def test_a_token_expiring_mid_run_means_exactly_one_new_token_request(emulator):
    count = []
    lock = threading.Lock()

    def expire_at_the_fifth(emu):
        with lock:
            count.append(1)
            if len(count) == 5:
                emu.expire_tokens()

    emulator.inject(Fault(method="POST", path="variables$", times=-1, action=expire_at_the_fifth))
    wanted = {f"K{i:02d}": "v" for i in range(20)}

    result = run(emulator, wanted, concurrency=8)

    assert result.ok and result.created == sorted(wanted)
    assert len(token_requests(emulator)) == 2
    assert any(r.status == 401 for r in api_writes(emulator))


def test_an_access_token_is_used_without_any_token_request(emulator):
    emulator.add_access_token("repo-access-token-1234")
    result = run(emulator, {"A": "1"}, client_id=None, client_secret=None, access_token="repo-access-token-1234")
    assert result.ok and result.created == ["A"] and token_requests(emulator) == []


@pytest.mark.parametrize("field", ["scope", "scopes"])
def test_the_token_answer_may_name_its_scopes_scope_or_scopes(emulator, field):
    emulator.scope_field = field
    token = mint_token(request_of(settings_for(emulator, command="token"), (), Redactor()), Redactor())
    assert token.scopes == "pipeline pipeline:variable"
    assert token.token_type == "bearer" and token.expires_in == 7200 and token.access_token


# -- retries --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retries_on_429_and_5xx(emulator, status):
    emulator.inject(Fault(method="GET", path="variables$", status=status, times=2))
    emulator.inject(Fault(method="POST", path="variables$", status=status, times=1))
    result = run(emulator, {"A": "1"})
    assert result.ok and result.created == ["A"]
    assert [r.status for r in emulator.requests if r.path == VARIABLES] == [status, status, 200, status, 201]


def test_retries_stop_after_the_policy_attempts(emulator):
    emulator.inject(Fault(method="GET", path="variables$", status=503, times=-1))
    result = run(emulator, {"A": "1"})
    assert not result.ok and result.failed[0]["key"] == "A"
    assert f"after {FAST_RETRY.attempts} attempts" in result.error
    assert len([r for r in emulator.requests if r.path == VARIABLES]) == FAST_RETRY.attempts


# -- environments and scopes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["Staging", "staging", "STAGING", "{uuid}", "uuid", "{UUID}"])
def test_the_environment_is_resolved_by_name_slug_or_uuid(emulator, given):
    uuid = next(e["uuid"] for e in emulator.environments("acme", "api") if e["name"] == "Staging")
    given = given.replace("{uuid}", uuid).replace("{UUID}", uuid.upper()).replace("uuid", uuid.strip("{}"))

    result = run(emulator, {"URL": "https://staging"}, environment=given)

    assert result.ok and result.created == ["URL"]
    assert stored(emulator, repository="api", environment=uuid) == {"URL": ("https://staging", False)}
    assert stored(emulator) == {}


def test_an_environment_slug_differing_from_its_name(emulator):
    uuid = emulator.add_environment("acme", "api", "Prod EU", slug="prod-eu")
    for given in ("Prod EU", "prod-eu", "prod eu"):
        assert run(emulator, {"A": "1"}, environment=given).ok
    assert stored(emulator, repository="api", environment=uuid) == {"A": ("1", False)}


def test_an_unknown_environment_names_the_ones_there_are(emulator):
    result = run(emulator, {"A": "1"}, environment="Nope")
    assert "deployment environment 'Nope' not found in acme/api (it has: Production, Staging, Test)" in result.error
    assert api_writes(emulator) == []


def test_workspace_variables(emulator):
    seed(emulator, {"W": "old"}, repository=None)
    result = run(emulator, {"W": "new"}, repository=None)
    assert result.updated == ["W"] and stored(emulator, repository=None) == {"W": ("new", False)}
    assert any(r.path == "/2.0/workspaces/acme/pipelines-config/variables" for r in emulator.requests)


def test_a_repository_that_does_not_exist(emulator):
    result = run(emulator, {"A": "1"}, repository="nope")
    assert not result.ok and "repository acme/nope not found" in result.error and api_writes(emulator) == []


def test_resolve_environment_raises_not_found(emulator):
    client, _ = client_for(settings_for(emulator))
    with client, pytest.raises(NotFoundError):
        resolve_environment(client, Target("acme", "api", "{00000000-0000-0000-0000-000000000000}"))


# -- nothing secret leaves ------------------------------------------------------------------------------------------


def test_no_secret_in_the_debug_log_or_the_result(emulator):
    lines: list[str] = []
    seed(emulator, {"DB_PASSWORD": "old"}, secured=True)
    emulator.inject(Fault(method="PUT", status=400, body='{"type": "error", "error": {"message": '
                                                        '"failed to store correct-horse-battery"}}', times=-1))
    redactor = Redactor()
    result = sync_one(settings_for(emulator), [Variable("DB_PASSWORD", "correct-horse-battery", True)], redactor,
                      lines.append)
    text = "\n".join(lines) + repr(result.as_json()) + (result.error or "")
    assert lines and "correct-horse-battery" not in text and CLIENT_SECRET not in text
    assert "***" in text  # the server's echo of the value was masked
    assert not any(secret in text for secret in redactor.secrets if len(secret) >= 4)


def test_the_json_shape(emulator):
    result = run(emulator, {"A": "1"})
    assert result.as_json() == {"target": {"workspace": "acme", "repository": "api", "environment": None},
                                "dry_run": False, "created": ["A"], "updated": [], "unchanged": [], "deleted": [],
                                "failed": [],
                                "requests": {"needed": 3, "spent": 3, "exact": True, "token": 1, "environments": 0,
                                             "listing": 1, "writes": 1, "fingerprints": 0,
                                             "credential": "oauth-consumer"}}


# -- many targets in one run ----------------------------------------------------------------------------------------


def job(target: Target, values: dict[str, str], **options) -> Job:
    return Job(target, tuple(Variable(k, v) for k, v in values.items()), policy_of(Settings(**options)))


def run_jobs(emu: Emulator, jobs: list[Job], **values) -> RunResult:
    return engine_run(settings_for(emu, **values), jobs)


def add_web(emu: Emulator) -> None:
    emu.add_repository("acme", "web")
    for name in ("Test", "Staging", "Production"):
        emu.add_environment("acme", "web", name)


def test_many_targets_share_one_token_and_list_each_repository_s_environments_once(emulator):
    add_web(emulator)
    targets = [Target("acme", repo, env) for repo in ("api", "web") for env in ("Test", "Staging", "Production")]
    targets += [Target("acme", "api"), Target("acme")]
    jobs = [job(t, {"A": "1", "B": "2"}) for t in targets]

    result = run_jobs(emulator, jobs)

    assert result.ok and [r.target for r in result.targets] == targets
    assert all(r.created == ["A", "B"] for r in result.targets)
    assert len(token_requests(emulator)) == 1
    environment_lists = [r for r in emulator.requests if r.path.endswith("/environments")]
    assert sorted(r.path for r in environment_lists) == ["/2.0/repositories/acme/api/environments",
                                                         "/2.0/repositories/acme/web/environments"]
    variable_lists = [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/variables")]
    assert len(variable_lists) == len(targets)
    assert len(api_writes(emulator)) == 2 * len(targets)
    assert result.requests == len(emulator.requests) == 1 + 2 + len(targets) + 2 * len(targets)
    assert stored(emulator, repository="web", environment=emulator.environments("acme", "web")[0]["uuid"]) == {
        "A": ("1", False), "B": ("2", False)}


def test_the_writes_of_all_targets_share_one_concurrency_bound(emulator):
    concurrency = 3
    # One more than the concurrency can never meet, whichever targets the writes belong to.
    over = threading.Barrier(concurrency + 1, timeout=0.5)
    passed, broken = [], []

    def meet(emu):
        try:
            over.wait()
            passed.append(1)
        except threading.BrokenBarrierError:
            broken.append(1)

    emulator.inject(Fault(method="POST", path="variables$", times=-1, action=meet))
    jobs = [job(Target("acme", "api", env), {f"K{i}": "v" for i in range(3)}) for env in ("Test", "Staging")]
    jobs.append(job(Target("acme", "api"), {f"K{i}": "v" for i in range(3)}))

    result = run_jobs(emulator, jobs, concurrency=concurrency)

    assert passed == [] and len(broken) == 9
    assert result.ok and all(r.created == ["K0", "K1", "K2"] for r in result.targets)


def test_a_failing_target_leaves_the_others_done_and_reported(emulator):
    jobs = [job(Target("acme", "api"), {"A": "1"}), job(Target("acme", "nope"), {"B": "2"}),
            job(Target("acme", "api", "Nowhere"), {"C": "3"}), job(Target("acme", "api", "Test"), {"D": "4"})]
    emulator.inject(Fault(method="POST", path="pipelines_config/variables$", status=400))

    result = run_jobs(emulator, jobs)

    api, missing_repo, missing_env, test = result.targets
    assert not result.ok
    assert api.failed[0]["key"] == "A" and "HTTP 400" in api.failed[0]["error"] and api.error is None
    assert missing_repo.failed[0]["key"] == "B" and "repository acme/nope not found" in missing_repo.error
    assert missing_env.failed[0]["key"] == "C" and "'Nowhere' not found" in missing_env.error
    assert test.ok and test.created == ["D"]
    assert result.as_json()["ok"] is False and [t["target"]["repository"] for t in result.as_json()["targets"]] == [
        "api", "nope", "api", "api"]


def test_a_fatal_answer_stops_every_target_not_done_yet(emulator):
    emulator.inject(Fault(method="GET", path="environments$", status=401, times=-1))
    jobs = [job(Target("acme", "api", "Test"), {"A": "1"}), job(Target("acme", "api"), {"B": "2"})]

    result = run_jobs(emulator, jobs, concurrency=1)

    first, second = result.targets
    assert "refused the credentials" in first.error and first.failed == [{"key": "A", "error": first.error}]
    assert second.error == first.error and second.failed == [{"key": "B", "error": NOT_ATTEMPTED + first.error}]
    assert api_writes(emulator) == [] and not any(r.path.endswith("/variables") for r in emulator.requests)


def test_a_target_done_before_a_fatal_answer_elsewhere_stays_ok(emulator):
    emulator.inject(Fault(method="POST", path="pipelines-config/variables$", status=403, times=-1))
    jobs = [job(Target("acme", "api"), {"A": "1"}), job(Target("acme"), {"W": "1"}),
            job(Target("acme", "api", "Test"), {"T": "1"})]

    result = run_jobs(emulator, jobs, concurrency=1)

    done, refused, after = result.targets
    assert done.ok and done.created == ["A"]
    assert "denied access" in refused.error and refused.failed[0]["key"] == "W"
    assert after.failed == [{"key": "T", "error": NOT_ATTEMPTED + refused.error}] and after.cause(after.failed[0]) == \
        refused.error


def test_prune_is_per_target_and_the_dry_run_is_the_run_s(emulator):
    seed(emulator, {"OLD": "o"})
    seed(emulator, {"OLD": "o"}, repository=None)
    jobs = [job(Target("acme", "api"), {"A": "1"}, prune=True), job(Target("acme"), {"A": "1"})]

    dry = run_jobs(emulator, jobs, dry_run=True)
    assert dry.dry_run and [r.deleted for r in dry.targets] == [["OLD"], []] and api_writes(emulator) == []

    done = run_jobs(emulator, jobs)
    assert [r.deleted for r in done.targets] == [["OLD"], []]
    assert set(stored(emulator)) == {"A"} and set(stored(emulator, repository=None)) == {"A", "OLD"}


def test_a_job_without_variables_is_reported_empty_and_not_listed(emulator):
    result = run_jobs(emulator, [job(Target("acme", "api"), {}), job(Target("acme"), {"W": "1"})])
    assert result.ok and result.targets[0].as_json()["created"] == [] and result.targets[1].created == ["W"]
    assert not any(r.path.startswith("/2.0/repositories") for r in emulator.requests)


def test_two_spellings_of_one_environment_write_it_once_and_the_later_target_fails(emulator):
    uuid = next(e["uuid"] for e in emulator.environments("acme", "api") if e["name"] == "Staging")
    jobs = [job(Target("acme", "api", "Staging"), {"A": "1"}), job(Target("acme", "api", uuid), {"A": "2"}),
            job(Target("acme", "api"), {"B": "1"})]

    result = run_jobs(emulator, jobs)

    first, again, other = result.targets
    assert first.ok and first.created == ["A"] and other.ok
    assert again.failed == [{"key": "A", "error": again.error}]
    assert again.error == (f"environment {uuid} of acme/api is environment Staging of acme/api, which another target "
                           "writes: give each place once")
    assert stored(emulator, environment=uuid) == {"A": ("1", False)}


# -- events and confirmation (what a terminal shows and asks) ---------------------------------------------------------


def test_events_tell_the_plan_each_write_and_each_retry_wait(emulator):
    from bbvars.events import Planned, RetryWait, Written

    seed(emulator, {"SAME": "s", "OLD": "o"})
    emulator.inject(Fault(method="POST", path="variables", status=429, times=1))
    heard: list = []
    lock = threading.Lock()

    def events(event):
        with lock:
            heard.append(event)

    result = sync_one(settings_for(emulator, prune=True), [Variable("SAME", "s"), Variable("A", "1"),
                                                            Variable("B", "2")], Redactor(), events=events)
    assert result.ok
    assert heard[0] == Planned(3, ("OLD",))
    assert sorted((e.key, e.outcome) for e in heard if isinstance(e, Written)) == [
        ("A", "created"), ("B", "created"), ("OLD", "deleted")]
    (retry,) = [e for e in heard if isinstance(e, RetryWait)]
    assert (retry.cause, retry.attempt, retry.attempts) == ("429", 2, FAST_RETRY.attempts)


def test_deletions_declined_mean_nothing_is_written_and_every_key_is_reported(emulator):
    seed(emulator, {"SAME": "s", "OLD": "o"})
    asked: list = []

    def confirm(keys):
        asked.append(keys)
        return False

    result = sync_one(settings_for(emulator, prune=True), [Variable("SAME", "s"), Variable("NEW", "n")], Redactor(),
                      confirm=confirm)
    assert asked == [[(Target("acme", "api"), "OLD")]]
    assert result.unchanged == ["SAME"] and result.failed == [{"key": "NEW", "error": "cancelled"}]
    assert result.deleted == [] and "not confirmed" in (result.error or "")
    assert api_writes(emulator) == []
    # Without deletions nothing is asked.
    assert sync_one(settings_for(emulator), [Variable("NEW", "n")], Redactor(), confirm=confirm).created == ["NEW"]
    assert len(asked) == 1


def test_a_cancel_leaves_every_key_of_every_target_not_yet_written_cancelled(emulator):
    cancel = threading.Event()
    emulator.inject(Fault(method="POST", path="variables$", times=1, action=lambda emu: cancel.set()))
    jobs = [job(Target("acme", "api"), {"A": "1", "B": "2"}), job(Target("acme", "api", "Test"), {"C": "3"}),
            job(Target("acme"), {"D": "4"})]

    result = engine_run(settings_for(emulator, concurrency=1), jobs, Redactor(), cancel=cancel)

    first, second, third = result.targets
    assert first.created == ["A"] and first.failed == [{"key": "B", "error": "cancelled"}]
    assert second.failed == [{"key": "C", "error": "cancelled"}] and third.failed == [{"key": "D", "error": "cancelled"}]
    assert [r.method for r in api_writes(emulator)] == ["POST"]  # the write in flight finished; none started after


def test_max_deletes_in_one_target_refuses_the_whole_run(emulator):
    add_web(emulator)
    seed(emulator, {f"OLD_{i}": "o" for i in range(4)})
    jobs = [job(Target("acme", "web"), {"A": "1"}), job(Target("acme", "api"), {"B": "2"}, prune=True, max_deletes=2)]
    result = run_jobs(emulator, jobs)
    assert not result.ok and api_writes(emulator) == [] and stored(emulator, repository="web") == {}
    web, api = result.targets
    assert api.error.startswith("prune would delete 4 variables of repository acme/api")
    assert web.error == api.error and web.failed == [{"key": "A", "error": NOT_ATTEMPTED + api.error}]


def test_fingerprints_per_target_with_the_run_s_key(emulator):
    add_web(emulator)
    secret = [Variable("PW", "same-value", True)]
    jobs = [Job(Target("acme", "api"), tuple(secret), Policy(fingerprint=True)),
            Job(Target("acme", "web"), tuple(secret), Policy())]
    key = "Yk3nQ0x9-Engine-Fingerprint-Key_4vR2sLw7uE1"  # the run's, for every target that turns them on
    run_jobs(emulator, jobs, fingerprint_key=key)
    again = run_jobs(emulator, jobs, fingerprint_key=key)
    assert again.targets[0].unchanged == ["PW"] and again.targets[1].updated == ["PW"]
    assert "BBVARS_FINGERPRINTS" in stored(emulator) and "BBVARS_FINGERPRINTS" not in stored(emulator, repository="web")
