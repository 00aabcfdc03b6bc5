"""A sync works with each of the four credential kinds through every surface, names the kind it used, and never
prints a credential; the kind-specific failures say what to fix."""

from __future__ import annotations

import json

import pytest

from bbvars.emulator import Emulator
from tests.support import (
    ACCESS_TOKEN,
    API_EMAIL,
    API_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    LOGIN_CLIENT_SECRET,
    clean_env,
    log_in,
    run_cli,
    run_in_process,
    stored,
)

KINDS = {
    "atlassian-api-token": ("Atlassian API token", {"ATLASSIAN_ACCOUNT_EMAIL": API_EMAIL, "ATLASSIAN_API_TOKEN": API_TOKEN}),
    "access-token": ("access token", {"BITBUCKET_ACCESS_TOKEN": ACCESS_TOKEN}),
    "oauth-consumer": ("OAuth consumer", {"BITBUCKET_CLIENT_ID": CLIENT_ID, "BITBUCKET_CLIENT_SECRET": CLIENT_SECRET}),
    "stored-login": ("stored login of Demo User (demo-user)", {}),
}
SECRETS = (API_TOKEN, ACCESS_TOKEN, CLIENT_SECRET, LOGIN_CLIENT_SECRET)
ACTION_INPUTS = {"ATLASSIAN_ACCOUNT_EMAIL": "INPUT_ATLASSIAN_ACCOUNT_EMAIL", "ATLASSIAN_API_TOKEN":
                 "INPUT_ATLASSIAN_API_TOKEN", "BITBUCKET_ACCESS_TOKEN": "INPUT_ACCESS_TOKEN",
                 "BITBUCKET_CLIENT_ID": "INPUT_CLIENT_ID", "BITBUCKET_CLIENT_SECRET": "INPUT_CLIENT_SECRET"}


@pytest.fixture
def kinds_emulator(emulator: Emulator) -> Emulator:
    emulator.add_api_token(API_EMAIL, API_TOKEN)
    emulator.add_access_token(ACCESS_TOKEN)
    return emulator


def surface_run(surface: str, emu: Emulator, credentials: dict[str, str], tmp_path) -> tuple[int, str, str]:
    base = {"BITBUCKET_API_URL": emu.api_url, "BITBUCKET_TOKEN_URL": emu.token_url}
    document = json.dumps({"API_URL": "https://api.example.com", "REPLICAS": "3"})
    if surface == "cli":
        run = run_in_process(["sync", "-w", "acme", "-r", "api", "--file", "-"], env=clean_env(**base, **credentials),
                      input=document)
        return run.code, run.stdout, run.stderr
    if surface == "pipe":
        env = clean_env(**base, **credentials, WORKSPACE="acme", REPOSITORY="api", VARIABLES=document)
        args, stdin = ["pipe"], None
    elif surface == "action":
        inputs = {ACTION_INPUTS[name]: value for name, value in credentials.items()}
        env = clean_env(**base, **inputs, INPUT_WORKSPACE="acme", INPUT_REPOSITORY="api", INPUT_VARIABLES=document,
                        GITHUB_OUTPUT=str(tmp_path / "out"), GITHUB_STEP_SUMMARY=str(tmp_path / "summary"))
        args, stdin = ["action"], None
    else:
        env = clean_env(**base, **credentials)
        args, stdin = ["terraform"], json.dumps({"workspace": "acme", "repository": "api", "variables": document})
    run = run_in_process(args, env=env, input=stdin)
    return run.code, run.stdout, run.stderr


@pytest.mark.parametrize("surface", ["cli", "pipe", "action", "terraform"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_sync_works_with_each_kind_through_every_surface(kind, surface, kinds_emulator, tmp_path):
    name, credentials = KINDS[kind]
    if kind == "stored-login":
        assert log_in(kinds_emulator).code == 0
    code, out, err = surface_run(surface, kinds_emulator, credentials, tmp_path)
    assert code == 0, out + err
    assert stored(kinds_emulator) == {"API_URL": ("https://api.example.com", False), "REPLICAS": ("3", False)}
    named = f"credential: {name}"
    if surface != "terraform":  # Terraform's stdout is the answer only, and it shows stderr only on failure
        assert named in (err if surface == "cli" else out), out + err
    shown = out + err + "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    # GitHub's ::add-mask:: lines are the one place a secret is printed: they tell the runner what to hide.
    shown = "\n".join(line for line in shown.splitlines() if not line.startswith("::add-mask::"))
    for secret in SECRETS:
        assert secret not in shown


def test_an_api_token_is_sent_as_basic_and_needs_no_token_request(kinds_emulator):
    _name, credentials = KINDS["atlassian-api-token"]
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"],
                  env=clean_env(BITBUCKET_API_URL=kinds_emulator.api_url, BITBUCKET_TOKEN_URL=kinds_emulator.token_url,
                                **credentials))
    assert run.code == 0, run.stderr
    assert [r.path for r in kinds_emulator.requests if "oauth2" in r.path] == []


def test_the_precedence_when_several_kinds_are_set(kinds_emulator):
    everything = {**KINDS["oauth-consumer"][1], **KINDS["access-token"][1], **KINDS["atlassian-api-token"][1]}
    env = clean_env(BITBUCKET_API_URL=kinds_emulator.api_url, BITBUCKET_TOKEN_URL=kinds_emulator.token_url)
    for dropped, expected in [((), "Atlassian API token"), (("ATLASSIAN_API_TOKEN", "ATLASSIAN_ACCOUNT_EMAIL"),
                                                             "access token"),
                              (("ATLASSIAN_API_TOKEN", "ATLASSIAN_ACCOUNT_EMAIL", "BITBUCKET_ACCESS_TOKEN"),
                               "OAuth consumer")]:
        given = {k: v for k, v in everything.items() if k not in dropped}
        run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env={**env, **given})
        assert run.code == 0 and f"bbvars: credential: {expected}" in run.stderr, run.stderr


