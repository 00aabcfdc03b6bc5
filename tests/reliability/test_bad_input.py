"""Bad input is refused before any request: one clear line on stderr, exit 2, nothing on stdout, and not a single
request in the emulator's log."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bbvars.request.documents import MAX_INPUT_BYTES
from tests.support import CLIENT_SECRET, FakeStdin, run_cli, run_in_process, run_main, use_env

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
    "a top-level string": ([], '"text"', ["top level is text"]),
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
    # `terraform output` without -json: read as .env, `<sensitive>` became a plain value.
    "terraform output without -json": ([], 'db_host = "db.internal"\ndb_password = <sensitive>\n',
                                       ["pipe `terraform output -json`"]),
    "a number too long to read": ([], '{"BIG": ' + "9" * 5000 + "}", ["5,000 digits", "too long to read"]),
    "a look-alike key under --upper": (["--upper"], '{"ſecret": "x"}', ["'ſecret' is not a valid"]),
    "the consumer secret in a plain --var": (["--var", f"LEAK=x{CLIENT_SECRET}"], "",
                                             ["plain variable LEAK holds the run's credential "
                                              "BITBUCKET_CLIENT_SECRET"]),
    "an escape in the environment": (["-e", "Te\x1b[2Kst"], '{"A": 1}', ["--environment holds a line break or a "
                                                                           "control character"]),
    "U+2028 in the environment": (["-e", "Test\u2028x"], '{"A": 1}', ["--environment holds a line break"]),
    "a directory as --file": (["-f", "/"], "", ["cannot read --file /: it is a directory, not a regular file"]),
    "/proc/self/environ as --file": (["-f", "/proc/self/environ"], "", ["it describes the running system"]),
    "a device as --file": (["-f", "/dev/zero"], "", ["it is a device, not a regular file"]),
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


def sync_with(args: list[str]) -> list[str]:
    """SYNC with `args`, whose -w (if any) replaces SYNC's: a flag given twice is an error of its own."""
    return ["sync", "-r", "api", *args] if "-w" in args else [*SYNC, *args]


@pytest.mark.parametrize("args, stdin, words", CASES.values(), ids=CASES.keys())
def test_bad_input_is_refused_before_any_request(emulator, bb_env, monkeypatch, capsys, args, stdin, words):
    run = run_main(sync_with(args), env=bb_env, input=stdin, monkeypatch=monkeypatch, capsys=capsys)
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
    run = run_in_process([*SYNC, "-f", str(path)], env=bb_env)
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
    from bbvars.surfaces.cli.main import main

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


# -- text that is not UTF-8, anywhere ---------------------------------------------------------------------------------

NOT_UTF8 = b"caf\xe9"  # Latin-1: Python hands such argv/environment bytes over as lone surrogates


def ci_env(surface: str, bb_env: dict, tmp_path, **given) -> dict:
    """The environment of a pipe or action run: `given` by setting name, spelled as the surface names them."""
    import yaml

    from tests.support import ROOT

    env = dict(bb_env)
    if surface == "pipe":
        env.update({name.upper(): value for name, value in given.items()})
        return env
    for name, spec in yaml.safe_load((ROOT / "action.yml").read_text())["inputs"].items():
        env[f"INPUT_{name.upper()}"] = given.pop(name, spec.get("default", ""))
    assert not given, given
    env.update(GITHUB_OUTPUT=str(tmp_path / "output"), GITHUB_STEP_SUMMARY=str(tmp_path / "summary"))
    return env


def assert_ci_refused(proc, emulator, surface: str, words) -> list[str]:
    """Exit 2, no request, one error line (the pipe's ✖, the action's ::error:: after its masks) naming `words`."""
    stdout = proc.stdout.decode() if isinstance(proc.stdout, bytes) else proc.stdout
    stderr = proc.stderr.decode() if isinstance(proc.stderr, bytes) else proc.stderr
    assert proc.returncode == 2, (proc.returncode, stdout, stderr)
    lines = [line for line in stdout.splitlines() if not line.startswith("::add-mask::")]
    marker = "✖ " if surface == "pipe" else "::error::"
    assert len(lines) == 1 and lines[0].startswith(marker), stdout
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in stdout + stderr and emulator.requests == []
    return lines


