"""CLI manners: a mistyped flag, command or choice gets the likely one suggested, naming what was typed when it is
a name (a flag, a command) and never a value; each command's --help ends with examples."""

from __future__ import annotations

import re

import pytest

from bbvars.surfaces.cli.main import COMMANDS
from tests.support import env_for, run_main

SECRET = "argv-Secret-VALUE-71d0"


def one_error(run) -> str:
    assert run.code == 2 and run.stdout == "", run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bbvars: error: "), run.stderr
    return lines[0]


@pytest.mark.parametrize("argv, said", [
    (["sync", "-w", "acme", "--enviroment", "Production"],
     "unrecognized arguments: --enviroment (did you mean --environment?) (1 value, not shown) "
     "(see `bbvars sync --help`)"),
    (["sync", "-w", "acme", "--dryrun", "--var", "A=1"], "--dryrun (did you mean --dry-run?)"),
    (["list", "-w", "acme", "--repositry=api"], "--repositry (did you mean --repository?) (1 value, not shown)"),
    (["snyc", "-w", "acme"], "unknown command 'snyc': did you mean 'sync'? (commands: sync, check,"),
    (["lsit"], "unknown command 'lsit': did you mean 'list'?"),
    (["sync", "-w", "acme", "--var", "A=1", "--output", "jsno"],
     "argument --output: invalid choice 'jsno': did you mean 'json'? (choose from json, none)"),
    (["list", "-w", "acme", "--format", "dotenb"], "invalid choice 'dotenb': did you mean 'dotenv'?"),
    (["completion", "bsah"], "invalid choice 'bsah': did you mean 'bash'?"),
])
def test_a_mistyped_name_is_named_with_the_likely_one(argv, said, emulator, monkeypatch, capsys):
    line = one_error(run_main(argv, env=env_for(emulator), monkeypatch=monkeypatch, capsys=capsys))
    assert said in line
    assert "Production" not in line and "A=1" not in line  # values are never shown
    assert emulator.requests == []


@pytest.mark.parametrize("argv", [
    [SECRET, "sync"],  # a value where the command goes
    ["sync", "-w", "acme", "--var", "A=1", "--output", SECRET],  # a value no choice is close to
    ["sync", "-w", "acme", "--client-secret", SECRET],
    ["sync", "-w", "acme", f"--client-secret={SECRET}"],
    ["sync", "-w", "acme", SECRET],
])
def test_what_is_not_close_to_a_name_is_not_shown(argv, emulator, monkeypatch, capsys):
    line = one_error(run_main(argv, env=env_for(emulator), monkeypatch=monkeypatch, capsys=capsys))
    assert SECRET not in line and "did you mean" not in line


def test_a_command_far_from_any_is_not_echoed_but_the_commands_are_listed(emulator, monkeypatch, capsys):
    line = one_error(run_main(["frobnicate"], env=env_for(emulator), monkeypatch=monkeypatch, capsys=capsys))
    assert "unknown command (not shown: it may be a value) (commands: sync, check, login" in line
    assert "frobnicate" not in line


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_help_ends_with_examples(command, monkeypatch, capsys):
    from bbvars.surfaces.cli.main import main

    monkeypatch.setenv("COLUMNS", "120")
    with pytest.raises(SystemExit) as stopped:
        main([command, "--help"])
    assert stopped.value.code == 0
    shown = capsys.readouterr().out
    examples = shown.split("\nExamples:\n")[1]
    commands = [line for line in examples.splitlines() if line.startswith("  $ ")]
    assert commands and all(f"bbvars {command}" in line for line in commands), examples
    assert all(line.startswith(("  # ", "  $ ")) for line in examples.splitlines()), examples


# -- messages --------------------------------------------------------------------------------------------------------


