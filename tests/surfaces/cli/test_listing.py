"""`bbvars list` against the emulator: one listing, no write; JSON or dotenv, which `sync --file` reads back."""

from __future__ import annotations

import json

import pytest

from tests.support import CLIENT_SECRET, api_writes, env_for, run_cli, run_in_process, seed, stored

AWKWARD = {
    "DOUBLE_QUOTES": 'say "hi"',
    "SINGLE_QUOTES": "it's",
    "HASH": "a # not a comment",
    "HASH_START": "#start",
    "EQUALS": "x=y=z",
    "NEWLINES": "line one\nline two\r\nend\n",
    "UNICODE": "ünïcødé ☃ 日本",
    "SPACES": "  leading and trailing  ",
    "EMPTY": "",
    "BACKSLASHES": "C:\\path\\n\\t",
    "SHELL": "$HOME ${X} `cmd`",
    "TAB": "\tx",
}


def test_list_prints_json_with_no_value_for_secured(emulator):
    seed(emulator, {"PLAIN": "p", "OTHER": "o"})
    seed(emulator, {"SECRET": "hidden-Value-123"}, secured=True)
    emulator.reset_requests()
    run = run_cli(["list", "-w", "acme", "-r", "api"], env=env_for(emulator))
    assert run.code == 0, run.stderr
    assert run.json == [{"key": "OTHER", "secured": False, "value": "o"},
                        {"key": "PLAIN", "secured": False, "value": "p"},
                        {"key": "SECRET", "secured": True}]
    assert [r.method for r in emulator.requests if r.path.startswith("/2.0/")] == ["GET"]  # one listing, no write
    assert CLIENT_SECRET not in run.stdout + run.stderr


def test_list_of_a_deployment_environment_as_dotenv(emulator):
    seed(emulator, {"A": "1"}, environment="Production", repository="api")
    seed(emulator, {"S": "secret-Value-987"}, secured=True, environment="Production", repository="api")
    run = run_in_process(["list", "-w", "acme", "-r", "api", "-e", "production", "--format", "dotenv"], env=env_for(emulator))
    assert run.code == 0, run.stderr
    assert run.stdout == ("# environment production of acme/api: 2 variable(s), 1 secured (bbvars list)\n"
                          'A="1"\n# S: secured, its value cannot be read back\n')


def test_dotenv_list_round_trips_through_sync_file(emulator, tmp_path):
    seed(emulator, AWKWARD)
    seed(emulator, {"SECURED_ONE": "never-Shown-456"}, secured=True)
    listed = run_in_process(["list", "-w", "acme", "-r", "api", "--format", "dotenv"], env=env_for(emulator))
    assert listed.code == 0, listed.stderr
    assert "never-Shown-456" not in listed.stdout and "# SECURED_ONE:" in listed.stdout
    (tmp_path / "vars.env").write_text(listed.stdout, encoding="utf-8")

    # Into another target: every plain variable arrives exactly as it was.
    synced = run_in_process(["sync", "-w", "acme", "-r", "api", "-e", "Test", "--file", str(tmp_path / "vars.env")],
                     env=env_for(emulator))
    assert synced.code == 0, synced.stderr
    assert stored(emulator, environment="Test") == {key: (value, False) for key, value in AWKWARD.items()}

    # And back into the same one: nothing to do.
    emulator.reset_requests()
    again = run_in_process(["sync", "-w", "acme", "-r", "api", "--file", str(tmp_path / "vars.env")], env=env_for(emulator))
    assert again.code == 0 and sorted(again.json["unchanged"]) == sorted(AWKWARD)
    assert api_writes(emulator) == []


def test_an_empty_or_all_secured_listing_reads_back_as_no_variables(emulator, tmp_path):
    seed(emulator, {"ONLY": "secret-Value-321"}, secured=True)
    listed = run_in_process(["list", "-w", "acme", "-r", "api", "--format", "dotenv"], env=env_for(emulator))
    (tmp_path / "vars.env").write_text(listed.stdout)
    emulator.reset_requests()
    # An input with no variables is refused unless allowed (issue 7): the read-back says so on purpose.
    synced = run_in_process(["sync", "-w", "acme", "-r", "api", "--file", str(tmp_path / "vars.env"), "--allow-empty"],
                     env=env_for(emulator))
    assert synced.code == 0 and synced.json["created"] == [] and emulator.requests == []


def test_list_of_an_unknown_repository_is_one_line_exit_1(emulator):
    run = run_in_process(["list", "-w", "acme", "-r", "nope"], env=env_for(emulator))
    assert run.code == 1 and run.stdout == ""
    credential, error = run.stderr.splitlines()  # which credential, then the one error line
    assert credential == "bbvars: credential: OAuth consumer" and run.stderr.count("\n") == 2
    assert error.startswith("bbvars: error: ") and "repository acme/nope not found" in error


def test_list_checks_its_settings_before_any_request(emulator):
    run = run_in_process(["list", "-w", "acme", "--format", "yaml"], env=env_for(emulator))
    assert run.code == 2 and "invalid choice" in run.stderr
    run = run_in_process(["list", "-w", "acme"], env={k: v for k, v in env_for(emulator).items()
                                               if not k.startswith("BITBUCKET_CLIENT")})
    assert run.code == 2 and "no credentials" in run.stderr
    assert emulator.requests == []
    assert json.loads(run_in_process(["list", "-w", "acme"], env=env_for(emulator)).stdout) == []


