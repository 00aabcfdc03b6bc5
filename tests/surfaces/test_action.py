"""`bbvars action` end to end: a real process given what a GitHub runner gives a Docker action (every input as
INPUT_*, empty when the workflow leaves it out, the action.yml default when it has one; GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files), against the emulator."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bbvars.surfaces.action import escape_data, mask
from tests.support import CLIENT_ID, CLIENT_SECRET, ROOT, api_writes, env_for, run_cli, run_in_process
from tests.surfaces.test_pipe import listing

# The consumer's HTTP Basic header (base64 of id:secret), masked right after the secret: a server may echo it.
BASIC = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

PASSWORD = "pw-Action-4f5e6d"  # a sensitive Terraform output
CERTIFICATE = "-----BEGIN KEY-----\nline-One-8a7b\nline-Two-6c5d\n-----END KEY-----"  # secured, multi-line
API_KEY = "key-Action-0e1f2a"  # secured through the `secured` input
TERRAFORM = {
    "db_host": {"sensitive": False, "type": "string", "value": "db.internal"},
    "db_password": {"sensitive": True, "type": "string", "value": PASSWORD},
    "tls_key": {"sensitive": True, "type": "string", "value": CERTIFICATE},
    "api_key": {"sensitive": False, "type": "string", "value": API_KEY},
}
SECRETS = (CLIENT_SECRET, PASSWORD, API_KEY, *CERTIFICATE.splitlines()[1:3])
DELIMITER = re.compile(r"ghadelimiter_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


@pytest.fixture
def github(tmp_path):
    """The runner's files for one step."""
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.touch()
    summary.touch()
    return {"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}


def action_env(emu, github, *, consumer_in_env: bool = False, **given: str) -> dict[str, str]:
    """What the runner sets: every input of action.yml, with its default or empty unless the workflow gave it."""
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    env = env_for(emu, **github)
    if not consumer_in_env:  # the credentials come as inputs, as in the usual `with: client_secret: ${{ secrets.X }}`
        del env["BITBUCKET_CLIENT_ID"], env["BITBUCKET_CLIENT_SECRET"]
        given = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, **given}
    for name, spec in inputs.items():
        env[f"INPUT_{name.upper()}"] = str(given.pop(name, spec.get("default", "")))
    assert not given, f"not inputs of action.yml: {sorted(given)}"
    return env


def run_action(env, process: bool = False):
    """The action in-process; process=True for the few tests that run it as its container does, a real process."""
    return (run_cli if process else run_in_process)(["action"], env=env)


def outputs(github) -> dict[str, str]:
    """GITHUB_OUTPUT parsed strictly: only `name<<delimiter` blocks, each delimiter random and used once."""
    lines = Path(github["GITHUB_OUTPUT"]).read_text().split("\n")
    assert lines[-1] == "", "the file must end with a newline"
    lines.pop()
    found: dict[str, str] = {}
    delimiters = set()
    while lines:
        name, sep, delimiter = lines.pop(0).partition("<<")
        assert sep and re.fullmatch(r"[a-z_]+", name), f"not a heredoc header: {name + sep + delimiter!r}"
        assert DELIMITER.match(delimiter) and delimiter not in delimiters, delimiter
        delimiters.add(delimiter)
        assert delimiter in lines, f"{name}: unterminated"
        end = lines.index(delimiter)
        assert name not in found, f"{name} written twice"
        found[name] = "\n".join(lines[:end])
        del lines[: end + 1]
    return found


def masks_first(stdout: str) -> tuple[list[str], list[str]]:
    """(the values masked before any other line, the other lines but later masks)."""
    lines = stdout.splitlines()
    leading = 0
    while leading < len(lines) and lines[leading].startswith("::add-mask::"):
        leading += 1
    return ([line.removeprefix("::add-mask::") for line in lines[:leading]],
            [line for line in lines[leading:] if not line.startswith("::add-mask::")])


def later_masks(stdout: str) -> list[str]:
    """Masks after the first other line: only a token minted during the run may be one."""
    masked, _ = masks_first(stdout)
    return [line.removeprefix("::add-mask::") for line in stdout.splitlines()
            if line.startswith("::add-mask::")][len(masked):]