def test_a_refused_access_token_line_keeps_its_whole_fix(emulator, monkeypatch, capsys):
    from bbvars.auth.choose import access_token_credential
    from bbvars.errors import speak
    from bbvars.surfaces.cli.options import cli_voice

    env = {k: v for k, v in env_for(emulator).items() if not k.startswith("BITBUCKET_CLIENT")}
    run = run_main(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env={**env, "BITBUCKET_ACCESS_TOKEN": "nope"},
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    line = run.stderr.splitlines()[-1]
    assert line.endswith(f"): {speak(access_token_credential('x').hints.refused, cli_voice)}"), line
    assert "(401: Token is invalid" in line  # Bitbucket's own words shortened, if anything


def test_an_outage_during_writes_is_one_short_line_telling_its_cause_once(emulator, fast_retry, monkeypatch, capsys):
    from bbvars.emulator import Fault

    emulator.inject(Fault(method="POST", path="variables", status=503, times=1000))
    pairs = [arg for i in range(12) for arg in ("--var", f"K{i:02}=v")]
    run = run_main(["sync", "-w", "acme", "-r", "api", "--concurrency", "2", *pairs], env=env_for(emulator),
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    line = run.stderr.splitlines()[-1]
    assert line.count("Bitbucket answered HTTP 503") == 1 and len(line) <= 220, line
    assert line.startswith("bbvars: error: repository acme/api: 12 keys not written (")
    assert line.endswith("Bitbucket may be having trouble (see status.atlassian.com); re-run later"), line
    assert not any(other.startswith("! ") for other in run.stderr.splitlines())  # told once, in the error line


def test_a_total_size_refusal_says_what_to_do_about_the_size(emulator, monkeypatch, capsys):
    emulator.seed_variable("acme", "BIG", "x" * 119_000, repository="api")
    run = run_main(["sync", "-w", "acme", "-r", "api", "--var", "MORE=" + "y" * 2_000], env=env_for(emulator),
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    line = run.stderr.splitlines()[-1]
    assert "check the key and value" not in line and ".:" not in line
    assert line.endswith("(names and values): move some to another target (a repository, environment or "
                         "workspace), or shorten them"), line


@pytest.mark.parametrize("document, said", [
    ("null", "its top level is null (empty)"),
    ('"text"', "its top level is text"),
    ("on: 1", "is read as a boolean (true/false), not text: quote it"),
    ("true", "its top level is a boolean (true/false)"),
])
def test_messages_name_kinds_as_json_and_yaml_do(document, said, emulator, monkeypatch, capsys):
    line = one_error(run_main(["sync", "-w", "acme", "-r", "api"], env=env_for(emulator), input=document,
                              monkeypatch=monkeypatch, capsys=capsys))
    assert said in line
    assert not re.search(r"NoneType|\bstr\b|\bbool\b|\bbytes\b", line), line


def test_an_empty_terraform_output_in_a_manifest_is_named_as_an_empty_input(emulator, tmp_path, monkeypatch, capsys):
    manifest = tmp_path / "bbvars.yml"
    manifest.write_text("version: 1\nworkspace: acme\nsources:\n  infra: {file: '-'}\ntargets:\n"
                        "  - {name: api, repository: api, from: infra, include: ['db_*']}\n")
    line = one_error(run_main(["sync", "--manifest", str(manifest)], env=env_for(emulator), input="{}\n",
                              monkeypatch=monkeypatch, capsys=capsys))
    assert "sources.infra (standard input): holds no variables (`terraform output -json` prints {}" in line
    assert "matches no key" not in line and line.endswith("or set allow_empty: true to accept an empty input")
    manifest.write_text(manifest.read_text().replace("sources:", "defaults: {allow_empty: true}\nsources:"))
    run = run_main(["sync", "--manifest", str(manifest)], env=env_for(emulator), input="{}\n",
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 0, run.stderr
    assert emulator.requests == []


def test_the_demo_ends_with_commands_that_run_as_printed(tmp_path):
    """The demo's last lines, run as a person would (the emulator in one process, the rest in a shell), but for the
    port: the default 7990 may be taken by another run."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from tests.support import clean_env, free_port, run_cli

    demo = run_cli(["demo"], env=clean_env())
    assert demo.code == 0
    tail = demo.stdout.split("Try your own commands")[1].splitlines()[1:]
    commands = [line.strip() for line in tail if line.startswith("  ")]
    assert commands[0] == "bbvars emulator" and commands[1].startswith("export ")
    port = str(free_port())
    shim = tmp_path / "bbvars"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bbvars "$@"\n')
    shim.chmod(0o755)
    env = clean_env(PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    server = subprocess.Popen(["bash", "-c", f"{commands[0]} --port {port}"], env=env, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        banner = [server.stderr.readline() for _ in range(2)]
        assert banner[1].strip() == commands[1].replace("7990", port)  # the line to paste is the one printed
        script = "set -euo pipefail\n" + "\n".join(line.replace("7990", port) for line in commands[1:])
        proc = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    assert proc.returncode == 0, proc.stderr
    decoder = json.JSONDecoder()
    report, end = decoder.raw_decode(proc.stdout)
    assert report["created"] == ["API_KEY", "GREETING"]
    assert json.loads(proc.stdout[end:]) == [{"key": "API_KEY", "secured": True},
                                             {"key": "GREETING", "secured": False, "value": "hello"}]
