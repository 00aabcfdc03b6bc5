"""`bbvars sync` (and `token`) as a user runs them: a real process against the emulator. The main examples."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest

from bbvars.emulator import Fault
from tests.support import CLIENT_SECRET, ROOT, api_writes, env_for, run_cli, run_in_process, stored

SYNC = ["sync", "-w", "acme", "-r", "api"]
SCHEMA = json.loads((ROOT / "schema" / "result.schema.json").read_text())

TERRAFORM_OUTPUT = {
    "db_host": {"sensitive": False, "type": "string", "value": "db.internal"},
    "db_port": {"sensitive": False, "type": "number", "value": 5432},
    "ratio": {"sensitive": False, "type": "number", "value": 0.25},
    "enabled": {"sensitive": False, "type": "bool", "value": True},
    "zones": {"sensitive": False, "type": ["list", "string"], "value": ["a", "b"]},
    "tags": {"sensitive": False, "type": ["map", "string"], "value": {"team": "core", "tier": "1"}},
    "db_password": {"sensitive": True, "type": "string", "value": "pa55-w0rd-terraform"},
}





def summary_of(run) -> list[str]:
    """stderr after the line naming the credential kind, which comes first (never a value)."""
    lines = run.stderr.splitlines()
    assert lines[0] == "bbvars: credential: OAuth consumer", run.stderr
    return lines[1:]

def test_terraform_outputs_first_run_then_nothing_to_do(emulator, bb_env):
    first = run_cli(SYNC, env=bb_env, input=json.dumps(TERRAFORM_OUTPUT))

    assert first.code == 0, first.stderr
    jsonschema.validate(first.json, SCHEMA)
    assert first.json == {
        "target": {"workspace": "acme", "repository": "api", "environment": None},
        "dry_run": False,
        "created": ["db_host", "db_password", "db_port", "enabled", "ratio", "tags", "zones"],
        "updated": [], "unchanged": [], "deleted": [], "failed": [],
        "requests": {"needed": 9, "spent": 9, "exact": True, "token": 1, "environments": 0, "listing": 1,
                     "writes": 7, "fingerprints": 0, "credential": "oauth-consumer"},
    }
    assert stored(emulator) == {
        "db_host": ("db.internal", False),
        "db_port": ("5432", False),
        "ratio": ("0.25", False),
        "enabled": ("true", False),
        "zones": ('["a","b"]', False),
        "tags": ('{"team":"core","tier":"1"}', False),
        "db_password": ("pa55-w0rd-terraform", True),  # sensitive outputs are secured
    }
    assert summary_of(first) == [
        "repository acme/api: 7 created, 0 updated, 0 unchanged, 0 deleted",
        "+ db_host", "+ db_password (secured)", "+ db_port", "+ enabled", "+ ratio", "+ tags", "+ zones",
        "requests: 9 sent, 9 needed (1 token + 1 listing page + 7 writes)"]

    emulator.reset_requests()
    second = run_cli(SYNC, env=bb_env, input=json.dumps(TERRAFORM_OUTPUT))
    assert second.code == 0
    # A secured value can never be read back, so without --fingerprint it is always written, and the summary
    # says why; everything else is left alone.
    assert second.json["updated"] == ["db_password"] and len(second.json["unchanged"]) == 6
    assert second.json["reasons"] == {"db_password": "no fingerprint"}
    assert summary_of(second) == ["repository acme/api: 0 created, 1 updated, 6 unchanged, 0 deleted",
                                  "~ db_password (secured, no fingerprint)",
                                  "requests: 3 sent, 3 needed (1 token + 1 listing page + 1 write)"]
    assert [r.method for r in api_writes(emulator)] == ["PUT"]


def test_update_and_prune_lines(emulator, bb_env):
    for key, value in {"KEEP": "k", "CHANGE": "old", "EXTRA": "e"}.items():
        emulator.seed_variable("acme", key, value, repository="api")

    run = run_in_process([*SYNC, "--prune"], env=bb_env, input='{"KEEP": "k", "CHANGE": "new", "ADD": "a"}')

    assert run.code == 0
    assert summary_of(run) == ["repository acme/api: 1 created, 1 updated, 1 unchanged, 1 deleted",
                                       "+ ADD", "~ CHANGE", "- EXTRA",
                                       "requests: 5 sent, 5 needed (1 token + 1 listing page + 3 writes)"]
    assert (run.json["created"], run.json["updated"], run.json["unchanged"], run.json["deleted"]) == (
        ["ADD"], ["CHANGE"], ["KEEP"], ["EXTRA"])
    assert stored(emulator) == {"KEEP": ("k", False), "CHANGE": ("new", False), "ADD": ("a", False)}


def test_dry_run_writes_nothing_and_says_what_it_would_do(emulator, bb_env):
    emulator.seed_variable("acme", "CHANGE", "old", repository="api")
    emulator.seed_variable("acme", "EXTRA", "e", repository="api")

    run = run_in_process([*SYNC, "--dry-run", "--prune"], env=bb_env, input='{"CHANGE": "new", "ADD": "a"}')

    assert run.code == 0 and run.json["dry_run"] is True
    assert (run.json["created"], run.json["updated"], run.json["deleted"]) == (["ADD"], ["CHANGE"], ["EXTRA"])
    assert summary_of(run)[0] == ("repository acme/api: 1 to create, 1 to update, 0 unchanged, 1 to delete "
                                          "(dry run: nothing written)")
    assert api_writes(emulator) == [] and stored(emulator) == {"CHANGE": ("old", False), "EXTRA": ("e", False)}


def test_prefix_upper_var_file_and_yaml(emulator, bb_env, tmp_path):
    (tmp_path / "a.yaml").write_text("db-host: db.internal\nreplicas: 3\nstarted: 2024-01-01\n")
    (tmp_path / "b.json").write_text('{"api-url": "https://api"}')

    run = run_in_process([*SYNC, "--prefix", "app-", "--upper", "-f", str(tmp_path / "a.yaml"), "--file",
                   str(tmp_path / "b.json"), "--var", "extra=x=y", "--var", "empty="], env=bb_env)

    assert run.code == 0, run.stderr
    assert stored(emulator) == {"APP_DB_HOST": ("db.internal", False), "APP_REPLICAS": ("3", False),
                                "APP_STARTED": ("2024-01-01", False), "APP_API_URL": ("https://api", False),
                                "APP_EXTRA": ("x=y", False), "APP_EMPTY": ("", False)}


def test_stdin_as_a_file_together_with_vars_and_secured(emulator, bb_env):
    run = run_in_process([*SYNC, "-f", "-", "--var", "TOKEN=t0k3n-value-123", "--secured", "TOKEN,PASSWORD"], env=bb_env,
                  input="PASSWORD: hunter22\nUSER: admin\n")
    assert run.code == 0, run.stderr
    assert stored(emulator) == {"PASSWORD": ("hunter22", True), "USER": ("admin", False),
                                "TOKEN": ("t0k3n-value-123", True)}
    assert "hunter22" not in run.stdout + run.stderr and "t0k3n-value-123" not in run.stdout + run.stderr


def test_secured_star_secures_everything(emulator, bb_env):
    run = run_in_process([*SYNC, "--secured", "*"], env=bb_env, input='{"A": "1", "B": "2"}')
    assert run.code == 0 and stored(emulator) == {"A": ("1", True), "B": ("2", True)}


def test_a_null_value_is_an_input_error_naming_the_key(emulator, bb_env):
    run = run_in_process(SYNC, env=bb_env, input='{"db_host": "x", "db_password": null}')
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.strip() == ("bbvars: error: standard input: db_password is null; give it a value or leave it "
                                  "out")
    assert emulator.requests == []


def test_a_failure_exits_1_with_the_report_and_one_error_line(emulator, bb_env):
    run = run_cli(["sync", "-w", "acme", "-r", "nope"], env=bb_env, input='{"A": "1", "B": "2"}')

    assert run.code == 1
    jsonschema.validate(run.json, SCHEMA)
    assert [f["key"] for f in run.json["failed"]] == ["A", "B"]
    assert all("repository acme/nope not found" in f["error"] for f in run.json["failed"])
    lines = summary_of(run)
    assert lines[0] == "repository acme/nope: 0 created, 0 updated, 0 unchanged, 0 deleted, 2 failed"
    # The shared cause is told once, naming the keys (few of them), in the one error line.
    assert len(lines) == 2 and lines[1].startswith(
        "bbvars: error: repository acme/nope: A, B failed: repository acme/nope not found"), lines


def test_quiet_prints_no_summary(emulator, bb_env):
    run = run_in_process([*SYNC, "--quiet"], env=bb_env, input='{"A": "1"}')
    assert run.code == 0 and run.stderr == "" and run.json["created"] == ["A"]
    failed = run_in_process(["sync", "-q", "-w", "acme", "-r", "nope"], env=bb_env, input='{"A": "1"}')
    assert failed.code == 1 and failed.stderr.startswith(
        "bbvars: error: repository acme/nope: A failed: repository acme/nope not found")


def test_debug_shows_request_lines_but_no_secret(emulator, bb_env):
    run = run_in_process([*SYNC, "--debug"], env=bb_env,
                  input=json.dumps({"PASSWORD": {"value": "very-secret-value", "type": "string", "sensitive": True},
                                    "HOST": {"value": "h", "type": "string", "sensitive": False}}))
    assert run.code == 0
    debug = [line for line in run.stderr.splitlines() if line.startswith("bbvars: debug: ")]
    assert any(line.startswith(f"bbvars: debug: POST {emulator.token_url} -> 200") for line in debug)
    assert any(f"GET {emulator.api_url}/repositories/acme/api/pipelines_config/variables -> 200" in line
               for line in debug)
    assert sum(" POST " in f" {line[15:]}" and "pipelines_config" in line for line in debug) == 2
    output = run.stdout + run.stderr
    assert "very-secret-value" not in output and CLIENT_SECRET not in output
    assert "Bearer" not in output and "Authorization" not in output


def test_environment_variables_by_name(emulator, bb_env):
    uuid = next(e["uuid"] for e in emulator.environments("acme", "api") if e["name"] == "Production")
    run = run_in_process([*SYNC, "-e", "production"], env=bb_env, input='{"URL": "https://prod"}')
    assert run.code == 0
    assert run.json["target"] == {"workspace": "acme", "repository": "api", "environment": "production"}
    assert summary_of(run)[0].startswith("environment production of acme/api: 1 created")
    assert stored(emulator, repository="api", environment=uuid) == {"URL": ("https://prod", False)}


@pytest.mark.parametrize("option", [["--repository", "api"], ["--repo", "api"], ["--repo=api"], ["-r", "api"]])
def test_the_repository_by_each_of_its_spellings(emulator, bb_env, option):
    run = run_in_process(["sync", "-w", "acme", *option], env=bb_env, input='{"R": "1"}')
    assert run.code == 0, run.stderr
    assert run.json["target"] == {"workspace": "acme", "repository": "api", "environment": None}
    assert stored(emulator) == {"R": ("1", False)} and stored(emulator, repository=None) == {}


def test_the_help_names_the_repo_alias(emulator, bb_env):
    # argparse would also take --repo as an abbreviation of --repository: the help shows it is a real alias.
    run = run_in_process(["sync", "--help"], env=bb_env)
    assert run.code == 0
    # (Python 3.13 shows the metavar once: "--repository, --repo, -r REPOSITORY".)
    assert re.search(r"--repository( REPOSITORY)?, --repo( REPOSITORY)?, -r REPOSITORY", run.stdout), run.stdout


def test_workspace_variables_have_a_null_repository(emulator, bb_env):
    run = run_in_process(["sync", "-w", "acme"], env=bb_env, input='{"W": "1"}')
    assert run.code == 0
    assert run.json["target"] == {"workspace": "acme", "repository": None, "environment": None}
    assert stored(emulator, repository=None) == {"W": ("1", False)}


def test_an_access_token_instead_of_a_consumer(emulator):
    emulator.add_access_token("repo-access-token-5678")
    env = env_for(emulator, BITBUCKET_ACCESS_TOKEN="repo-access-token-5678")
    del env["BITBUCKET_CLIENT_ID"], env["BITBUCKET_CLIENT_SECRET"]

    run = run_in_process([*SYNC, "--debug"], env=env, input='{"A": "1"}')

    assert run.code == 0 and run.json["created"] == ["A"]
    assert [r for r in emulator.requests if "oauth2" in r.path] == []
    assert "repo-access-token-5678" not in run.stdout + run.stderr


def test_bad_credentials_exit_1_with_the_cause(emulator, bb_env):
    run = run_in_process(SYNC, env={**bb_env, "BITBUCKET_CLIENT_SECRET": "wrong-secret-123"}, input='{"A": "1"}')
    assert run.code == 1 and "rejected the OAuth client id or secret" in run.stderr
    assert "wrong-secret-123" not in run.stdout + run.stderr
    assert api_writes(emulator) == []


@pytest.mark.parametrize("field", ["scope", "scopes"])
def test_token_prints_the_token_and_its_scopes(emulator, bb_env, field):
    emulator.scope_field = field
    run = run_in_process(["token"], env=bb_env)
    assert run.code == 0 and run.stderr == "bbvars: credential: OAuth consumer\n"
    token = json.loads(run.stdout)
    assert set(token) == {"access_token", "token_type", "expires_in", "scopes"}
    assert token["scopes"] == "pipeline pipeline:variable" and token["expires_in"] == 7200
    assert CLIENT_SECRET not in run.stdout


def test_quiet_still_gives_one_error_line_naming_the_failed_key(emulator):
    emulator.inject(Fault(method="POST", path="variables", status=400, times=1))
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--quiet"], env=env_for(emulator))
    assert run.code == 1
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("bbvars: error: repository acme/api: A failed: "), \
        run.stderr
    assert "check the key and value" in run.stderr


def test_an_empty_document_is_refused_unless_allowed(emulator):
    refused = run_in_process(["sync", "-w", "acme", "-r", "api"], env=env_for(emulator), input="{}")
    assert refused.code == 2 and refused.stdout == "" and "--allow-empty" in refused.stderr
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--allow-empty"], env=env_for(emulator), input="{}")
    assert run.code == 0, run.stderr
    assert run.json["created"] == [] and emulator.requests == []


def test_a_redirect_is_not_taken_for_success(emulator):
    emulator.inject(Fault(method="POST", path="variables", status=302, headers={"Location": "https://example.com/"}))
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--quiet"], env=env_for(emulator))
    assert run.code == 1 and run.json["failed"][0]["key"] == "A"
    assert "redirect (HTTP 302)" in run.stderr
    assert stored(emulator) == {}


def test_a_listed_name_with_a_line_break_stays_on_one_summary_line(emulator):
    from tests.surfaces.test_pipe import listing

    # A CLI step of a GitHub workflow is read for workflow commands too: a listed key cannot start one.
    emulator.inject(listing("EVIL\n::stop-commands::x"))
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--prune"], env=env_for(emulator))
    assert run.code == 0, run.stderr
    # No variable name, so left alone, and named once, escaped.
    assert run.json["deleted"] == [] and run.json["foreign"] == 1
    assert [line for line in run.stderr.splitlines() if '"EVIL\\x0a::stop-commands::x"' in line] != []
    assert not any(line.startswith("::") for line in run.stderr.splitlines())


# -- fingerprints, exit codes, safe prune ---------------------------------------------------------------------------

SECURED_INPUT = json.dumps({"DB_PASSWORD": "pa55-Fingerprint-1a2b", "API_KEY": "key-Fingerprint-3c4d", "HOST": "h"})
FINGERPRINT_KEY = "fp-KEY-Recognisable-5e6f7a-9b8c7d6e5f4a3b"


def test_fingerprints_make_a_second_run_write_nothing_and_exit_0(emulator, bb_env):
    bb_env = {**bb_env, "BBVARS_FINGERPRINT_KEY": FINGERPRINT_KEY}
    args = [*SYNC, "--secured", "DB_PASSWORD,API_KEY", "--fingerprint", "--exit-code"]
    first = run_in_process(args, env=bb_env, input=SECURED_INPUT)
    assert first.code == 3, first.stderr  # changes made
    jsonschema.validate(first.json, SCHEMA)
    assert first.json["created"] == ["API_KEY", "DB_PASSWORD", "HOST"] and first.json["fingerprints"] == "created"
    assert "+ DB_PASSWORD (secured)" in first.stderr.splitlines()

    emulator.reset_requests()
    second = run_in_process(args, env=bb_env, input=SECURED_INPUT)
    assert second.code == 0, second.stderr
    assert api_writes(emulator) == [] and second.json["unchanged"] == ["API_KEY", "DB_PASSWORD", "HOST"]
    assert summary_of(second) == ["repository acme/api: 0 created, 0 updated, 3 unchanged, 0 deleted",
                                  "requests: 2 sent, 2 needed (1 token + 1 listing page)"]

    emulator.reset_requests()
    changed = run_in_process(args, env=bb_env, input=SECURED_INPUT.replace("3c4d", "9z9z"))
    assert changed.code == 3
    jsonschema.validate(changed.json, SCHEMA)
    assert changed.json["updated"] == ["API_KEY"] and changed.json["reasons"] == {"API_KEY": "fingerprint differs"}
    assert summary_of(changed)[1:] == ["~ API_KEY (secured, fingerprint differs)",
                                       "requests: 4 sent, 4 needed (1 token + 1 listing page + 1 write + 1 "
                                       "fingerprint write)"]
    assert [w.method for w in api_writes(emulator)] == ["PUT", "PUT"]  # its write plus the fingerprint update


def test_exit_code_with_a_dry_run_tells_whether_the_plan_has_changes(emulator, bb_env):
    emulator.seed_variable("acme", "A", "1", repository="api")
    same = run_cli([*SYNC, "--dry-run", "--exit-code", "--var", "A=1"], env=bb_env)
    assert same.code == 0 and same.json["unchanged"] == ["A"]
    pending = run_cli([*SYNC, "--dry-run", "--exit-code", "--var", "A=2"], env=bb_env)
    assert pending.code == 3 and pending.json["updated"] == ["A"] and api_writes(emulator) == []
    without = run_cli([*SYNC, "--dry-run", "--var", "A=2"], env=bb_env)
    assert without.code == 0  # 3 only when asked for
    failing = run_cli(["sync", "-w", "acme", "-r", "nope", "--exit-code", "--var", "A=2"], env=bb_env)
    assert failing.code == 1
    bad = run_cli([*SYNC, "--exit-code", "--protect", "NOT A KEY", "--var", "A=2"], env=bb_env)
    assert bad.code == 2 and "--protect 'NOT A KEY' can never match a variable name" in bad.stderr


def test_max_deletes_refuses_the_run_with_exit_1_and_writes_nothing(emulator, bb_env):
    for i in range(8):
        emulator.seed_variable("acme", f"OLD_{i}", "o", repository="api")
    emulator.reset_requests()
    run = run_in_process([*SYNC, "--prune", "--max-deletes", "3", "--var", "NEW=n"], env=bb_env)
    assert run.code == 1 and api_writes(emulator) == [] and "NEW" not in stored(emulator)
    jsonschema.validate(run.json, SCHEMA)
    refusal = ("prune would delete 8 variables of repository acme/api (OLD_0, OLD_1, OLD_2 and 5 more), over the "
               "max-deletes limit of 3: nothing was written; check the input, or raise the limit")
    assert run.json["failed"] == [{"key": "NEW", "error": "not attempted: " + refusal}]
    assert run.stderr.splitlines()[-1].endswith(refusal)  # the one error line, the cause whole
    bad = run_in_process([*SYNC, "--prune", "--max-deletes", "-1", "--var", "NEW=n"], env=bb_env)
    assert bad.code == 2


def test_the_fingerprint_key_comes_from_the_environment_and_is_never_printed(emulator, bb_env):
    env = {**bb_env, "BBVARS_FINGERPRINT_KEY": FINGERPRINT_KEY}
    args = [*SYNC, "--secured", "*", "--fingerprint", "--debug"]
    first = run_in_process(args, env=env, input=SECURED_INPUT)
    second = run_in_process(args, env=env, input=SECURED_INPUT)
    assert first.code == 0 and second.code == 0 and second.json["updated"] == []
    rotated = run_in_process(args, env={**env, "BBVARS_FINGERPRINT_KEY": "another-key-entirely-0a1b2c3d4e"},
                      input=SECURED_INPUT)
    assert sorted(rotated.json["updated"]) == ["API_KEY", "DB_PASSWORD", "HOST"]
    for run in (first, second, rotated):
        assert FINGERPRINT_KEY not in run.stdout + run.stderr and "pa55-Fingerprint" not in run.stdout + run.stderr


def test_a_place_name_or_path_that_looks_like_a_setting_marker_is_told_as_given(emulator, tmp_path):
    # Messages name settings by a marker only this process knows: text the user gave is never rewritten into a
    # setting's name (`-e '{setting:workspace}'` was told as "--workspace", `-f '{setting:timeout}'` as "--timeout").
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "-e", "{setting:workspace}", "--var", "A=1"],
                         env=env_for(emulator))
    assert run.code == 1 and "'{setting:workspace}' not found" in run.stderr, run.stderr
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "-f", "{setting:timeout}"], env=env_for(emulator),
                         cwd=tmp_path)
    assert run.code == 2 and "--file {setting:timeout}" in run.stderr, run.stderr
