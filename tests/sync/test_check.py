"""`bbvars check` answers truly: good credentials of each kind, a missing scope, a missing repository and a missing
environment; no write, at most 5 requests, JSON matching schema/check.schema.json, a ✔/✖ checklist on stderr."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.support import (
    ACCESS_TOKEN,
    API_EMAIL,
    API_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    ROOT,
    api_writes,
    clean_env,
    env_for,
    log_in,
    run_cli,
    run_in_process,
    seed,
)

SCHEMA = json.loads((ROOT / "schema" / "check.schema.json").read_text())
API = {"ATLASSIAN_ACCOUNT_EMAIL": API_EMAIL, "ATLASSIAN_API_TOKEN": API_TOKEN}


def check(emu, *target: str, **credentials: str):
    env = clean_env(BITBUCKET_API_URL=emu.api_url, BITBUCKET_TOKEN_URL=emu.token_url, **credentials)
    emu.reset_requests()
    run = run_in_process(["check", *target], env=env)
    jsonschema.validate(run.json, SCHEMA)
    assert api_writes(emu) == [] and len(emu.requests) <= 5, emu.requests
    return run, {c["name"]: c for c in run.json["checks"]}


@pytest.fixture
def emu(emulator):
    emulator.add_api_token(API_EMAIL, API_TOKEN)
    emulator.add_access_token(ACCESS_TOKEN)
    seed(emulator, {"A": "1", "B": "2"}, repository="api", environment="Production")
    return emulator


@pytest.mark.parametrize("kind, credentials", [
    ("oauth-consumer", {"BITBUCKET_CLIENT_ID": CLIENT_ID, "BITBUCKET_CLIENT_SECRET": CLIENT_SECRET}),
    ("access-token", {"BITBUCKET_ACCESS_TOKEN": ACCESS_TOKEN}),
    ("atlassian-api-token", API),
])
def test_good_credentials_pass_every_check(emu, kind, credentials):
    run, checks = check(emu, "-w", "acme", "-r", "api", "-e", "Production", **credentials)
    assert run.code == 0, run.stderr
    assert run.json["ok"] is True and run.json["credential"] == kind
    assert run.json["target"] == {"workspace": "acme", "repository": "api", "environment": "Production"}
    assert [c["name"] for c in run.json["checks"]][:5] == ["credential", "scopes", "repository", "environment",
                                                           "variables"]
    assert checks["variables"]["detail"] == "2 variable(s) in the target"
    assert checks["environment"]["detail"].startswith("environment Production exists")
    assert checks["round_trip"]["ok"]
    assert all(line.startswith("✔ ") for line in run.stderr.splitlines())
    if kind == "oauth-consumer":
        assert checks["scopes"]["detail"].startswith("granted pipeline pipeline:variable: reading and writing")
    else:  # these kinds report no scopes: check says so rather than guess
        assert "does not report" in checks["scopes"]["detail"]
    # Rate-limit headers come to access tokens only, as Bitbucket sends them.
    assert ("rate_limit" in checks) is (kind == "access-token")
    assert len(emu.requests) == (4 if kind == "oauth-consumer" else 3) - 1  # token? + environments + variables
    for secret in (CLIENT_SECRET, ACCESS_TOKEN, API_TOKEN):
        assert secret not in run.stdout + run.stderr


def test_a_stored_login_is_reported_as_such(emu):
    assert log_in(emu).code == 0
    run, checks = check(emu, "-w", "acme", "-r", "api")
    assert run.code == 0 and run.json["credential"] == "stored-login", run.stderr
    # Read from the file, not granted in this run: the API taking it is what proves it.
    assert checks["credential"]["detail"].startswith("stored login of Demo User (demo-user): stored token accepted")


def test_a_missing_write_scope_fails_the_scopes_check(emu):
    emu.add_consumer("reader", "reader-secret-0001", scopes=("pipeline",))
    run, checks = check(emu, "-w", "acme", "-r", "api", BITBUCKET_CLIENT_ID="reader",
                        BITBUCKET_CLIENT_SECRET="reader-secret-0001")
    assert run.code == 1 and run.json["ok"] is False
    assert checks["credential"]["ok"] and checks["repository"]["ok"]
    assert not checks["scopes"]["ok"]
    assert "lacks pipeline:variable (writing variables needs it)" in checks["scopes"]["detail"]
    assert "✖ scopes: granted pipeline: lacks pipeline:variable" in run.stderr


def test_a_missing_read_scope_of_an_api_token_is_seen_in_the_403(emu):
    emu.add_api_token("writer@example.com", "ATATT-writer-only-0002", scopes=("admin:pipeline:bitbucket",))
    run, checks = check(emu, "-w", "acme", "-r", "api", ATLASSIAN_ACCOUNT_EMAIL="writer@example.com",
                        ATLASSIAN_API_TOKEN="ATATT-writer-only-0002")
    assert run.code == 1 and checks["credential"]["ok"] and not checks["scopes"]["ok"]
    assert "lack the scope read:pipeline:bitbucket" in checks["scopes"]["detail"]
    assert "needs the scopes read:pipeline:bitbucket (to read) and admin:pipeline:bitbucket" in checks["scopes"]["detail"]
    assert "granted: admin:pipeline:bitbucket" in checks["scopes"]["detail"]


def test_refused_credentials_fail_the_credential_check(emu):
    run, checks = check(emu, "-w", "acme", "-r", "api", ATLASSIAN_ACCOUNT_EMAIL=API_EMAIL,
                        ATLASSIAN_API_TOKEN="ATATT-wrong-0003")
    assert run.code == 1 and not checks["credential"]["ok"] and "401" in checks["credential"]["detail"]
    run, checks = check(emu, "-w", "acme", "-r", "api", BITBUCKET_CLIENT_ID=CLIENT_ID,
                        BITBUCKET_CLIENT_SECRET="wrong-secret-0004")
    assert run.code == 1 and not checks["credential"]["ok"] and "unauthorized_client" in checks["credential"]["detail"]
    assert len(emu.requests) == 1  # nothing else is asked once the credential fails


def test_a_missing_repository(emu):
    run, checks = check(emu, "-w", "acme", "-r", "nope", **API)
    assert run.code == 1 and checks["credential"]["ok"]
    assert not checks["repository"]["ok"] and "repository acme/nope not found" in checks["repository"]["detail"]


def test_a_missing_environment_lists_the_environments(emu):
    run, checks = check(emu, "-w", "acme", "-r", "api", "-e", "prod", **API)
    assert run.code == 1 and checks["repository"]["ok"] and checks["credential"]["ok"]
    assert checks["environment"] == {"name": "environment", "ok": False, "detail":
                                     "environment 'prod' not found in acme/api; it has: Production, Staging, Test"}
    assert "✖ environment: environment 'prod' not found" in run.stderr


def test_an_environment_name_from_the_server_cannot_forge_a_line_of_the_checklist(emu):
    emu.add_environment("acme", "api", "Evil\n::stop-commands::x")
    run, checks = check(emu, "-w", "acme", "-r", "api", "-e", "prod", **API)
    assert run.code == 1 and "Evil\n::stop-commands::x" in checks["environment"]["detail"]  # the JSON keeps it whole
    assert not any(line.startswith("::") for line in run.stderr.splitlines())
    assert "Evil\\n::stop-commands::x" in run.stderr


def test_a_workspace_target_and_a_near_limit_access_token(emu):
    emu.rate_limit = 1  # the first request already uses 100% of it
    run, checks = check(emu, "-w", "acme", "-r", "api", BITBUCKET_ACCESS_TOKEN=ACCESS_TOKEN)
    assert run.code == 1 and not checks["rate_limit"]["ok"] and "near the limit" in checks["rate_limit"]["detail"]
    run, checks = check(emu, "-w", "acme", **API)
    assert run.code == 0 and checks["workspace"]["detail"] == "workspace acme exists"


def test_check_is_bad_input_like_sync(emu):
    run = run_cli(["check", "-r", "api"], env=env_for(emu))
    assert run.code == 2 and "no workspace" in run.stderr and emu.requests == []


def test_never_more_than_5_requests_even_when_every_token_is_refused_as_expired(emu):
    from bbvars.emulator import Fault

    expired = '{"type": "error", "error": {"message": "Access token expired."}}'
    emu.inject(Fault(path="^/2.0/", status=401, times=-1, body=expired))
    env = env_for(emu)
    emu.reset_requests()
    run = run_in_process(["check", "-w", "acme", "-r", "api", "-e", "Production"], env=env)
    assert run.code == 1 and len(emu.requests) <= 5, emu.requests
    assert not run.json["checks"][0]["ok"] and run.json["checks"][0]["name"] == "credential"


def test_an_unreachable_or_failing_bitbucket_is_not_called_a_missing_target(emu):
    from bbvars.emulator import Fault

    emu.inject(Fault(path="^/2.0/", status=503, times=-1))
    run, checks = check(emu, "-w", "acme", "-r", "api", **API)
    assert run.code == 1
    assert not checks["credential"]["ok"] and "not verified" in checks["credential"]["detail"]
    assert not checks["repository"]["ok"] and checks["repository"]["detail"].startswith("could not be read")
    run, checks = check(emu, "-w", "acme", "-r", "api", BITBUCKET_CLIENT_ID=CLIENT_ID,
                        BITBUCKET_CLIENT_SECRET=CLIENT_SECRET)
    assert checks["credential"]["ok"] and not checks["repository"]["ok"]  # the token was granted: that much holds