def test_list_never_prints_a_secret_in_debug_or_failure(emulator):
    from bbvars.emulator import Fault

    seed(emulator, {"SECRET": "hidden-Value-123"}, secured=True)
    debug = run_in_process(["list", "-w", "acme", "-r", "api", "--debug", "--format", "dotenv"], env=env_for(emulator))
    assert debug.code == 0 and "bbvars: debug: GET" in debug.stderr
    echo = json.dumps({"type": "error", "error": {"message": f"bad {CLIENT_SECRET}"}})
    emulator.inject(Fault(method="GET", path="variables", status=403, times=1, body=echo))
    failed = run_in_process(["list", "-w", "acme", "-r", "api"], env=env_for(emulator))
    assert failed.code == 1 and failed.stderr.count("\n") == 2  # which credential, then the one error line
    assert failed.stderr.splitlines()[0] == "bbvars: credential: OAuth consumer"
    tokens = [t for t, r in emulator._state._tokens.items() if r.expires_at is not None]
    assert tokens
    for secret in (CLIENT_SECRET, "hidden-Value-123", *tokens):
        assert secret not in debug.stdout + debug.stderr + failed.stdout + failed.stderr


def test_the_fingerprint_variable_is_not_listed_so_a_listing_syncs_back(emulator, tmp_path):
    seed(emulator, {"PLAIN": "p", "BBVARS_FINGERPRINTS": "v1 SECRET=" + "A" * 22})
    seed(emulator, {"SECRET": "hidden-Value-654"}, secured=True)
    listed = run_in_process(["list", "-w", "acme", "-r", "api"], env=env_for(emulator))
    assert [item["key"] for item in listed.json] == ["PLAIN", "SECRET"]
    dotenv = run_in_process(["list", "-w", "acme", "-r", "api", "--format", "dotenv"], env=env_for(emulator))
    assert "BBVARS_FINGERPRINTS" not in dotenv.stdout and "2 variable(s)" in dotenv.stdout
    (tmp_path / "vars.env").write_text(dotenv.stdout, encoding="utf-8")
    back = run_in_process(["sync", "-w", "acme", "-r", "api", "--file", str(tmp_path / "vars.env")], env=env_for(emulator))
    assert back.code == 0 and back.json["unchanged"] == ["PLAIN"]


# What a server may hold in a value: a terminal title, a screen clear, NUL, C1 CSI, DEL, a Unicode line separator.
CONTROLS = "\x1b]0;owned\x07\x1b[2J\x00red\x9b31m\x7f\u2028end\x85"
UNPRINTABLE = set(map(chr, [*range(0x0a), *range(0x0b, 0x20), *range(0x7f, 0xa0), 0x2028, 0x2029]))


def test_control_characters_in_a_listed_value_never_reach_the_terminal_and_read_back(emulator, tmp_path):
    seed(emulator, {"CONTROLS": CONTROLS, "PLAIN": "ünï ☃"})
    listed = run_in_process(["list", "-w", "acme", "-r", "api", "--format", "dotenv"], env=env_for(emulator))
    assert listed.code == 0, listed.stderr
    assert not UNPRINTABLE & set(listed.stdout), repr(listed.stdout)
    assert 'CONTROLS="\\x1b]0;owned\\x07\\x1b[2J\\x00red\\x9b31m\\x7f\\u2028end\\x85"' in listed.stdout.splitlines()
    assert 'PLAIN="ünï ☃"' in listed.stdout.splitlines()
    as_json = run_in_process(["list", "-w", "acme", "-r", "api"], env=env_for(emulator))
    assert not UNPRINTABLE & set(as_json.stdout), repr(as_json.stdout)
    assert {v["key"]: v["value"] for v in as_json.json} == {"CONTROLS": CONTROLS, "PLAIN": "ünï ☃"}

    (tmp_path / "vars.env").write_text(listed.stdout, encoding="utf-8")
    synced = run_in_process(["sync", "-w", "acme", "-r", "api", "-e", "Test", "--file", str(tmp_path / "vars.env")],
                     env=env_for(emulator))
    assert synced.code == 0, synced.stderr
    assert stored(emulator, environment="Test") == {"CONTROLS": (CONTROLS, False), "PLAIN": ("ünï ☃", False)}


def test_an_unusable_ssl_cert_file_is_one_line_naming_it(emulator):
    run = run_in_process(["list", "-w", "acme", "-r", "api"], env=env_for(emulator, SSL_CERT_FILE="/dev/null"))
    assert run.code == 1 and run.stdout == ""
    assert run.stderr.splitlines() == [
        "bbvars: credential: OAuth consumer",  # named before any request, as every command does
        "bbvars: error: cannot load CA certificates from SSL_CERT_FILE (/dev/null): no certificate or crl found; "
        "point SSL_CERT_FILE at a PEM file of CA certificates, or unset it"], run.stderr


@pytest.mark.parametrize("value", ["{setting:timeout}", "{setting:region}"])
def test_a_value_that_looks_like_a_setting_marker_is_listed_as_it_is(emulator, value):
    # Markers name settings in bbvars' own messages (errors.setting); data is never spoken, known name or not.
    seed(emulator, {"TEMPLATE": value})
    for fmt, shown in (("json", None), ("dotenv", f'TEMPLATE="{value}"')):
        run = run_in_process(["list", "-w", "acme", "-r", "api", "--format", fmt], env=env_for(emulator))
        assert run.code == 0, run.stderr
        if shown is None:
            assert run.json == [{"key": "TEMPLATE", "secured": False, "value": value}]
        else:
            assert shown in run.stdout.splitlines(), run.stdout
