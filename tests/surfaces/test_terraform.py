"""`bbvars terraform`, run exactly as hashicorp/terraform-provider-external runs it: executed without a shell, the
query marshalled as Go does on standard input, and standard output decoded strictly as a map of string to string."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from bbvars.emulator import Fault
from tests.support import CLIENT_ID, CLIENT_SECRET, api_writes, env_for, run_in_process, stored

SYNC_ANSWER_KEYS = {"created", "updated", "unchanged", "deleted", "failed", "changed", "dry_run"}


def go_marshal(query: dict) -> bytes:
    """The bytes Go's json.Marshal(map[string]string) gives: sorted keys, no spaces, HTML characters escaped."""
    text = json.dumps(query, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text.encode("utf-8")


def refuse_duplicates(pairs):
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in the answer: {keys}"
    return dict(pairs)


@dataclass
class External:
    code: int
    stdout: str
    stderr: str

    @property
    def answer(self) -> dict[str, str]:
        """What the provider's json.Unmarshal into map[string]string accepts, and nothing more lenient."""
        assert self.code == 0, f"exit {self.code}; stderr: {self.stderr!r}"
        document = json.loads(self.stdout, object_pairs_hook=refuse_duplicates)  # raises on any trailing text
        assert isinstance(document, dict), f"stdout is not one JSON object: {self.stdout!r}"
        for key, value in document.items():
            assert isinstance(key, str) and isinstance(value, str), f"{key!r}: {value!r} is not string: string"
        return document

    @property
    def error(self) -> str:
        """The failure contract: non-zero exit, nothing on stdout, exactly one line on stderr."""
        assert self.code != 0, f"expected a failure, got exit 0 and stdout {self.stdout!r}"
        assert self.stdout == "", f"stdout must be empty on failure, got {self.stdout!r}"
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got {self.stderr!r}"
        assert lines[0].startswith("bbvars: error: "), lines[0]
        return lines[0].removeprefix("bbvars: error: ")


def external(query: dict | None, env: dict[str, str], *, raw: bytes | None = None, process: bool = False) -> External:
    """The program as Terraform runs it, in-process; process=True for the few tests that run a real process."""
    given = raw if raw is not None else go_marshal(query or {})
    if not process:
        run = run_in_process(["terraform"], env=env, input=given, binary=True)
        result = External(run.code, run.stdout, run.stderr)
    else:
        proc = subprocess.run([sys.executable, "-m", "bbvars", "terraform"], input=given, capture_output=True,
                              env=env, timeout=60)
        result = External(proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8"))
    for stream in (result.stdout, result.stderr):
        assert CLIENT_SECRET not in stream, "the client secret leaked"
    return result


def answered(query: dict, env: dict[str, str], process: bool = False) -> dict[str, str]:
    result = external(query, env, process=process)
    answer = result.answer
    assert result.stderr == "", f"nothing but the answer is expected, got stderr {result.stderr!r}"
    return answer




def query(**extra: str) -> dict[str, str]:
    return {"workspace": "acme", "repository": "api", **extra}


# -- sync --------------------------------------------------------------------------------------------------------


def test_sync_creates_then_a_second_run_changes_nothing(emulator):
    env = env_for(emulator)
    variables = json.dumps({"API_URL": "https://api.example.com/?a=1&b=<2>", "REPLICAS": 3, "ZONES": ["a", "b"],
                            "LIMITS": {"cpu": 2}, "GREETING": "grüß dich"})
    first = answered(query(variables=variables), env, process=True)
    assert set(first) == SYNC_ANSWER_KEYS
    assert first == {"created": "API_URL,GREETING,LIMITS,REPLICAS,ZONES", "updated": "", "unchanged": "",
                     "deleted": "", "failed": "", "changed": "true", "dry_run": "false"}
    assert stored(emulator) == {
        "API_URL": ("https://api.example.com/?a=1&b=<2>", False),
        "REPLICAS": ("3", False),
        "ZONES": ('["a","b"]', False),
        "LIMITS": ('{"cpu":2}', False),
        "GREETING": ("grüß dich", False),
    }

    second = answered(query(variables=variables), env)
    assert second["unchanged"] == "API_URL,GREETING,LIMITS,REPLICAS,ZONES"
    assert (second["created"], second["updated"], second["changed"]) == ("", "", "false")
    assert len(emulator.variables("acme", "api")) == 5


def test_changed_value_is_updated(emulator):
    emulator.seed_variable("acme", "API_URL", "old", repository="api")
    answer = answered(query(variables=json.dumps({"API_URL": "new"})), env_for(emulator))
    assert (answer["updated"], answer["changed"]) == ("API_URL", "true")
    assert stored(emulator) == {"API_URL": ("new", False)}


def test_sensitive_terraform_output_is_stored_secured(emulator):
    outputs = {
        "db_password": {"value": "hunter2-very-secret", "type": "string", "sensitive": True},
        "api_url": {"value": "https://api.example.com", "type": "string", "sensitive": False},
        "replicas": {"value": 3, "type": "number", "sensitive": False},
    }
    result = external(query(variables=json.dumps(outputs), upper="true"), env_for(emulator))
    assert result.answer["created"] == "API_URL,DB_PASSWORD,REPLICAS"
    assert stored(emulator) == {
        "DB_PASSWORD": ("hunter2-very-secret", True),
        "API_URL": ("https://api.example.com", False),
        "REPLICAS": ("3", False),
    }
    assert "hunter2" not in result.stdout + result.stderr


def test_secured_query_key_secures_plain_json_keys(emulator):
    variables = json.dumps({"TOKEN": "tok-123456", "NAME": "api"})
    answered(query(variables=variables, secured="TOKEN", prefix="APP_"), env_for(emulator))
    assert stored(emulator) == {"APP_TOKEN": ("tok-123456", True), "APP_NAME": ("api", False)}


def test_yaml_variables(emulator):
    answered(query(variables="API_URL: https://x.example\nDEBUG: false\n"), env_for(emulator))
    assert stored(emulator) == {"API_URL": ("https://x.example", False), "DEBUG": ("false", False)}


def test_dry_run_reports_and_writes_nothing(emulator):
    emulator.seed_variable("acme", "KEEP", "old", repository="api")
    emulator.seed_variable("acme", "STALE", "x", repository="api")
    emulator.reset_requests()
    answer = answered(query(variables=json.dumps({"KEEP": "new", "ADD": "1"}), dry_run="true", prune="yes"),
                      env_for(emulator))
    assert answer == {"created": "ADD", "updated": "KEEP", "unchanged": "", "deleted": "STALE", "failed": "",
                      "changed": "true", "dry_run": "true"}
    assert api_writes(emulator) == []
    assert stored(emulator) == {"KEEP": ("old", False), "STALE": ("x", False)}


def test_prune_deletes_what_the_input_does_not_have(emulator):
    emulator.seed_variable("acme", "OLD", "x", repository="api")
    emulator.seed_variable("acme", "SAME", "1", repository="api")
    answer = answered(query(variables=json.dumps({"SAME": "1"}), prune="true"), env_for(emulator))
    assert (answer["deleted"], answer["unchanged"], answer["changed"]) == ("OLD", "SAME", "true")
    assert stored(emulator) == {"SAME": ("1", False)}


def test_without_prune_other_variables_stay(emulator):
    emulator.seed_variable("acme", "OTHER", "x", repository="api")
    answer = answered(query(variables=json.dumps({"NEW": "1"})), env_for(emulator))
    assert answer["deleted"] == ""
    assert set(stored(emulator)) == {"OTHER", "NEW"}


def test_deployment_environment_target(emulator):
    answer = answered(query(variables=json.dumps({"STAGE": "prod"}), environment="Production"), env_for(emulator))
    assert answer["created"] == "STAGE"
    assert stored(emulator, environment="Production") == {"STAGE": ("prod", False)}
    assert stored(emulator) == {}


def test_workspace_target_when_repository_is_left_out(emulator):
    answered({"workspace": "acme", "variables": json.dumps({"ORG": "acme"})}, env_for(emulator))
    assert [(v["key"], v["value"]) for v in emulator.variables("acme")] == [("ORG", "acme")]


def test_ambient_variables_other_than_bitbucket_credentials_change_nothing(emulator):
    env = env_for(emulator, WORKSPACE="elsewhere", REPOSITORY="other", BITBUCKET_WORKSPACE="elsewhere",
                  BITBUCKET_REPO_SLUG="other", DRY_RUN="true", PRUNE="true", VARIABLES='{"AMBIENT": "1"}',
                  SECURED="*", PREFIX="X_", UPPER="true", COMMAND="token", DEBUG="true", INPUT_DRY_RUN="true")
    emulator.seed_variable("acme", "KEEP", "x", repository="api")
    answer = answered(query(variables=json.dumps({"mine": "1"})), env)
    assert (answer["created"], answer["dry_run"]) == ("mine", "false")
    assert stored(emulator) == {"KEEP": ("x", False), "mine": ("1", False)}


# -- credentials ---------------------------------------------------------------------------------------------------


def test_credentials_from_the_query(emulator):
    env = env_for(emulator)
    del env["BITBUCKET_CLIENT_ID"], env["BITBUCKET_CLIENT_SECRET"]
    answered(query(variables=json.dumps({"A": "1"}), client_id=CLIENT_ID, client_secret=CLIENT_SECRET), env)
    assert stored(emulator) == {"A": ("1", False)}


def test_a_query_access_token_wins_over_the_environments_consumer(emulator):
    emulator.add_access_token("repo-access-token-123", scopes=("pipeline", "pipeline:variable"))
    env = env_for(emulator, BITBUCKET_CLIENT_SECRET="not-the-secret")  # would fail if it were used
    result = external(query(variables=json.dumps({"A": "1"}), access_token="repo-access-token-123"), env)
    assert result.answer["created"] == "A"
    assert "repo-access-token-123" not in result.stdout + result.stderr
    assert not [r for r in emulator.requests if "/oauth2/" in r.path], "the environment's consumer was used"


def test_empty_query_credentials_leave_the_environments(emulator):
    answer = answered(query(variables=json.dumps({"A": "1"}), client_id="", client_secret="", access_token=""),
                      env_for(emulator))
    assert answer["created"] == "A"


def test_missing_credentials_is_an_input_error(emulator):
    env = env_for(emulator)
    del env["BITBUCKET_CLIENT_ID"], env["BITBUCKET_CLIENT_SECRET"]
    result = external(query(variables=json.dumps({"A": "1"})), env)
    assert result.code == 2
    assert "no credentials" in result.error
    assert "BITBUCKET_CLIENT_ID" in result.error and "query key client_id" in result.error
    assert emulator.requests == []


def test_half_a_consumer_in_the_query_names_the_missing_query_key(emulator):
    result = external(query(variables=json.dumps({"A": "1"}), client_id=CLIENT_ID), env_for(emulator))
    assert result.code == 2
    assert result.error == "query key client_secret is not set: set it to the OAuth consumer's secret"


def test_wrong_secret_fails_with_one_line_naming_the_cause(emulator):
    result = external(query(variables=json.dumps({"A": "1", "B": "2"})),
                      env_for(emulator, BITBUCKET_CLIENT_SECRET="wrong-secret-value"), process=True)
    assert result.code == 1
    error = result.error
    assert error.startswith("repository acme/api: A, B failed: Bitbucket rejected the OAuth client id or secret"), error
    assert "wrong-secret-value" not in error
    assert stored(emulator) == {}


# -- token ---------------------------------------------------------------------------------------------------------


def test_token_command(emulator):
    answer = answered({"command": "token"}, env_for(emulator))
    assert set(answer) == {"access_token", "token_type", "expires_in", "scopes"}
    assert answer["access_token"] and answer["token_type"].lower() == "bearer"
    assert answer["expires_in"] == "7200"
    assert "pipeline" in answer["scopes"]


def test_token_needs_a_consumer(emulator):
    env = env_for(emulator)
    del env["BITBUCKET_CLIENT_ID"], env["BITBUCKET_CLIENT_SECRET"]
    result = external({"command": "token", "access_token": "repo-access-token-123"}, env)
    assert result.code == 2 and "token needs an OAuth consumer" in result.error
    assert "repo-access-token-123" not in result.stderr


# -- input errors: exit 2, one line, nothing on stdout, no request -------------------------------------------------


def test_unknown_query_key_is_named_with_the_accepted_keys(emulator):
    result = external(query(variables="{}", colour="blue"), env_for(emulator))
    assert result.code == 2
    error = result.error
    assert "unknown query key 'colour'" in error
    for key in ("workspace", "repository", "environment", "variables", "dry_run", "prune", "command", "secured"):
        assert key in error
    assert "debug" not in error and "quiet" not in error  # not offered by this surface
    assert emulator.requests == []


def test_several_unknown_keys_are_all_named(emulator):
    error = external({"workspace": "acme", "dryrun": "true", "repo": "api"}, env_for(emulator)).error
    assert error.startswith("unknown query keys 'dryrun', 'repo':")


@pytest.mark.parametrize("value, kind", [(True, "a boolean (true)"), (8, "a number (8)"), (None, "null"),
                                         (["a"], "a list"), ({"a": "b"}, "an object")])
def test_non_string_value_is_an_input_error(emulator, value, kind):
    raw = json.dumps({"workspace": "acme", "dry_run": value}).encode()
    result = external(None, env_for(emulator), raw=raw)
    assert result.code == 2
    assert result.error.startswith(f"query key dry_run must be a string, but it is {kind}")
    assert emulator.requests == []


@pytest.mark.parametrize("raw, expected", [
    (b"", "the query on standard input is empty"),
    (b"   \n", "the query on standard input is empty"),
    (b'["workspace"]', "must be a JSON object of strings, but it is a list"),
    (b'"acme"', "must be a JSON object of strings, but it is a string"),
    (b"null", "must be a JSON object of strings, but it is null"),
    (b"workspace = acme", "the query on standard input is not JSON"),
    (b'{"workspace": "acme"} {"x": "y"}', "the query on standard input is not JSON"),
    (b'{"workspace": "a", "workspace": "b"}', "gives the key 'workspace' twice"),
    (b'{"workspace": "\xff"}', "not UTF-8"),
])
def test_a_query_that_is_not_an_object_of_strings_is_an_input_error(emulator, raw, expected):
    result = external(None, env_for(emulator), raw=raw)
    assert result.code == 2
    assert expected in result.error
    assert emulator.requests == []


@pytest.mark.parametrize("key, value, expected", [
    ("dry_run", "maybe", "query key dry_run must be true or false"),
    ("prune", "on", "query key prune must be true or false"),
    ("concurrency", "100", "query key concurrency must be between 1 and 32"),
    ("timeout", "soon", "query key timeout must be a number"),
    ("command", "apply", "query key command must be one of sync, check, token"),
    ("repository", "a/b", "query key repository 'a/b' is not a slug"),
])
def test_bad_setting_values_are_input_errors(emulator, key, value, expected):
    result = external(query(variables=json.dumps({"A": "1"}), **{key: value}), env_for(emulator))
    assert result.code == 2
    assert result.error.startswith(expected), result.error
    assert emulator.requests == []


def test_missing_variables_and_workspace(emulator):
    assert external(query(), env_for(emulator)).error.startswith("query key variables is not set")
    assert external({"variables": "{}"}, env_for(emulator)).error == "no workspace: set query key workspace"
    assert emulator.requests == []


def test_bad_variables_document_names_the_query_key(emulator):
    result = external(query(variables=json.dumps({"bad-key": "1"})), env_for(emulator))
    assert result.code == 2
    assert result.error.startswith("query key variables: 'bad-key' is not a valid Bitbucket variable name")


def test_plain_http_api_url_from_the_environment_is_refused(emulator):
    env = env_for(emulator, BITBUCKET_API_URL="http://bitbucket.example.com/2.0")
    result = external(query(variables="{}"), env)
    assert result.code == 2 and result.error.startswith("BITBUCKET_API_URL uses plain http://")


# -- runtime failures: exit 1, one line naming the failed keys and the cause ---------------------------------------


def test_a_failed_variable_fails_the_data_source(emulator):
    emulator.inject(Fault(method="POST", path="/pipelines_config/variables", status=400, times=1))
    result = external(query(variables=json.dumps({"FIRST": "1", "SECOND": "2"}), concurrency="1"),
                      env_for(emulator))
    assert result.code == 1
    error = result.error
    created = set(stored(emulator))
    assert len(created) == 1, created
    (failed,) = {"FIRST", "SECOND"} - created
    assert error.startswith(f"repository acme/api: {failed} failed: Bitbucket answered HTTP 400"), error
    assert error.endswith("(still done: 1 created)"), error


def test_an_unknown_environment_fails_every_key_with_one_cause(emulator):
    result = external(query(variables=json.dumps({"A": "1", "B": "2"}), environment="Nowhere"), env_for(emulator))
    assert result.code == 1
    assert "A, B failed: deployment environment 'Nowhere' not found" in result.error
    assert api_writes(emulator) == []


def test_help_mentions_the_query_keys():
    proc = subprocess.run([sys.executable, "-m", "bbvars", "terraform", "--help"], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0
    assert "query keys:" in proc.stdout and 'program = ["bbvars", "terraform"]' in proc.stdout


def test_a_retry_wait_prints_nothing_beyond_the_protocol(emulator):
    emulator.inject(Fault(method="POST", path="variables", status=429, times=1))
    result = external(query(variables=json.dumps({"A": "1"})), env_for(emulator))
    assert result.answer["created"] == "A"
    assert result.stderr == ""  # no retry line, no progress: Terraform shows stderr only for a failure
    assert [r.status for r in api_writes(emulator)] == [429, 201]


def test_fingerprinted_secured_values_seen_equal_are_no_change(emulator):
    env = env_for(emulator, BBVARS_FINGERPRINT_KEY="tf-Fingerprint-Key-99-a1b2c3")  # from Terraform's environment
    variables = json.dumps({"DB_PASSWORD": "pw-Terraform-Fp-12", "HOST": "h"})
    first = answered(query(variables=variables, secured="DB_PASSWORD", fingerprint="true"), env)
    assert first["created"] == "DB_PASSWORD,HOST" and first["changed"] == "true"
    emulator.reset_requests()
    plan = answered(query(variables=variables, secured="DB_PASSWORD", fingerprint="true", dry_run="true"), env)
    assert (plan["unchanged"], plan["changed"]) == ("DB_PASSWORD,HOST", "false")
    without = answered(query(variables=variables, secured="DB_PASSWORD", dry_run="true"), env)
    assert (without["updated"], without["changed"]) == ("DB_PASSWORD", "true")
    assert api_writes(emulator) == []
    other_key = answered(query(variables=variables, secured="DB_PASSWORD", fingerprint="true", dry_run="true"),
                         {**env, "BBVARS_FINGERPRINT_KEY": "another-key-1234-5678-9abc"})
    assert other_key["updated"] == "DB_PASSWORD"  # the key came from the environment: another key, another answer
    failed = external(query(variables=variables, secured="DB_PASSWORD", fingerprint="true", workspace="nope"), env)
    assert "tf-Fingerprint-Key-99" not in failed.error


def test_prune_scoped_by_protect_in_the_query(emulator):
    for key in ("KEEP_ME", "OLD"):
        emulator.seed_variable("acme", key, "v", repository="api")
    answer = answered(query(variables='{"A": "1"}', prune="true", protect="KEEP_*", max_deletes="1"), env_for(emulator))
    assert answer["deleted"] == "OLD" and set(stored(emulator)) == {"KEEP_ME", "A"}
    refused = external(query(variables='{"A": "1"}', prune="true", max_deletes="0"), env_for(emulator))
    assert "over the max-deletes limit of 0" in refused.error
