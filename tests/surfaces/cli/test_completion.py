"""`bbvars completion`: scripts generated from the parser; bash really completes with it."""

from __future__ import annotations

import subprocess

import pytest

from bbvars.surfaces.cli import completion
from bbvars.surfaces.cli.main import COMMANDS
from tests.support import clean_env, run_cli


def complete(script: str, line: str) -> list[str]:
    """What bash offers for `line` (the cursor at its end) with the script sourced."""
    words = line.split(" ")
    driver = (f'source /dev/stdin <<"BBVARS_COMPLETION"\n{script}BBVARS_COMPLETION\n'
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}; _bbvars; "
              'printf "%s\\n" "${COMPREPLY[@]}"')
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", driver], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


@pytest.fixture(scope="module")
def bash_script() -> str:
    run = run_cli(["completion", "bash"], env=clean_env())
    assert run.code == 0 and run.stderr == ""
    return run.stdout


@pytest.mark.parametrize("line, offered", [
    ("bbvars sy", ["sync"]),
    ("bbvars ", [*COMMANDS, "--help", "--version"]),
    ("bbvars sync --wo", ["--workspace"]),
    ("bbvars sync --output ", ["json", "none"]),
    ("bbvars list --format d", ["dotenv"]),
    ("bbvars completion ", ["bash", "zsh", "fish"]),
    ("bbvars list -w acme --r", ["--repository", "--repo"]),
    ("bbvars sync --workspace ", []),  # a value the user types
])
def test_bash_sources_it_and_completes(bash_script, line, offered):
    assert complete(bash_script, line) == offered


def test_file_options_complete_paths(bash_script, tmp_path):
    (tmp_path / "vars.env").write_text("A=1\n")
    assert complete(bash_script, f"bbvars sync --file {tmp_path}/va") == [f"{tmp_path}/vars.env"]


def test_file_names_with_spaces_or_glob_characters_are_offered_as_they_are(bash_script, tmp_path):
    for name in ("a b.json", "*.json", "c.json"):
        (tmp_path / name).write_text("{}")
    assert sorted(complete(bash_script, f"bbvars sync --file {tmp_path}/")) == [
        f"{tmp_path}/*.json", f"{tmp_path}/a b.json", f"{tmp_path}/c.json"]
    assert complete(bash_script, f"bbvars sync --file {tmp_path}/a") == [f"{tmp_path}/a b.json"]


def test_every_option_of_every_command_is_in_each_script():
    found = completion.commands()
    assert [c.name for c in found] == list(COMMANDS)
    scripts = {shell: getattr(completion, shell)(found) for shell in completion.SHELLS}
    assert scripts["zsh"].startswith("#compdef bbvars") and "bashcompinit" in scripts["zsh"]
    for command in found:
        for option in command.options:
            for flag in option.flags:
                assert flag in scripts["bash"], flag
                fish_flag = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
                assert fish_flag in scripts["fish"], flag


def test_an_unknown_shell_is_exit_2():
    run = run_cli(["completion", "tcsh"], env=clean_env())
    assert run.code == 2 and "invalid choice" in run.stderr and "tcsh" not in run.stderr


def needs(shell: str) -> str:
    import shutil

    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed here")
    return path


def test_fish_sources_it_and_completes(tmp_path):
    fish = needs("fish")
    script = tmp_path / "bbvars.fish"
    script.write_text(run_cli(["completion", "fish"], env=clean_env()).stdout)
    lines = "; ".join(f'complete -C "{line}"' for line in ("bbvars sy", "bbvars list --format ", "bbvars sync --wo"))
    proc = subprocess.run([fish, "--no-config", "-c", f"source {script}; {lines}"], capture_output=True, text=True,
                          timeout=60, env=clean_env(HOME=str(tmp_path)))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    offered = [line.split("\t")[0] for line in proc.stdout.splitlines()]
    assert offered == ["sync", "dotenv", "json", "--workspace"], proc.stdout


def test_zsh_loads_it_through_bashcompinit(tmp_path):
    zsh = needs("zsh")
    script = tmp_path / "bbvars.zsh"
    script.write_text(run_cli(["completion", "zsh"], env=clean_env()).stdout)
    # zsh filters by the typed prefix itself (compadd); here the function's candidates are checked, as zsh gets them.
    driver = (f"autoload -U compinit && compinit -u -D; source {script}; setopt ksharrays; "
              'COMP_WORDS=(bbvars list --format ""); COMP_CWORD=3; _bbvars; print -l -- "${COMPREPLY[@]}"')
    proc = subprocess.run([zsh, "-f", "-c", driver], capture_output=True, text=True, timeout=60,
                          env=clean_env(HOME=str(tmp_path)))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert proc.stdout.split() == ["json", "dotenv"]
