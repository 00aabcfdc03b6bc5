"""`check` through the pipe (COMMAND=check), the action (command: check) and Terraform (command = "check")."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import API_EMAIL, API_TOKEN, CLIENT_SECRET, api_writes, clean_env, env_for, run_in_process

API = {"ATLASSIAN_ACCOUNT_EMAIL": API_EMAIL, "ATLASSIAN_API_TOKEN": API_TOKEN}


def run(args, env, stdin=None):
    done = run_in_process(args, env=env, input=stdin)
    return subprocess.CompletedProcess([sys.executable, "-m", "bbvars", *args], done.code, done.stdout, done.stderr)


def test_pipe_check_needs_no_variables_and_ends_in_one_line(emulator):
    emulator.add_api_token(API_EMAIL, API_TOKEN)
    good = run(["pipe"], env_for(emulator, COMMAND="check", WORKSPACE="acme", REPOSITORY="api", **API))
    assert good.returncode == 0, good.stdout
    lines = good.stdout.splitlines()
    assert lines[:2] == ["INFO: Checking the credentials and repository acme/api (nothing is written)...",
                         "INFO: credential: Atlassian API token"]
    assert lines[-1] == "✔ Check passed: these credentials can sync this target"
    assert "✔ credential: Atlassian API token: accepted" in lines
    bad = run(["pipe"], env_for(emulator, COMMAND="check", WORKSPACE="acme", REPOSITORY="api", ENVIRONMENT="prod"))
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[-1] == ("✖ Check failed: environment: environment 'prod' not found in acme/api; "
                                           "it has: Production, Staging, Test")
    assert api_writes(emulator) == [] and CLIENT_SECRET not in bad.stdout + bad.stderr


def test_action_check_outputs_ok_credential_and_the_json(emulator, tmp_path):
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = env_for(emulator, INPUT_COMMAND="check", INPUT_WORKSPACE="acme", INPUT_REPOSITORY="api",
                  GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
    done = run(["action"], env)
    assert done.returncode == 0, done.stdout
    text = output.read_text()
    assert "ok<<" in text and "\ntrue\n" in text and "\noauth-consumer\n" in text
    result = json.loads(text.split("result<<", 1)[1].split("\n", 1)[1].rsplit("\nghadelimiter_", 1)[0])
    assert result["ok"] is True and result["credential"] == "oauth-consumer"
    assert "| ✔ | credential |" in summary.read_text()
    failing = run(["action"], {**env, "INPUT_REPOSITORY": "nope"})
    assert failing.returncode == 1
    assert failing.stdout.splitlines()[-1].startswith("::error::Check failed: repository: repository acme/nope not found")
    assert api_writes(emulator) == []


def test_terraform_check_answers_strings_or_fails_with_the_first_failing_check(emulator):
    good = run(["terraform"], env_for(emulator), json.dumps({"command": "check", "workspace": "acme", "repository": "api"}))
    assert good.returncode == 0 and json.loads(good.stdout) == {"ok": "true", "credential": "oauth-consumer"}
    bad = run(["terraform"], env_for(emulator), json.dumps({"command": "check", "workspace": "acme", "repository": "api",
                                                            "environment": "nope"}))
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "bbvars: error: check failed: environment: environment 'nope' not found in acme/api; it has: Production, "
        "Staging, Test"]
    # Credentials from the query are used as a set, API token included.
    emulator.add_api_token(API_EMAIL, API_TOKEN)
    query = {"command": "check", "workspace": "acme", "atlassian_account_email": API_EMAIL,
             "atlassian_api_token": API_TOKEN}
    via_query = run(["terraform"], clean_env(BITBUCKET_API_URL=emulator.api_url), json.dumps(query))
    assert json.loads(via_query.stdout) == {"ok": "true", "credential": "atlassian-api-token"}, via_query.stderr
    assert API_TOKEN not in via_query.stdout + via_query.stderr


UNPRINTABLE = set(map(chr, [*range(0x0a), *range(0x0b, 0x20), *range(0x7f, 0xa0), 0x2028, 0x2029]))


def test_cli_check_prints_no_control_character_a_server_sent(emulator):
    from bbvars.emulator import Fault

    hostile = "Prod\x1b]0;owned\x07\x1b[2J\x9b31m\x00\u2028x"
    body = {"values": [{"uuid": "{00000000-0000-0000-0000-000000000001}", "name": hostile, "slug": "prod"}],
            "page": 1, "pagelen": 100, "size": 1}
    emulator.inject(Fault(method="GET", path=r"/environments/?$", status=200, times=-1, body=json.dumps(body)))
    done = run(["check", "-w", "acme", "-r", "api", "-e", "nope"], env_for(emulator))
    assert done.returncode == 1, done.stderr
    assert "it has: Prod\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\x00\\u2028x" in done.stderr, done.stderr
    assert not UNPRINTABLE & set(done.stdout + done.stderr), repr(done.stdout + done.stderr)
    details = [check["detail"] for check in json.loads(done.stdout)["checks"]]
    assert any(detail.endswith(f"it has: {hostile}") for detail in details)  # the JSON keeps the server's text