def assert_no_secret(run, github, *extra: str) -> None:
    summary = Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    output = Path(github["GITHUB_OUTPUT"]).read_text()
    _, rest = masks_first(run.stdout)
    for secret in (*SECRETS, *extra):
        for where, text in (("stdout", "\n".join(rest)), ("stderr", run.stderr), ("summary", summary),
                            ("GITHUB_OUTPUT", output)):
            assert secret not in text, f"{secret!r} in {where}"


def test_syncs_and_writes_every_output(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", environment="Production",
                     variables=json.dumps(TERRAFORM), secured="api_key", upper="true")
    run = run_action(env, process=True)
    assert run.code == 0, run.stdout + run.stderr
    keys = ["API_KEY", "DB_HOST", "DB_PASSWORD", "TLS_KEY"]
    result = outputs(github)
    assert set(result) == {"created", "updated", "unchanged", "deleted", "failed", "changed", "result"}
    assert result["created"] == ",".join(keys)
    assert (result["updated"], result["unchanged"], result["deleted"], result["failed"]) == ("", "", "", "")
    assert result["changed"] == "true"
    document = json.loads(result["result"])
    assert document["created"] == keys and document["failed"] == []
    assert document["target"] == {"workspace": "acme", "repository": "api", "environment": "Production"}

    held = {v["key"]: v for v in emulator.variables("acme", repository="api", environment="Production")}
    assert held["TLS_KEY"]["value"] == CERTIFICATE and held["TLS_KEY"]["secured"]
    assert held["API_KEY"]["secured"] and held["DB_PASSWORD"]["secured"] and not held["DB_HOST"]["secured"]
    assert_no_secret(run, github)
    assert run.stderr == ""


def test_every_secret_is_masked_before_anything_else(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", variables=json.dumps(TERRAFORM),
                     secured="api_key")
    run = run_action(env)
    assert run.code == 0, run.stdout
    masked, _rest = masks_first(run.stdout)
    # The consumer secret, each secured value, and the multi-line one line by line, before any other line.
    assert set(SECRETS) | {"-----BEGIN KEY-----", "-----END KEY-----"} <= set(masked)
    assert not any("\n" in value for value in masked)
    # The only later mask is the token minted during the run, registered the moment it existed: it shows nowhere.
    later = later_masks(run.stdout)
    assert len(later) == 1 and later[0] not in masked
    assert_no_secret(run, github, later[0])


def test_the_change_list_is_grouped_and_the_summary_is_a_table(emulator, github):
    emulator.seed_variable("acme", "OLD", "x", repository="api")
    emulator.seed_variable("acme", "B", "old", repository="api")
    env = action_env(emulator, github, workspace="acme", repository="api",
                     variables='{"A": "1", "B": "new"}', prune="true")
    run = run_action(env)
    assert run.code == 0, run.stdout
    _, rest = masks_first(run.stdout)
    assert rest == ["Syncing 2 variable(s) into repository acme/api...", "credential: OAuth consumer",
                    "::group::Changes (3)", "+ A", "~ B",
                    "- OLD", "::endgroup::", "requests: 5 sent, 5 needed (1 token + 1 listing page + 3 writes)",
                    "✔ Synced: 1 created, 1 updated, 0 unchanged, 1 deleted"]
    assert Path(github["GITHUB_STEP_SUMMARY"]).read_text() == (
        "### bbvars: repository acme/api\n\n| key | change |\n|---|---|\n| `A` | created |\n| `B` | updated |\n"
        "| `OLD` | deleted |\n\nSynced: 1 created, 1 updated, 0 unchanged, 1 deleted\n\n")
    assert outputs(github)["deleted"] == "OLD"


