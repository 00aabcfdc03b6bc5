"""The run request (request/run.py): built once by every surface, immutable, with the credential chosen once and its
secrets in the run's redactor before anything is sent or printed."""

from __future__ import annotations

import base64
import importlib
from dataclasses import FrozenInstanceError, replace

import pytest

import bbvars.request.run as run_module
from bbvars.models import Job, Policy, RunRequest, Target, Variable
from bbvars.redaction import Redactor
from bbvars.request.run import for_target, job_of, policy_of, request_of, target_of
from bbvars.request.settings import Settings
from tests.support import CLIENT_ID, CLIENT_SECRET, env_for, run_main

choose_module = importlib.import_module("bbvars.auth.choose")  # the module: bbvars.auth.choose is also the function
EMAIL, API_TOKEN = "ada@example.com", "ATATT3xFfGF0-request-test-token-9c1e"
FP_KEY = "Yk3nQ0x9-Run-Request-Key_4vR2sLw7uE1qZ8"


def single(**values) -> Settings:
    return Settings(**{"workspace": "acme", "repository": "api", "access_token": "acc-token-Request-55", **values})


def test_a_built_request_is_immutable_and_keeps_no_list_of_its_caller():
    given = [Variable("A", "1")]
    request = for_target(single(dry_run=True, concurrency=3), given, Redactor())
    given.append(Variable("B", "2"))
    assert isinstance(request, RunRequest) and request.jobs == (Job(Target("acme", "api"), (Variable("A", "1"),)),)
    assert isinstance(request.jobs, tuple) and isinstance(request.jobs[0].variables, tuple)
    assert (request.dry_run, request.concurrency, request.timeout) == (True, 3, 30.0)
    with pytest.raises(FrozenInstanceError):
        request.dry_run = False  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        request.jobs[0].policy.prune = True  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        request.credential = None  # type: ignore[misc]
    # Other jobs make another request with the same credential; this one is unchanged.
    other = request.with_jobs([job_of(single(repository="web"))])
    assert other.credential is request.credential and other.target == Target("acme", "web")
    assert request.target == Target("acme", "api")


def test_the_credential_s_secrets_and_the_fingerprint_key_are_in_the_redactor_once_built():
    redactor = Redactor()
    request = request_of(Settings(atlassian_account_email=EMAIL, atlassian_api_token=API_TOKEN,
                                  fingerprint_key=FP_KEY, workspace="acme"), [], redactor)
    assert request.credential.kind == "atlassian-api-token"
    basic = base64.b64encode(f"{EMAIL}:{API_TOKEN}".encode()).decode()
    shown = redactor(f"token {API_TOKEN} header Basic {basic} key {FP_KEY}")
    assert API_TOKEN not in shown and basic not in shown and FP_KEY not in shown
    assert API_TOKEN not in repr(request) and FP_KEY not in repr(request)  # neither a traceback shows them


def test_token_mints_from_the_oauth_consumer_whatever_else_is_set():
    settings = Settings(command="token", client_id="id", client_secret=CLIENT_SECRET, access_token="acc-token-x1")
    assert request_of(settings, (), Redactor()).credential.kind == "oauth-consumer"
    assert request_of(Settings(**{**settings.__dict__, "command": "sync"}), (), Redactor()).credential.kind == (
        "access-token")


def test_the_policy_holds_the_prefix_as_it_appears_in_the_keys():
    settings = single(prune=True, prefix="tf-", upper=True, protect=("TF_KEEP*",), max_deletes=3, fingerprint=True)
    assert policy_of(settings) == Policy(prune=True, prefix="TF_", upper=True, protect=("TF_KEEP*",), max_deletes=3,
                                         fingerprint=True)
    assert target_of(single(environment="Test")) == Target("acme", "api", "Test")
    assert job_of(single(), [Variable("A", "1")], name="api").name == "api"


MANIFEST = "version: 1\nworkspace: acme\ntargets:\n  - {name: a, repository: api, variables: {K: v}}\n  - {variables: {W: w}}\n"


@pytest.mark.parametrize("args", [
    ["sync", "--workspace", "acme", "--repository", "api", "--var", "A=1", "--prune", "--yes"],
    ["sync", "--manifest", "bbvars.yml"],
    ["check", "--workspace", "acme", "--repository", "api", "--environment", "Test"],
    ["list", "--workspace", "acme", "--repository", "api"],
    ["token"],
], ids=["sync", "manifest", "check", "list", "token"])
def test_a_whole_cli_run_chooses_the_credential_exactly_once(emulator, monkeypatch, capsys, tmp_path, args):
    (tmp_path / "bbvars.yml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    built: list = []
    made: list = []
    real_choose, real_consumer = run_module.choose, choose_module.consumer_credential

    def counted_choose(*given, **named):
        built.append(1)
        return real_choose(*given, **named)

    def counted_consumer(*given, **named):  # every choose of this run's kind, wherever it is called from
        made.append(1)
        return real_consumer(*given, **named)

    monkeypatch.setattr(run_module, "choose", counted_choose)
    monkeypatch.setattr(choose_module, "consumer_credential", counted_consumer)
    result = run_main(args, env=env_for(emulator), monkeypatch=monkeypatch, capsys=capsys)
    assert result.code == 0, result.stderr
    assert (len(built), len(made)) == (1, 1)
    if args[0] != "token":
        assert emulator.requests  # the run went to the API with that one credential
    if args[0] in ("sync", "list", "token") and "--manifest" not in args:  # the lines the CLI prints today
        assert "bbvars: credential: OAuth consumer" in result.stderr


def test_the_report_shape_follows_the_request_a_manifest_even_of_one_target_or_one_target(emulator):
    # RunResult.manifest (the report's shape) is set by the engine from the request, never by each surface.
    from bbvars.sync import engine

    redactor = Redactor()
    base = Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=emulator.api_url,
                    token_url=emulator.token_url, workspace="acme", repository="api")
    for given, expected in ((base, False), (replace(base, manifest="bbvars.yml"), True)):
        request = request_of(given, [job_of(given, [Variable("A", "1")])], redactor)
        assert request.manifest is expected
        assert engine.run(request, redactor).manifest is expected
        assert engine.run(request.with_jobs([job_of(given)]), redactor).manifest is expected  # nothing to write