def test_non_utf8_in_a_var_is_refused(emulator, bb_env):
    proc = subprocess.run([sys.executable, "-m", "bbvars", *SYNC, "--var", b"A=" + NOT_UTF8], capture_output=True,
                          env=bb_env, timeout=60)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.decode().strip() == "bbvars: error: --var is not UTF-8 text: check its encoding (its text is " \
                                           "not shown)"
    assert emulator.requests == []


@pytest.mark.parametrize("name", ["BITBUCKET_CLIENT_SECRET", "BITBUCKET_CLIENT_ID", "BITBUCKET_API_URL"])
def test_non_utf8_in_a_cli_credential_or_setting_is_refused(emulator, bb_env, name):
    env = {**bb_env, name: (bb_env.get(name, "x").encode() + NOT_UTF8)}
    proc = run_bytes([*SYNC, "--var", "A=1"], env, b"")
    assert proc.returncode == 2 and proc.stdout == b"", proc.stderr
    assert proc.stderr.decode().strip().startswith(f"bbvars: error: {name} is not UTF-8 text")
    assert emulator.requests == []


@pytest.mark.parametrize("surface", ["pipe", "action"])
@pytest.mark.parametrize("setting", ["variables", "client_secret", "workspace"])
def test_non_utf8_in_a_ci_setting_is_refused(emulator, bb_env, tmp_path, surface, setting):
    given = {"workspace": "acme", "repository": "api", "variables": '{"A": "1"}'}
    env = ci_env(surface, bb_env, tmp_path, **given)
    name = ("BITBUCKET_CLIENT_SECRET" if setting == "client_secret" else setting.upper()) if surface == "pipe" \
        else f"INPUT_{setting.upper()}"
    env[name] = (env.get(name) or "x").encode() + NOT_UTF8
    proc = run_bytes([surface], env, b"")
    assert_ci_refused(proc, emulator, surface, ["is not UTF-8 text"])


def test_a_lone_surrogate_in_a_terraform_query_is_refused(emulator, bb_env):
    query = '{"workspace": "ac\\udce9me", "repository": "api", "variables": "{\\"A\\": \\"1\\"}"}'
    run = run_cli(["terraform"], env=bb_env, input=query)
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.strip() == "bbvars: error: query key workspace is not UTF-8 text: check its encoding (its text " \
                                 "is not shown)"
    assert emulator.requests == []


# -- a line break in a one-line setting -------------------------------------------------------------------------------

FORGED = "\n::stop-commands::x\n"


