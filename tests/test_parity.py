"""One boundary: the same invalid or hostile input is refused the same way on every surface (CLI, pipe, action,
Terraform, manifest): exit 2, the refusal's words, no secret printed, and not one request to the emulator.

Each surface runs in-process with what its host gives it (flags and stdin; pipe variables; INPUT_*; the query on
stdin; a manifest and its source files). A case a surface cannot express (Terraform reads no file) is left out of
that surface's row, never relaxed."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from tests.auth.helpers import write_login
from tests.support import CLIENT_SECRET, ROOT, FakeStdin, deadline, env_for, use_env

SURFACES = ("cli", "pipe", "action", "terraform", "manifest")
PLACE = {"workspace": "acme", "repository": "api", "environment": "Test"}
GOOD = '{"API_URL": "https://api.example.com"}'
TERRAFORM_TEXT = 'db_host = "db.internal"\ndb_password = <sensitive>\nports = [\n  5432,\n]\n'

# name: (what differs from a good run, words every surface's refusal holds; a tuple: one of them). `document`: the variables' text (bytes:
# as they are, not UTF-8); `place`: names over PLACE; `file`: the variables come from a file of this kind instead.
CASES = {
    "a line break in the workspace": ({"place": {"workspace": "acme\n::error::forged"}}, ["line break"]),
    "a line break in the repository": ({"place": {"repository": "api\n✔ Synced"}}, ["line break"]),
    "a line break in the environment": ({"place": {"environment": "Test\n::stop-commands::x"}}, ["line break"]),
    "an escape in the environment": ({"place": {"environment": "Te\x1b[2Kst"}}, ["control character"]),
    "a C1 line break (NEL) in the environment": ({"place": {"environment": "Test\x85✔ Synced"}}, ["line break"]),
    "U+2028 in the environment": ({"place": {"environment": "Test\u2028::error::x"}}, ["line break"]),
    "an invalid key": ({"document": '{"db host": "x"}'}, ["'db host' is not a valid Bitbucket variable name"]),
    "a look-alike key under upper": ({"document": '{"ſecret": "x"}', "upper": True},
                                     ["'ſecret' is not a valid Bitbucket variable name"]),
    "a source outside the allowed place": ({"file": "outside"}, ["is outside"]),
    "a symbolic link out of the allowed place": ({"file": "symlink"}, ["is outside"]),
    "/proc/self/environ": ({"file": "proc"}, [("running system", "is outside")]),
    "a FIFO": ({"file": "fifo"}, ["FIFO", "not a regular file"]),
    "a directory": ({"file": "directory"}, ["directory, not a regular file"]),
    "non-UTF-8 text": ({"document": b'{"A": "caf\xe9"}'}, ["not UTF-8"]),
    "an empty input with prune": ({"document": "{}", "prune": True}, [("with prune that would delete every", "gets no variables")]),
    "the run's secret inside a plain value": ({"document": json.dumps({"LEAK": f"x{CLIENT_SECRET}y"})},
                                              ["plain variable LEAK holds the run's credential"]),
    # A stored login's tokens are the run's credential too, though no setting holds them (`login`: the document is a
    # plain value holding that field of a fresh stored login, and the environment holds no credential).
    "a stored login's access token inside a plain value": ({"login": "access_token"}, [
        "plain variable LEAK holds the run's credential, the stored login's access token (bbvars login)"]),
    "a stored login's refresh token inside a plain value": ({"login": "refresh_token"}, [
        "plain variable LEAK holds the run's credential, the stored login's refresh token (bbvars login)"]),
    "Terraform's human output": ({"document": TERRAFORM_TEXT}, ["pipe `terraform output -json`"]),
    "a number too long to read": ({"document": '{"BIG": ' + "7" * 5000 + "}"}, ["5,000 digits", "quote it"]),
}
# Where a case cannot be said: Terraform reads no file; a path typed on the command line (--file) is the person's own
# choice of place (but still a regular file); the pipe takes files only through a manifest.
NOT_EXPRESSIBLE = {("terraform", name) for name, (case, _) in CASES.items() if "file" in case}
NOT_EXPRESSIBLE |= {("cli", "a source outside the allowed place"), ("cli", "a symbolic link out of the allowed place")}
CREDENTIALS = ("BITBUCKET_TOKEN_URL", "BITBUCKET_CLIENT_ID", "BITBUCKET_CLIENT_SECRET")  # left out for a login


@pytest.fixture
def work(tmp_path, monkeypatch):
    """The working directory (the clone, the workspace) with the hostile files around it."""
    root = tmp_path / "work"
    root.mkdir()
    (tmp_path / "outside.json").write_text(GOOD)
    (root / "link.json").symlink_to(tmp_path / "outside.json")
    os.mkfifo(root / "vars.fifo")
    (root / "folder.json").mkdir()
    monkeypatch.chdir(root)
    return root


FILES = {"outside": "../outside.json", "symlink": "link.json", "proc": "/proc/self/environ", "fifo": "vars.fifo",
         "directory": "folder.json"}


def variables_file(work: Path, case: dict) -> str:
    """The path a surface is given: a hostile one, or a file in the working directory holding the document."""
    if "file" in case:
        return FILES[case["file"]]
    document = case.get("document", GOOD)
    (work / "vars.doc").write_bytes(document if isinstance(document, bytes) else document.encode())
    return "vars.doc"


def manifest_file(work: Path, case: dict) -> str:
    place = {**PLACE, **case.get("place", {})}
    target = {"repository": place["repository"], "environment": place["environment"], "from": "infra"}
    target.update({key: True for key in ("prune", "upper") if case.get(key)})
    # JSON (a manifest may be JSON): YAML would fold a NEL into a space before bbvars saw it.
    text = json.dumps({"version": 1, "workspace": place["workspace"],
                       "sources": {"infra": {"file": variables_file(work, case)}}, "targets": [target]})
    (work / "bbvars.yml").write_text(text)
    return "bbvars.yml"


def settings_of(case: dict) -> dict[str, str]:
    """The settings as text, by setting name (the CI surfaces and Terraform take every one as a string)."""
    place = {**PLACE, **case.get("place", {})}
    document = case.get("document", GOOD)
    if isinstance(document, bytes):
        document = document.decode("utf-8", "surrogateescape")  # what Python makes of such an environment value
    return {**place, "variables": document, **{key: "true" for key in ("prune", "upper") if case.get(key)}}


def invoke(surface: str, case: dict, work: Path, emulator, monkeypatch) -> tuple[list[str], dict[str, str], bytes]:
    """(argv, environment, stdin) of one surface given one case."""
    env = env_for(emulator)
    if "login" in case:
        env = {key: value for key, value in env.items() if key not in CREDENTIALS}
    settings = settings_of(case)
    if surface == "cli":
        argv = ["sync", "-w", settings["workspace"], "-r", settings["repository"], "-e", settings["environment"]]
        argv += [f"--{key}" for key in ("prune", "upper") if case.get(key)]
        if "file" in case:
            return [*argv, "--file", FILES[case["file"]]], env, b""
        document = case.get("document", GOOD)
        return argv, env, document if isinstance(document, bytes) else document.encode()
    if surface == "manifest":
        return ["sync", "--manifest", manifest_file(work, case)], env, b""
    if surface == "terraform":
        # Text that is not UTF-8 reaches the query as such bytes.
        return ["terraform"], env, json.dumps(settings, ensure_ascii=False).encode("utf-8", "surrogateescape")
    if surface == "pipe":
        env["BITBUCKET_CLONE_DIR"] = str(work)
        if "file" in case:  # the pipe reads files only through a manifest
            return ["pipe"], {**env, "MANIFEST": manifest_file(work, case)}, b""
        return ["pipe"], {**env, **{key.upper(): value for key, value in settings.items()}}, b""
    assert surface == "action"
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    given = dict(settings)
    if "file" in case:
        del given["variables"]
        given["variables_file"] = FILES[case["file"]]
    env.update(GITHUB_WORKSPACE=str(work), GITHUB_OUTPUT=str(work / "output"), GITHUB_STEP_SUMMARY=str(work / "sum"))
    for name, spec in inputs.items():
        env[f"INPUT_{name.upper()}"] = str(given.pop(name, spec.get("default", "")))
    assert not given, given
    return ["action"], env, b""


def run(argv, env, stdin: bytes, monkeypatch, capsys):
    from bbvars.surfaces.cli.main import main

    use_env(monkeypatch, env)  # a value that is not UTF-8 is set as its bytes (os.environ's surrogateescape)
    monkeypatch.setattr(sys, "stdin", FakeStdin(stdin))
    with deadline(10):
        code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


ROWS = [(surface, name) for name in CASES for surface in SURFACES if (surface, name) not in NOT_EXPRESSIBLE]


@pytest.mark.parametrize("surface, name", ROWS, ids=[f"{surface}: {name}" for surface, name in ROWS])
def test_every_surface_refuses_the_same_input_the_same_way(surface, name, work, emulator, config_home, monkeypatch,
                                                            capsys):
    case, words = CASES[name]
    secrets = [CLIENT_SECRET]
    if "login" in case:
        login = write_login(emulator, config_home)
        emulator.reset_requests()  # the login's own grant
        secrets = [login["client_secret"], login["access_token"], login["refresh_token"]]
        case = {**case, "document": json.dumps({"LEAK": f"x{login[case['login']]}y"})}
    argv, env, stdin = invoke(surface, case, work, emulator, monkeypatch)
    code, out, err = run(argv, env, stdin, monkeypatch, capsys)
    # The action registers its secrets with the runner first (::add-mask::): that is where a secret belongs.
    said = "".join(line for line in (out + err).splitlines(keepends=True) if not line.startswith("::add-mask::"))
    assert code == 2, f"exit {code}: {said!r}"
    for word in words:
        assert any(alternative in said for alternative in ((word,) if isinstance(word, str) else word)), (word, said)
    assert emulator.requests == [], "a request was sent"
    assert "Traceback" not in said and not [secret for secret in secrets if secret in said]
    forged = [line for line in said.splitlines() if line.startswith(("::error::forged", "::stop-commands::", "✔"))]
    assert forged == [], forged


def test_every_case_runs_on_every_surface_that_can_express_it():
    """The table is whole: a case left out of a surface is one it cannot say, and each surface runs most cases."""
    for surface in SURFACES:
        assert sum(1 for s, _ in ROWS if s == surface) >= len(CASES) - 5, surface