def test_a_second_run_reports_no_change(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", variables="A: 1\nB: two\n")
    assert run_action(env).code == 0
    Path(github["GITHUB_OUTPUT"]).write_text("")
    run = run_action(env)
    assert run.code == 0
    result = outputs(github)
    assert (result["changed"], result["unchanged"], result["created"]) == ("false", "A,B", "")
    assert "No changes." in Path(github["GITHUB_STEP_SUMMARY"]).read_text()


def test_dry_run_writes_nothing(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", variables='{"A": "1"}', dry_run="true")
    run = run_action(env)
    assert run.code == 0, run.stdout
    assert emulator.variables("acme", repository="api") == []
    result = outputs(github)
    assert (result["created"], result["changed"], json.loads(result["result"])["dry_run"]) == ("A", "true", True)
    assert "| `A` | to create |" in Path(github["GITHUB_STEP_SUMMARY"]).read_text()


def test_credentials_fall_back_to_the_bitbucket_environment(emulator, github):
    env = action_env(emulator, github, consumer_in_env=True, workspace="acme", repository="api",
                     variables='{"A": "1"}')
    assert env["INPUT_CLIENT_SECRET"] == "" and env["BITBUCKET_CLIENT_SECRET"] == CLIENT_SECRET
    run = run_action(env)
    assert run.code == 0, run.stdout
    assert masks_first(run.stdout)[0][0] == CLIENT_SECRET


def test_a_bad_input_is_an_error_line_before_any_request(emulator, github):
    env = action_env(emulator, github, workspace="acme", variables='{"A": "1"}', dry_run="maybe", timeout="0")
    run = run_action(env)
    assert run.code == 2
    masked, rest = masks_first(run.stdout)
    assert masked == [CLIENT_SECRET, BASIC]
    assert rest == ["::error::input dry_run must be true or false (also yes/no, 1/0), got 'maybe'; "
                    "input timeout must be between 1 and 600, got 0"]
    assert emulator.requests == []
    assert outputs(github) == {}


def test_a_failure_is_an_error_line_with_outputs_still_written(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", environment="Nowhere",
                     variables=json.dumps(TERRAFORM))
    run = run_action(env, process=True)
    assert run.code == 1
    _, rest = masks_first(run.stdout)
    assert rest[-1].startswith("::error::Sync failed (0 created, 0 updated, 0 unchanged, 0 deleted, 4 failed): ")
    assert "Nowhere" in rest[-1]
    result = outputs(github)
    assert (result["failed"], result["changed"]) == ("api_key,db_host,db_password,tls_key", "false")
    assert "| `db_host` | failed |" in Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    assert_no_secret(run, github)


def test_debug_logs_requests_but_never_a_secret(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", variables=json.dumps(TERRAFORM),
                     debug="true")
    run = run_action(env)
    assert run.code == 0, run.stdout
    debug = [line for line in run.stdout.splitlines() if line.startswith("DEBUG: ")]
    assert any("input workspace='acme'" in line for line in debug)
    assert sum(" -> 201 " in line for line in debug) == 4
    assert "Bearer" not in run.stdout
    assert_no_secret(run, github)


def test_the_token_command_masks_the_token_and_outputs_it(emulator, github):
    env = action_env(emulator, github, command="token")
    run = run_action(env)
    assert run.code == 0, run.stdout
    result = outputs(github)
    assert set(result) == {"access_token", "token_type", "expires_in", "scopes"}
    token = result["access_token"]
    assert len(token) >= 20
    assert (result["token_type"], result["expires_in"], result["scopes"]) == (
        "bearer", "7200", "pipeline pipeline:variable")
    masked, rest = masks_first(run.stdout)
    assert masked == [CLIENT_SECRET, BASIC, token]
    assert rest == ["✔ Minted a bearer token (output access_token, masked), expires in 7200 s"]
    assert token not in run.stderr
    # GITHUB_OUTPUT holds the token only as the access_token output.
    text = Path(github["GITHUB_OUTPUT"]).read_text()
    assert text.count(token) == 1 and CLIENT_SECRET not in text


def test_the_token_command_needs_a_consumer(emulator, github):
    env = action_env(emulator, github, command="token", client_id="", client_secret="", access_token="tok-Static-77aa")
    run = run_action(env)
    assert run.code == 2
    masked, rest = masks_first(run.stdout)
    assert masked == ["tok-Static-77aa"]
    assert rest == ["::error::token needs an OAuth consumer: set input client_id and input client_secret"]
    assert emulator.requests == []


def test_workflow_command_data_is_escaped(capsys):
    mask("ab%c\r\n\n  \nsecond%0Aline")
    assert capsys.readouterr().out == ("::add-mask::ab%25c%0D%0A%0A  %0Asecond%250Aline\n::add-mask::ab%25c\n"
                                       "::add-mask::second%250Aline\n")
    assert escape_data("50%\r\nnext") == "50%25%0D%0Anext"


def test_a_multi_line_secret_masks_its_whole_value_and_only_lines_worth_masking(capsys):
    # A JSON secret: `{`, `}`, `],` and `---` masked alone would blank every brace and rule in the rest of the log.
    secret = '{\n  "key": "-----BEGIN KEY-----\\nabc",\n  "id": [\n    "x1y2"\n  ],\n  "ab": 1\n}\n---\n'
    masked: set[str] = set()
    mask(secret, masked)
    mask(secret, masked)  # registered once
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["::add-mask::" + escape_data(secret), '::add-mask::  "key": "-----BEGIN KEY-----\\nabc",',
                     '::add-mask::  "id": [', '::add-mask::    "x1y2"', '::add-mask::  "ab": 1']
    mask("ok\n", masked)  # one line with a line break: that line too, however short
    mask("x", masked)  # a single-line secret is always masked whole
    assert capsys.readouterr().out.splitlines() == ["::add-mask::ok%0A", "::add-mask::ok", "::add-mask::x"]


def test_an_unwritable_github_output_is_a_known_failure(emulator, tmp_path):
    unwritable = tmp_path / "no-such-dir" / "output"
    env = env_for(emulator, INPUT_WORKSPACE="acme", INPUT_REPOSITORY="api", INPUT_VARIABLES='{"A": "1"}',
                  GITHUB_OUTPUT=str(unwritable))
    run = run_cli(["action"], env=env)
    assert run.code == 1
    errors = [line for line in run.stdout.splitlines() if line.startswith("::error::")]
    assert len(errors) == 1 and "cannot write $GITHUB_OUTPUT" in errors[0], run.stdout
    assert "internal error" not in run.stdout + run.stderr


@pytest.mark.parametrize("unwritable", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
def test_an_unwritable_runner_file_stops_the_run_before_any_request(emulator, github, tmp_path, unwritable):
    # As when the runner's files belong to another uid than the container's: found before anything is written.
    github = dict(github, **{unwritable: str(tmp_path)})  # a directory: opening it to append fails, even for root
    run = run_action(action_env(emulator, github, workspace="acme", repository="api", variables='{"A": "1"}'))
    assert run.code == 1, run.stdout
    lines = [line for line in run.stdout.splitlines() if not line.startswith("::add-mask::")]
    assert lines == [f"::error::cannot write ${unwritable} ({tmp_path}): Is a directory; nothing was sent to "
                     f"Bitbucket (the container runs as uid {os.getuid()}: a Docker action must run as root, the "
                     "image's default user)"], run.stdout
    assert emulator.requests == [], "a request was sent"


# -- variables_file: values kept out of the log ------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path, github):
    """The runner's workspace (the container's working directory), with `terraform output -json` written to it."""
    root = tmp_path / "workspace"
    root.mkdir()
    (root / "outputs.json").write_text(json.dumps(TERRAFORM))
    github["GITHUB_WORKSPACE"] = str(root)
    return root


def test_variables_file_in_the_workspace_is_synced_with_no_warning(emulator, github, workspace):
    env = action_env(emulator, github, workspace="acme", repository="api", variables_file="outputs.json",
                     secured="api_key")
    run = run_action(env)
    assert run.code == 0, run.stdout
    held = {v["key"]: v for v in emulator.variables("acme", repository="api")}
    assert held["db_password"]["secured"] and held["tls_key"]["value"] == CERTIFICATE
    assert "::warning::" not in run.stdout
    assert_no_secret(run, github)


def test_inline_secured_values_bring_a_warning(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", variables=json.dumps(TERRAFORM))
    run = run_action(env)
    assert run.code == 0, run.stdout
    (warning,) = [line for line in run.stdout.splitlines() if line.startswith("::warning::")]
    assert "2 secured value(s) inline" in warning and "variables_file" in warning


@pytest.mark.parametrize("given, message", [
    ("../outside.json", "is outside the workspace"),
    ("/etc/passwd", "is outside the workspace"),
    ("link.json", "is outside the workspace"),  # a symbolic link out of the workspace
    ("missing.json", "does not exist in the workspace"),
    ("latin1.env", "is not UTF-8 text"),
    (".", "cannot read input variables_file"),
])
def test_a_bad_variables_file_is_one_error_line_exit_2(emulator, github, workspace, given, message):
    (workspace.parent / "outside.json").write_text('{"A": "1"}')
    (workspace / "link.json").symlink_to(workspace.parent / "outside.json")
    (workspace / "latin1.env").write_bytes("A=caf\xe9\n".encode("latin-1"))
    run = run_action(action_env(emulator, github, workspace="acme", repository="api", variables_file=given))
    assert run.code == 2
    assert run.stdout.count("::error::") == 1 and message in run.stdout, run.stdout
    assert emulator.requests == []


def test_variables_and_variables_file_together_are_refused(emulator, github, workspace):
    run = run_action(action_env(emulator, github, workspace="acme", variables='{"A": "1"}',
                                variables_file="outputs.json"))
    assert run.code == 2 and "both set" in run.stdout and emulator.requests == []


def test_empty_variables_says_github_likely_dropped_a_secret_looking_output(emulator, github):
    run = run_action(action_env(emulator, github, workspace="acme", variables=""))
    assert run.code == 2
    (error,) = [line for line in run.stdout.splitlines() if line.startswith("::error::")]
    assert "input variables is empty" in error and "dropped it for holding a secret-looking value" in error
    assert "variables_file" in error and emulator.requests == []


def test_each_retry_wait_is_one_plain_line(emulator, github):
    from bbvars.emulator import Fault

    emulator.inject(Fault(method="POST", path="variables", status=503, times=1))
    run = run_action(action_env(emulator, github, workspace="acme", repository="api", variables='{"A": "1"}'))
    assert run.code == 0, run.stdout
    retries = [line for line in run.stdout.splitlines() if "Bitbucket answered 503" in line]
    assert len(retries) == 1 and re.fullmatch(r"Bitbucket answered 503; waiting \d+\.\d s, attempt 2 of 6",
                                              retries[0]), retries


def test_listed_names_cannot_forge_workflow_commands_or_markdown(emulator, github):
    # A malicious or broken server lists keys holding a workflow command and Markdown/HTML: no variable names, so
    # prune leaves them alone, and they are named only escaped, in one warning line, never in the summary.
    evil = "EVIL\n::stop-commands::x\n::error::forged"
    markup = "X|<img src=x onerror=alert(1)>`code`*em*"
    emulator.inject(listing(evil, markup))
    env = action_env(emulator, github, workspace="acme", repository="api", variables='{"A": "1"}', prune="true")
    run = run_action(env)
    assert run.code == 0, run.stdout
    lines = run.stdout.splitlines()
    assert not any(line.startswith(("::stop-commands::", "::error::")) for line in lines), run.stdout
    assert [line for line in lines if '"EVIL\\x0a::stop-commands::x\\x0a::error::forged"' in line
            and '"X|<img src=x onerror=alert(1)>\\x60code\\x60*em*"' in line] != []
    summary = Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    assert "<img" not in summary and "`code`" not in summary and "EVIL" not in summary, summary
    assert len([line for line in summary.splitlines() if line.startswith("|")]) == 3  # header, rule, 1 row


def test_the_github_writer_escapes_data_properties_and_plain_lines(capsys):
    from bbvars.surfaces import _github as gh

    gh.command("error", "50%\r\nnext", title="a:b,c\n")
    gh.log("\n::stop-commands::x")
    gh.log("::add-mask::x")
    gh.log("  ##[error]old syntax")
    assert capsys.readouterr().out.splitlines() == [
        "::error title=a%3Ab%2Cc%0A::50%25%0D%0Anext", "\\n::stop-commands::x", "> ::add-mask::x",
        ">   ##[error]old syntax"]
    assert gh.markdown("a|b <i>x</i> [l](u) # _e_") == "a\\|b &lt;i&gt;x&lt;/i&gt; \\[l\\]\\(u\\) \\# \\_e\\_"
    assert gh.markdown_key("DB_HOST") == "`DB_HOST`" and gh.markdown_key("a`b") == "a\\`b"


def test_fingerprints_make_changed_false_and_exit_code_3_only_for_changes(emulator, github):
    env = action_env(emulator, github, workspace="acme", repository="api", variables=json.dumps(TERRAFORM),
                     secured="api_key", fingerprint="true", exit_code="true")
    env["BBVARS_FINGERPRINT_KEY"] = "action-Fingerprint-Key-88"  # from the workflow's env:, never an input
    first = run_action(env)
    assert first.code == 3, first.stdout
    assert "action-Fingerprint-Key-88" in masks_first(first.stdout)[0]  # masked before anything else
    assert "| `db_password` | created \\(secured\\) |" in Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    Path(github["GITHUB_OUTPUT"]).write_text("")
    emulator.reset_requests()
    second = run_action(env)
    assert second.code == 0, second.stdout
    result = outputs(github)
    assert (result["changed"], result["updated"]) == ("false", "")
    assert result["unchanged"] == "api_key,db_host,db_password,tls_key"
    assert json.loads(result["result"])["fingerprints"] == "unchanged"
    assert api_writes(emulator) == []
    for run in (first, second):
        assert_no_secret(run, github, "action-Fingerprint-Key-88")


def test_step_outputs_hold_only_valid_variable_names_whatever_bitbucket_lists(emulator, github, tmp_path):
    # A hostile listing: a key that would run a command in `run: echo "${{ steps.bbvars.outputs.deleted }}"`, one
    # with a line break, and a real stale key. Whatever the engine does with the first two, no output may hold them.
    inject = 'x"; touch PWNED; echo "'
    stale = emulator.seed_variable("acme", "STALE", "old", repository="api")  # a real variable prune deletes
    hostile = listing(inject, "Y\nZ<<EOF", "STALE")
    document = json.loads(hostile.body)
    document["values"][2]["uuid"] = stale
    emulator.inject(replace(hostile, body=json.dumps(document)))
    env = action_env(emulator, github, workspace="acme", repository="api", variables='{"A": "1"}', prune="true")
    run = run_action(env)
    assert run.code == 0, run.stdout
    result = outputs(github)  # strict: only our heredoc blocks, nothing a value added
    for name in ("created", "updated", "unchanged", "deleted", "failed"):
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) for key in result[name].split(",") if key), result
    assert result["deleted"] == "STALE" and result["created"] == "A"
    document = json.loads(result["result"])
    assert document["deleted"] == ["STALE"] and document["failed"] == []

    # The usual way a later step uses the output: no command of the server's runs.
    step = tmp_path / "step"
    step.mkdir()
    script = f'echo "{result["deleted"]}"'
    done = subprocess.run(["bash", "-c", script], cwd=step, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout == "STALE\n" and not (step / "PWNED").exists()


def test_a_place_name_that_looks_like_a_setting_marker_is_told_as_given(emulator, github):
    # Messages name settings by a marker only this process knows: a name the workflow gave is never rewritten into
    # a setting's name (`{setting:prefix}` was told as "input prefix" in the log, the outputs and the summary).
    run = run_action(action_env(emulator, github, workspace="acme", repository="api",
                                environment="{setting:prefix}", variables='{"A": "1"}'))
    assert run.code == 1, run.stdout
    said = run.stdout + Path(github["GITHUB_OUTPUT"]).read_text() + Path(github["GITHUB_STEP_SUMMARY"]).read_text()
    assert "'{setting:prefix}' not found" in said and "input prefix" not in said, said