@pytest.mark.parametrize("args, env", [
    (["-e", "Test\n::error::forged"], {}),
    (["--prefix", "APP\nX_"], {}),
    ([], {"BITBUCKET_API_URL": "https://api.example.com/2.0\nHost: evil"}),
    ([], {"BITBUCKET_CLIENT_SECRET": "first-line\nsecond-line"}),
], ids=["environment", "prefix", "api-url", "client-secret"])
def test_a_line_break_in_a_one_line_cli_setting_is_refused(emulator, bb_env, monkeypatch, capsys, args, env):
    run = run_main([*SYNC, "--var", "A=1", *args], env={**bb_env, **env}, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(run, emulator, ["holds a line break, and it must be one line"])
    assert "second-line" not in run.stderr and "forged" not in run.stderr and "evil" not in run.stderr


def test_a_forged_workflow_command_in_an_action_input_is_refused_after_the_masks(emulator, bb_env, tmp_path):
    env = ci_env("action", bb_env, tmp_path, workspace="acme", repository="api", environment=FORGED,
                 variables='{"A": "1"}', client_secret="s3cr3t-CLIENT-7f3a9c", client_id="ci-client")
    run = run_in_process(["action"], env=env)
    lines = run.stdout.splitlines()
    assert not any(line.startswith("::stop-commands::") for line in lines), run.stdout
    first_other = next(i for i, line in enumerate(lines) if not line.startswith("::add-mask::"))
    assert all(not line.startswith("::add-mask::") for line in lines[first_other:]), run.stdout
    assert "::add-mask::s3cr3t-CLIENT-7f3a9c" in lines[:first_other]
    assert lines[first_other:] == ["::error::input environment holds a line break, and it must be one line (its text "
                                   "is not shown)"]
    assert run.code == 2 and emulator.requests == []


def test_a_forged_result_line_in_a_pipe_variable_is_refused(emulator, bb_env, tmp_path):
    env = ci_env("pipe", bb_env, tmp_path, workspace="acme", repository="api", variables='{"A": "1"}',
                 environment="Test\n✔ Synced: 1 created", prefix="APP_\nINFO: forged")
    run = run_in_process(["pipe"], env=env)
    assert run.stdout.splitlines() == ["✖ ENVIRONMENT holds a line break, and it must be one line (its text is not "
                                       "shown); PREFIX holds a line break, and it must be one line (its text is not "
                                       "shown)"]
    assert run.code == 2 and emulator.requests == []


def test_a_line_break_in_a_terraform_query_setting_is_refused(emulator, bb_env):
    query = {"workspace": "acme", "repository": "api\nx", "variables": '{"A": "1"}'}
    run = run_in_process(["terraform"], env=bb_env, input=json.dumps(query))
    assert (run.code, run.stdout) == (2, "")
    assert run.stderr.strip() == "bbvars: error: query key repository holds a line break, and it must be one line " \
                                 "(its text is not shown)"
    assert emulator.requests == []


# -- URLs with user info ----------------------------------------------------------------------------------------------

URL_PASSWORD = "hunter2-In-The-URL-5d1f"


@pytest.mark.parametrize("surface", ["cli", "terraform", "pipe", "action"])
@pytest.mark.parametrize("name", ["BITBUCKET_API_URL", "BITBUCKET_TOKEN_URL"])
def test_a_url_with_a_password_is_refused_without_echoing_it(emulator, bb_env, tmp_path, surface, name):
    url = emulator.api_url if name == "BITBUCKET_API_URL" else emulator.token_url
    env = {**bb_env, name: url.replace("http://", f"http://user:{URL_PASSWORD}@")}
    words = [f"{name} holds a user name or password", "the URL is not shown"]
    if surface in ("pipe", "action"):
        env = ci_env(surface, env, tmp_path, workspace="acme", repository="api", variables='{"A": "1"}', debug="true")
        run = run_in_process([surface], env=env)
        assert_ci_refused(subprocess.CompletedProcess([], run.code, run.stdout, run.stderr), emulator, surface,
                          [] if surface == "action" else words)
    elif surface == "cli":
        run = run_in_process([*SYNC, "--var", "A=1", "--debug"], env=env)
        assert run.code == 2 and run.stdout == "" and all(word in run.stderr for word in words), run.stderr
    else:
        run = run_in_process(["terraform"], env=env, input=json.dumps({"workspace": "acme", "variables": '{"A": "1"}'}))
        assert run.code == 2 and run.stdout == "" and all(word in run.stderr for word in words), run.stderr
    assert URL_PASSWORD not in run.stdout + run.stderr
    assert emulator.requests == []
    assert not (tmp_path / "output").exists() or URL_PASSWORD not in (tmp_path / "output").read_text()


# -- standard input that --var/--file would leave unread --------------------------------------------------------------


def run_with_stdin(args, env, **popen):
    proc = subprocess.run([sys.executable, "-m", "bbvars", *args], capture_output=True, text=True, env=env,
                          timeout=60, **popen)
    return proc


@pytest.mark.parametrize("args", [["--var", "A=1"], ["-f", "FILE"]], ids=["--var", "--file"])
def test_piped_data_with_var_or_file_is_refused(emulator, bb_env, tmp_path, args):
    path = tmp_path / "vars.json"
    path.write_text('{"B": "2"}')
    args = [str(path) if arg == "FILE" else arg for arg in args]
    proc = run_with_stdin([*SYNC, "--prune", *args], bb_env, input='{"KEPT": "x"}')
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == ("bbvars: error: standard input holds data, but --var/--file are given, so it would "
                                   "be ignored: add `--file -` to read it as well, or stop piping into bbvars")
    assert emulator.requests == []


def test_a_file_holding_data_as_stdin_is_refused(emulator, bb_env, tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text('{"KEPT": "x"}')
    with path.open() as handle:
        proc = run_with_stdin([*SYNC, "--var", "A=1"], bb_env, stdin=handle)
    assert proc.returncode == 2 and "`--file -`" in proc.stderr and emulator.requests == []


@pytest.mark.parametrize("stdin", ["devnull", "empty pipe", "empty file", "closed"])
def test_an_empty_or_closed_stdin_with_var_is_fine(emulator, bb_env, tmp_path, stdin):
    import os

    empty = tmp_path / "empty"
    empty.write_text("")
    popen = {"devnull": {"stdin": subprocess.DEVNULL}, "empty pipe": {"input": ""},
             "empty file": {"stdin": empty.open()}, "closed": {"preexec_fn": lambda: os.close(0),
                                                               "stdin": subprocess.DEVNULL}}[stdin]
    proc = run_with_stdin([*SYNC, "--var", "A=1", "--dry-run"], bb_env, **popen)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["created"] == ["A"]


def test_an_open_but_silent_stdin_does_not_hold_the_run(emulator, bb_env):
    # Some CI runners leave standard input open and never write to it: bbvars waits a bounded time, then goes on.
    proc = subprocess.Popen([sys.executable, "-m", "bbvars", *SYNC, "--var", "A=1", "--dry-run"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=bb_env)
    try:
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        assert json.loads(proc.stdout.read())["created"] == ["A"]
    finally:
        proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


# -- a single-valued flag given twice ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args, flag", [
    (["-e", "Test", "-e", "Staging"], "--environment/-e"),
    (["--timeout", "5", "--timeout", "6"], "--timeout"),
    (["--prefix", "A_", "--prefix", "B_"], "--prefix"),
    (["-w", "other"], "--workspace/-w"),
], ids=["environment", "timeout", "prefix", "workspace"])
def test_a_flag_given_twice_is_refused(emulator, bb_env, monkeypatch, capsys, args, flag):
    run = run_main([*SYNC, "--var", "A=1", *args], env=bb_env, monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(run, emulator, [f"{flag} is given twice: give it once"])
    assert "Staging" not in run.stderr and "B_" not in run.stderr


# -- an input with no variables ---------------------------------------------------------------------------------------

HINT = ["the input has no variables", "run it where the Terraform state is", "after the first apply"]


def test_an_empty_cli_input_is_refused_unless_allowed(emulator, bb_env, monkeypatch, capsys):
    run = run_main(SYNC, env=bb_env, input="{}", monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(run, emulator, [*HINT, "--allow-empty"])
    allowed = run_main([*SYNC, "--allow-empty"], env=bb_env, input="{}", monkeypatch=monkeypatch, capsys=capsys)
    assert allowed.code == 0 and allowed.json["created"] == [] and emulator.requests == []
    pruned = run_main([*SYNC, "--allow-empty", "--prune"], env=bb_env, input="{}", monkeypatch=monkeypatch,
                      capsys=capsys)
    assert_refused(pruned, emulator, ["with prune that would delete every variable"])


@pytest.mark.parametrize("surface", ["pipe", "action"])
def test_an_empty_ci_input_is_refused_unless_allowed(emulator, bb_env, tmp_path, surface):
    given = {"workspace": "acme", "repository": "api", "variables": "{}"}
    run = run_in_process([surface], env=ci_env(surface, bb_env, tmp_path, **given))
    label = "ALLOW_EMPTY" if surface == "pipe" else "input allow_empty"
    assert_ci_refused(subprocess.CompletedProcess([], run.code, run.stdout, run.stderr), emulator, surface,
                      [*HINT, label])
    allowed = run_in_process([surface], env=ci_env(surface, bb_env, tmp_path, **given, allow_empty="true"))
    assert allowed.code == 0, allowed.stdout
    assert allowed.stdout.splitlines()[-1] == "✔ Synced: 0 created, 0 updated, 0 unchanged, 0 deleted"
    assert emulator.requests == []


def test_an_empty_terraform_input_is_refused_unless_allowed(emulator, bb_env):
    query = {"workspace": "acme", "repository": "api", "variables": "{}"}
    run = run_in_process(["terraform"], env=bb_env, input=json.dumps(query))
    assert run.code == 2 and run.stdout == "" and all(w in run.stderr for w in [*HINT, "query key allow_empty"])
    allowed = run_in_process(["terraform"], env=bb_env, input=json.dumps({**query, "allow_empty": "true"}))
    assert allowed.code == 0 and json.loads(allowed.stdout)["changed"] == "false", allowed.stderr
    assert emulator.requests == []


# -- a misspelled pipe variable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("typo, meant", [("ENVIROMENT", "ENVIRONMENT"), ("DRYRUN", "DRY_RUN"), ("prune", "PRUNE"),
                                         ("SECURE", "SECURED")])
def test_a_misspelled_pipe_variable_is_refused(emulator, bb_env, tmp_path, typo, meant):
    env = ci_env("pipe", bb_env, tmp_path, workspace="acme", repository="api", variables='{"A": "1"}')
    env[typo] = "Production"
    run = run_in_process(["pipe"], env=env)
    assert_ci_refused(subprocess.CompletedProcess([], run.code, run.stdout, run.stderr), emulator, "pipe",
                      [f"the variable {typo} is not one of the pipe's: did you mean {meant}?"])
    assert "Production" not in run.stdout


def test_other_variables_of_the_pipe_environment_are_not_typos(emulator, bb_env, tmp_path):
    env = ci_env("pipe", bb_env, tmp_path, workspace="acme", repository="api", variables='{"A": "1"}')
    env.update(BITBUCKET_BRANCH="main", BITBUCKET_BUILD_NUMBER="7", BITBUCKET_DEPLOYMENT_ENVIRONMENT="test",
               HOSTNAME="runner", LANG="C.UTF-8", TERRAFORM_VERSION="1.9", DEPLOY_ENV="prod")
    run = run_in_process(["pipe"], env=env)
    assert run.code == 0, run.stdout


# -- Bitbucket's total for names and values ---------------------------------------------------------------------------


def test_names_and_values_over_120000_characters_are_refused(emulator, bb_env, monkeypatch, capsys):
    from bbvars.request.documents import MAX_TOTAL_CHARACTERS

    value = "v" * (MAX_TOTAL_CHARACTERS - len("BIG") - len("SMALL") - len("x"))
    at_limit = {"BIG": value, "SMALL": "x"}
    run = run_main([*SYNC, "--dry-run"], env=bb_env, input=json.dumps(at_limit), monkeypatch=monkeypatch,
                   capsys=capsys)
    assert run.code == 0, run.stderr
    emulator.reset_requests()
    over = {"BIG": value + "w", "SMALL": "x"}
    run = run_main(SYNC, env=bb_env, input=json.dumps(over), monkeypatch=monkeypatch, capsys=capsys)
    assert_refused(run, emulator, ["the input's 2 variables take 120,001 characters in names and values, over the "
                                   "120,000 Bitbucket allows"])
    assert "vvvv" not in run.stderr


# -- files that are not documents (request/sources.py), as real processes: a hang must be a failure, not a wait ----

def test_a_fifo_as_file_is_refused_at_once(emulator, bb_env, tmp_path):
    import os

    fifo = tmp_path / "vars.fifo"
    os.mkfifo(fifo)
    run = run_cli([*SYNC, "--file", str(fifo)], env=bb_env, timeout=30)  # on main: waits forever for a writer
    assert run.code == 2 and "it is a FIFO (named pipe), not a regular file: to read a pipe, give -" in run.stderr
    assert emulator.requests == []


def test_a_fifo_as_a_manifest_source_is_refused_at_once(emulator, bb_env, tmp_path):
    import os

    os.mkfifo(tmp_path / "vars.fifo")
    (tmp_path / "bbvars.yml").write_text("version: 1\nworkspace: acme\nsources: {s: {file: vars.fifo}}\n"
                                         "targets: [{repository: api, from: s}]\n")
    proc = subprocess.run([sys.executable, "-m", "bbvars", "sync", "-m", "bbvars.yml"], cwd=tmp_path, env=bb_env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and "sources.s (vars.fifo): cannot be read: it is a FIFO" in proc.stderr
    assert emulator.requests == []


@pytest.mark.parametrize("surface", ["sync", "pipe"])
def test_a_manifest_cannot_send_the_process_environment(emulator, bb_env, tmp_path, surface):
    """The issue's attack: /proc/self/environ read as one .env line wrote every variable of the process (the consumer
    secret and a pipe variable DB_PASSWORD) into a plain variable PATH."""
    (tmp_path / "bbvars.yml").write_text("version: 1\nworkspace: acme\nsources: {s: {file: /proc/self/environ}}\n"
                                         "targets: [{repository: api, from: s, include: [PATH]}]\n")
    env = {**bb_env, "DB_PASSWORD": "pw-Environ-5c4d"}
    args = ["sync", "-m", "bbvars.yml"] if surface == "sync" else ["pipe"]
    if surface == "pipe":
        env.update(MANIFEST="bbvars.yml", BITBUCKET_CLONE_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "bbvars", *args], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    said = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "sources.s (/proc/self/environ): is outside" in said, said
    assert emulator.requests == [] and CLIENT_SECRET not in said and "pw-Environ-5c4d" not in said