def test_a_403_for_an_api_token_names_its_scopes(kinds_emulator):
    kinds_emulator.add_api_token("reader@example.com", "ATATT-reader-only-token-0001", scopes=("read:pipeline:bitbucket",))
    env = clean_env(BITBUCKET_API_URL=kinds_emulator.api_url, ATLASSIAN_ACCOUNT_EMAIL="reader@example.com",
                    ATLASSIAN_API_TOKEN="ATATT-reader-only-token-0001")
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=env)
    assert run.code == 1
    assert "lack the scope admin:pipeline:bitbucket" in run.stderr.splitlines()[-1]
    error = run.json["failed"][0]["error"]  # whole in the report; the stderr line may be cut short
    assert "read:pipeline:bitbucket (to read) and admin:pipeline:bitbucket (to write variables)" in error
    assert "ATATT-reader-only-token-0001" not in run.stdout + run.stderr


def test_a_401_with_a_username_for_an_email_says_so(kinds_emulator):
    env = clean_env(BITBUCKET_API_URL=kinds_emulator.api_url, ATLASSIAN_ACCOUNT_EMAIL="dev-user",
                    ATLASSIAN_API_TOKEN=API_TOKEN)
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=env)
    assert run.code == 1
    assert "ATLASSIAN_ACCOUNT_EMAIL is not an email address" in run.stderr
    error = run.json["failed"][0]["error"]  # whole in the report; the stderr line may be cut short
    assert error.endswith("needs its Atlassian account's email as user name, not the Bitbucket username")
    assert API_TOKEN not in run.stdout + run.stderr


@pytest.mark.parametrize("surface", ["cli", "pipe", "action", "terraform"])
def test_an_api_token_given_as_an_access_token_is_refused_before_any_request(surface, kinds_emulator, tmp_path):
    code, out, err = surface_run(surface, kinds_emulator, {"BITBUCKET_ACCESS_TOKEN": API_TOKEN}, tmp_path)
    assert code == 2
    assert "holds an Atlassian API token (it starts with ATATT)" in out + err
    assert "ATLASSIAN_API_TOKEN" in out + err or "atlassian_api_token" in out + err
    assert kinds_emulator.requests == []
    assert API_TOKEN not in out.replace(f"::add-mask::{API_TOKEN}", "") + err


@pytest.mark.parametrize("given, words", [
    ({"ATLASSIAN_API_TOKEN": API_TOKEN}, "ATLASSIAN_ACCOUNT_EMAIL is not set"),
    ({"ATLASSIAN_ACCOUNT_EMAIL": API_EMAIL}, "ATLASSIAN_API_TOKEN is not set"),
])
def test_half_an_api_token_is_bad_input(given, words, kinds_emulator):
    run = run_in_process(["sync", "-w", "acme", "--var", "A=1"], env=clean_env(BITBUCKET_API_URL=kinds_emulator.api_url, **given))
    assert run.code == 2 and words in run.stderr and kinds_emulator.requests == []


@pytest.mark.parametrize("kind", KINDS)
def test_debug_mode_shows_no_credential_in_any_form(kind, kinds_emulator):
    import base64

    _name, credentials = KINDS[kind]
    if kind == "stored-login":
        assert log_in(kinds_emulator).code == 0
        kinds_emulator.expire_tokens()  # a refresh happens during the run, and its tokens must not show either
    env = clean_env(BITBUCKET_API_URL=kinds_emulator.api_url, BITBUCKET_TOKEN_URL=kinds_emulator.token_url, **credentials)
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--debug"], env=env)
    assert run.code == 0, run.stderr
    assert "bbvars: debug: " in run.stderr
    shown = run.stdout + run.stderr
    forms = [*SECRETS, base64.b64encode(f"{API_EMAIL}:{API_TOKEN}".encode()).decode(),
             base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()]
    if kind == "stored-login":
        from bbvars.auth import store

        saved = store.load(store.credentials_path())
        forms += [saved.access_token, saved.refresh_token]
    for form in forms:
        assert form not in shown


def test_an_error_echoing_the_stored_login_shows_none_of_it(kinds_emulator, config_home):
    import json as json_module

    from bbvars.auth import store
    from bbvars.emulator import Fault

    assert log_in(kinds_emulator).code == 0
    saved = store.load(store.credentials_path())
    echoed = f"bad {saved.access_token} {saved.refresh_token} {saved.client_secret}"
    kinds_emulator.inject(Fault(method="POST", path="variables", status=400, times=1,
                                body=json_module.dumps({"type": "error", "error": {"message": echoed}})))
    run = run_cli(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--debug"],
                  env=clean_env(BITBUCKET_API_URL=kinds_emulator.api_url))
    assert run.code == 1 and "***" in run.stdout + run.stderr
    for secret in (saved.access_token, saved.refresh_token, saved.client_secret):
        assert secret not in run.stdout + run.stderr
