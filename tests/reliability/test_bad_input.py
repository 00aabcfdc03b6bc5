"""Bad input is refused before any request: one clear line on stderr, exit 2, nothing on stdout, and not a single
request in the emulator's log."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bbvars.documents import MAX_INPUT_BYTES
from tests.support import CLIENT_SECRET, FakeStdin, run_cli, run_main, use_env

SYNC = ["sync", "-w", "acme", "-r", "api"]

STATE_FILE = {"version": 4, "terraform_version": "1.9.0", "serial": 3, "lineage": "x",
              "outputs": {"db_host": {"value": "db.internal", "type": "string"}}, "resources": []}
SHOW_JSON = {"format_version": "1.0", "terraform_version": "1.9.0",
             "values": {"outputs": {"db_host": {"sensitive": False, "value": "db.internal"}}, "root_module": {}}}
OUTPUTS_WITHOUT_TYPE = {"db_host": {"sensitive": False, "value": "db.internal"},
                        "db_port": {"sensitive": False, "value": 5432}}

# name: (extra argv, stdin, words the error must contain)
CASES = {
    "invalid JSON": ([], '{"a": 1,', ["neither valid JSON nor YAML"]),
    "invalid YAML": ([], "a: [1, 2\nb: 3\n", ["neither valid JSON nor YAML"]),
    "YAML with a duplicate key": ([], "a: 1\na: 2\n", ["'a' appears twice"]),
    "JSON with a duplicate key": ([], '{"a": 1, "a": 2}', ["'a' appears twice"]),
    "a top-level list": ([], "[1, 2, 3]", ["top level is a list"]),
    "a top-level string": ([], '"text"', ["top level is a str"]),
    "a terraform state file": ([], json.dumps(STATE_FILE), ["not `terraform output -json`"]),
    "terraform show -json": ([], json.dumps(SHOW_JSON), ["not `terraform output -json`"]),
    "outputs missing type": ([], json.dumps(OUTPUTS_WITHOUT_TYPE), ["not `terraform output -json`"]),
    "a null value": ([], '{"ok": 1, "db_password": null}', ["db_password is null"]),
    "a null terraform output": ([], json.dumps({"x": {"value": None, "type": "string", "sensitive": False}}),
                                ["x is null"]),
    "NaN": ([], '{"ratio": NaN}', ["ratio", "not a finite number"]),
    "a key starting with a digit": ([], '{"1abc": "x"}', ["'1abc' is not a valid Bitbucket variable name"]),
    "a key with a hyphen": ([], '{"db-host": "x"}', ["'db-host' is not a valid", "--upper"]),
    "a key with a space": ([], '{"db host": "x"}', ["'db host' is not a valid"]),
    "a non-ASCII key": ([], '{"clé": "x"}', ["'clé' is not a valid"]),
    "a YAML key that is not text": ([], "on: 1\n", ["not text", "quote it"]),
    "keys colliding after --upper": (["--upper"], '{"db-host": 1, "DB_HOST": 2}', ["two inputs give the key DB_HOST"]),
    "keys colliding after --prefix and --upper": (["--prefix", "app_", "--upper"], '{"x": 1, "X": 2}',
                                                   ["two inputs give the key APP_X"]),
    "a --var meeting the document after --upper": (["--upper", "--var", "A=2", "-f", "-"], '{"a": 1}',
                                                    ["two inputs give the key A"]),
    "a --var given twice": (["--var", "A=1", "--var", "A=2"], "", ["--var numbers 1 and 2 both give the key A"]),
    "a --var without =": (["--var", "A=1", "--var", "NOEQUALS"], "", ["--var number 2 has no '='"]),
    "an unknown option": (["--nope"], "{}", ["unrecognized arguments: --nope"]),
    "a concurrency that is not a number": (["--concurrency", "abc"], "{}", ["--concurrency must be a whole number"]),
    "a concurrency out of bounds": (["--concurrency", "99"], "{}", ["--concurrency must be between 1 and 32"]),
    "a timeout out of bounds": (["--timeout", "0"], "{}", ["--timeout must be between 1 and 600"]),
    "a timeout that is NaN": (["--timeout", "nan"], "{}", ["--timeout must be between"]),
    "--secured naming a missing key": (["--secured", "PASSWROD"], '{"PASSWORD": "x"}', ["PASSWROD", "spelling"]),
    "empty stdin": ([], "", ["standard input is empty"]),
    "blank stdin": ([], "  \n\t\n", ["standard input is empty"]),
    "a missing --file": (["-f", "/nonexistent/vars.json"], "", ["cannot read --file /nonexistent/vars.json"]),
    "a workspace with a slash": (["-w", "acme/evil"], '{"A": 1}', ["--workspace 'acme/evil' is not a slug"]),
    "no workspace": (["-w", ""], '{"A": 1}', ["no workspace"]),
    # `terraform output -json` without a state prints {}: with --prune that would empty the target.
    "prune with an empty input": (["--prune"], "{}", ["with prune that would delete every variable",
                                                       "repository acme/api"]),
}

ENVIRONMENTS = {
    "a non-loopback http:// API URL": ({"BITBUCKET_API_URL": "http://bitbucket.example.com/2.0"},
                                        ["plain http:// to bitbucket.example.com", "https://"]),
    "a non-loopback http:// token URL": ({"BITBUCKET_TOKEN_URL": "http://10.0.0.1/token"}, ["plain http://"]),
    "an API URL that is no URL": ({"BITBUCKET_API_URL": "http://[::1"}, ["BITBUCKET_API_URL is not a valid URL"]),
    "an API URL with a bad port": ({"BITBUCKET_API_URL": "https://api.example.com:99999/"}, ["not a valid URL"]),
    "an ftp API URL": ({"BITBUCKET_API_URL": "ftp://example.com/"}, ["must be an https:// URL"]),
    "missing credentials": ({"BITBUCKET_CLIENT_ID": "", "BITBUCKET_CLIENT_SECRET": ""}, ["no credentials"]),
    "only the client id": ({"BITBUCKET_CLIENT_SECRET": ""}, ["BITBUCKET_CLIENT_SECRET is not set"]),
    "only the client secret": ({"BITBUCKET_CLIENT_ID": ""}, ["BITBUCKET_CLIENT_ID is not set"]),
}


def assert_refused(run, emu, words):
    assert run.code == 2, (run.code, run.stderr)
    assert run.stdout == ""
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bbvars: error: "), run.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in run.stderr and CLIENT_SECRET not in run.stderr
    assert emu.requests == []


@pytest.mark.parametrize("args, stdin, words", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_before_any_request(emulator, bb_env, monkeypatch, capsys, args, stdin, words):
    run = run_main([*SYNC, *args], env=bb_env, input=stdin, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(run, emulator, words)


@pytest.mark.parametrize("env, words", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_bad_settings_are_refused_before_any_request(emulator, bb_env, monkeypatch, capsys, env, words):
    run = run_main(SYNC, env={**bb_env, **env}, input='{"A": "1"}', monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(run, emulator, words)


def test_an_environment_without_a_repository_is_refused(emulator, bb_env, monkeypatch, capsys):
    run = run_main(["sync", "-w", "acme", "-e", "Test"], env=bb_env, input='{"A": 1}', monkeypatch=monkeypatch,
                   capsys=capsys)
    assert_refused(run, emulator, ["--environment needs --repository"])


def test_the_token_command_needs_both_halves_of_the_consumer(emulator, bb_env, monkeypatch, capsys):
    env = {**bb_env, "BITBUCKET_CLIENT_ID": "", "BITBUCKET_CLIENT_SECRET": "", "BITBUCKET_ACCESS_TOKEN": "tok-12345"}
    run = run_main(["token"], env=env, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(run, emulator, ["token needs an OAuth consumer"])


def run_bytes(args, env, data: bytes, timeout: float = 60):
    proc = subprocess.run([sys.executable, "-m", "bbvars", *args], input=data, capture_output=True, env=env,
                          timeout=timeout)
    return proc


def test_non_utf8_stdin_is_refused(emulator, bb_env):
    proc = run_bytes(SYNC, bb_env, b'{"A": "caf\xe9"}')
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().strip() == "bbvars: error: standard input is not UTF-8 text"
    assert emulator.requests == []


def test_a_non_utf8_file_is_refused(emulator, bb_env, tmp_path):
    path = tmp_path / "vars.json"
    path.write_bytes('{"A": "café"}'.encode("latin-1"))
    run = run_cli([*SYNC, "-f", str(path)], env=bb_env)
    assert run.code == 2 and run.stderr.strip() == f"bbvars: error: file {path} is not UTF-8 text"
    assert emulator.requests == []


def test_an_oversized_stdin_fails_fast_and_cleanly(emulator, bb_env):
    # One byte over the limit, and a multi-byte character cut at the limit: the size is the cause named.
    data = b'{"A": "' + "é".encode() * (MAX_INPUT_BYTES // 2) + b'"}'
    assert len(data) > MAX_INPUT_BYTES
    for payload in (b" " * (MAX_INPUT_BYTES + 1), data):
        proc = run_bytes(SYNC, bb_env, payload)  # the subprocess timeout bounds it
        assert proc.returncode == 2 and proc.stdout == b""
        assert proc.stderr.decode().strip() == (
            "bbvars: error: standard input is larger than 16 MiB: split the variables")
    assert emulator.requests == []


def test_an_input_at_the_limit_is_accepted(emulator, bb_env, monkeypatch, capsys):
    document = '{"A": "1"}'
    padded = document + " " * (MAX_INPUT_BYTES - len(document))
    run = run_main([*SYNC, "--dry-run"], env=bb_env, input=padded, monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 0 and run.json["created"] == ["A"]


def test_no_input_at_all_on_a_terminal_is_refused(emulator, bb_env, monkeypatch, capsys):
    from bbvars.main import main

    use_env(monkeypatch, bb_env)
    monkeypatch.setattr(sys, "stdin", FakeStdin("", tty=True))
    assert main(SYNC) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.strip() == ("bbvars: error: no variables given: pipe a document to standard input, "
                                         "or use --file or --var")
    assert emulator.requests == []


def test_no_command_prints_help_and_exits_2(emulator, bb_env):
    run = run_cli([], env=bb_env)
    assert run.code == 2 and "usage: bbvars" in run.stderr and run.stdout == ""
