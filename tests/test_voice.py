"""Messages speak the surface's vocabulary: the lower layers name a setting by marker (`{setting:client_id}`), and
each surface says it in its own words (CLI `BITBUCKET_CLIENT_ID` or `--timeout`, pipe `TIMEOUT`, action
`input client_id`, Terraform `query key client_id`). No marker is ever printed, and a credential failure told to one
surface never uses another surface's spelling."""

from __future__ import annotations

import ast
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from bbvars.emulator import Emulator
from bbvars.errors import NONCE, ApiError, BbvarsError, setting, speak
from bbvars.redaction import Redactor
from bbvars.request.settings import BY_NAME, Setting
from bbvars.surfaces import action, pipe, terraform
from bbvars.surfaces.cli.options import cli_label, cli_voice
from tests.auth.helpers import write_login
from tests.support import ACCESS_TOKEN, CLIENT_ID, ROOT, FakeStdin, deadline, env_for, use_env

SRC = ROOT / "src" / "bbvars"
LABELS: dict[str, Callable[[Setting], str]] = {
    "cli": cli_label,
    "pipe": pipe.label,
    "action": action.label,
    "terraform": terraform.labels_for(credentials_from_query=True),
    "terraform-env": terraform.labels_for(credentials_from_query=False),
}


def marked_settings() -> dict[str, set[str]]:
    """Every setting a message in the source names by marker, and the files that do."""
    found: dict[str, set[str]] = {}
    pattern = re.compile(r"\{\{?setting:([a-z_]+)\}|\bsetting\(['\"]([a-z_]+)['\"]\)")  # the first: none is left
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match[1] or match[2], set()).add(str(path.relative_to(SRC)))
    return found


def test_the_lower_layers_name_settings_by_marker_and_every_surface_can_say_each():
    marked = marked_settings()
    assert {"client_id", "client_secret", "access_token", "atlassian_account_email", "atlassian_api_token",
            "api_url", "token_url", "timeout", "prune", "targets", "max_requests"} <= set(marked)
    for name in marked:
        assert name in BY_NAME, (name, marked[name])
        for surface, label in LABELS.items():
            said = speak(setting(name), lambda n, label=label: label(BY_NAME[n]))
            assert said and "{" not in said and "setting" not in said, (surface, name, said)


def message_texts(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module but its docstrings (the text of messages, hints and their parts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_message_of_auth_or_bitbucket_names_a_setting_in_one_surface_s_words():
    """Messages there named settings in the CLI's words (BITBUCKET_API_URL, --timeout, ...). Left alone: the login's
    own --callback-url (a flag of `bbvars login` only, no setting) and `--debug (DEBUG)`, which names the CLI's and
    the pipe's spelling at once (the CLI's text stays as it is)."""
    names = re.compile(r"BITBUCKET_(CLIENT_ID|CLIENT_SECRET|ACCESS_TOKEN|API_URL|TOKEN_URL)|ATLASSIAN_[A-Z_]+|"
                       r"BBVARS_FINGERPRINT_KEY|--(timeout|concurrency|prune|target|max-requests)\b|"
                       r"input client_|query key")
    for folder in ("auth", "bitbucket"):
        for path in sorted((SRC / folder).glob("*.py")):
            for number, text in message_texts(path):
                assert not names.search(text), f"{path.relative_to(SRC)}:{number}: {text}"


def test_speak_and_the_redactor_render_every_marker():
    text = f"check {setting('api_url')} / {setting('token_url')}"
    assert speak(text, cli_voice) == "check BITBUCKET_API_URL / BITBUCKET_TOKEN_URL"
    assert speak(text) == "check api_url / token_url"  # no voice: the setting's own name, never the marker
    assert Redactor()(text) == "check api_url / token_url"
    assert Redactor(voice=pipe.voice)(f"allow more ({setting('timeout')})") == "allow more (TIMEOUT)"
    assert Redactor(voice=action.voice)(f"check {setting('client_id')}") == "check input client_id"
    assert Redactor(voice=cli_voice)(f"leave {setting('prune')} out") == "leave --prune out"
    assert BbvarsError(f"set {setting('client_id')} and {setting('client_secret')}, {setting('client_id')}").settings \
        == ("client_id", "client_secret")
    assert ApiError("no setting named").settings == ()


# -- a credential failure through every surface -------------------------------------------------------------------

SURFACES = ("cli", "pipe", "action", "terraform", "terraform-env")
CREDENTIALS = ("BITBUCKET_CLIENT_ID", "BITBUCKET_CLIENT_SECRET", "BITBUCKET_ACCESS_TOKEN")


def invoke(surface: str, work: Path, env: dict[str, str], credentials: dict[str, str]) -> tuple[list, dict, bytes]:
    """(argv, environment, stdin) of a sync of A=1 into acme/api; `credentials` by setting name, given where the
    surface takes them (Terraform: the query, or with terraform-env its environment)."""
    env = {k: v for k, v in env.items() if k not in CREDENTIALS}
    place = {"workspace": "acme", "repository": "api", "variables": '{"A": "1"}'}
    as_env = {str(BY_NAME[name].env): value for name, value in credentials.items()}
    if surface == "cli":
        return ["sync", "-w", "acme", "-r", "api", "--var", "A=1"], {**env, **as_env}, b""
    if surface == "pipe":
        return ["pipe"], {**env, **as_env, "BITBUCKET_CLONE_DIR": str(work),
                          **{key.upper(): value for key, value in place.items()}}, b""
    if surface == "terraform":
        return ["terraform"], env, json.dumps({**place, **credentials}).encode()
    if surface == "terraform-env":
        return ["terraform"], {**env, **as_env}, json.dumps(place).encode()
    assert surface == "action"
    given = {**place, **credentials}
    env = dict(env, GITHUB_WORKSPACE=str(work), GITHUB_OUTPUT=str(work / "output"),
               GITHUB_STEP_SUMMARY=str(work / "summary"))
    for name, spec in yaml.safe_load((ROOT / "action.yml").read_text())["inputs"].items():
        env[f"INPUT_{name.upper()}"] = str(given.pop(name, spec.get("default", "")))
    assert not given, given
    return ["action"], env, b""


def run(argv, env, stdin: bytes, monkeypatch, capsys) -> tuple[int, str]:
    from bbvars.surfaces.cli.main import main

    use_env(monkeypatch, env)
    monkeypatch.setattr(sys, "stdin", FakeStdin(stdin))
    with deadline(20):
        code = main(argv)
    out, err = capsys.readouterr()
    # The action registers its secrets with the runner first (::add-mask::): not a message.
    return code, "".join(line for line in (out + err).splitlines(keepends=True) if not line.startswith("::add-mask"))


def written(work: Path) -> str:
    """What the surface left in files for later steps (the action's outputs and summary)."""
    return "".join(path.read_text() for path in work.iterdir() if path.is_file())


def spoken(surface: str, said: str, names: tuple[str, ...]) -> None:
    """`said` names each setting in `surface`'s words, and in no other surface's (unless that is part of its own)."""
    assert "{setting" not in said and NONCE not in said, said
    for name in names:
        own = LABELS[surface](BY_NAME[name])
        assert own in said, (surface, own, said)
        for other in {label(BY_NAME[name]) for label in LABELS.values()}:
            if other not in own:
                assert other not in said, (surface, other, said)


@pytest.fixture
def work(tmp_path, monkeypatch):
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize("surface", SURFACES)
def test_a_refused_oauth_consumer_is_named_in_the_surface_s_words(surface, work, emulator, monkeypatch, capsys):
    credentials = {"client_id": CLIENT_ID, "client_secret": "not-the-consumer-secret-4f1"}
    code, said = run(*invoke(surface, work, env_for(emulator), credentials), monkeypatch, capsys)
    assert code == 1, said
    assert "rejected the OAuth client id or secret" in said, said
    spoken(surface, said + written(work), ("client_id", "client_secret"))


@pytest.mark.parametrize("surface", SURFACES)
def test_a_refused_access_token_is_named_in_the_surface_s_words(surface, work, emulator, monkeypatch, capsys):
    """Told through the run's result (its error, each failed key's), not only the closing line."""
    code, said = run(*invoke(surface, work, env_for(emulator), {"access_token": "not-a-known-access-token"}),
                     monkeypatch, capsys)
    assert code == 1, said
    assert "Bitbucket refused the credentials" in said, said
    spoken(surface, said + written(work), ("access_token",))


@pytest.mark.parametrize("surface", SURFACES)
def test_an_api_token_without_an_email_address_is_named_in_the_surface_s_words(surface, work, emulator, monkeypatch,
                                                                                 capsys):
    credentials = {"atlassian_account_email": "not-an-email", "atlassian_api_token": "ATATT-not-a-known-token"}
    code, said = run(*invoke(surface, work, env_for(emulator), credentials), monkeypatch, capsys)
    assert code == 1, said
    assert "is not an email address" in said, said
    spoken(surface, said + written(work), ("atlassian_account_email",))


@pytest.mark.parametrize("surface", ("cli", "pipe", "action", "terraform-env"))
def test_a_stored_login_for_another_api_is_refused_in_the_surface_s_words(surface, work, emulator, config_home,
                                                                          monkeypatch, capsys):
    write_login(emulator, config_home)
    with Emulator() as other:
        env = env_for(other)
        code, said = run(*invoke(surface, work, env, {}), monkeypatch, capsys)
        assert other.requests == []
    assert code == 2, said
    assert "the stored login" in said and "is sent to no other server" in said, said
    spoken(surface, said + written(work), ("api_url",))


@pytest.mark.parametrize("surface", ("cli", "pipe", "action"))
def test_the_way_out_of_the_hourly_limit_names_the_surface_s_settings(surface, work, emulator, monkeypatch, capsys):
    """A dry run needing more requests than an access token's hour allows says how to cap the run, in the words of
    the surface (Terraform prints no cost line)."""
    emulator.hourly_limit = 50
    emulator.add_access_token(ACCESS_TOKEN)
    argv, env, stdin = invoke(surface, work, env_for(emulator), {"access_token": ACCESS_TOKEN})
    document = json.dumps({f"K{i:02d}": "v" for i in range(60)})
    if surface == "cli":
        argv = [*argv[:-2], "--dry-run", "--output", "none"]
        stdin = document.encode()
    else:
        prefix = "" if surface == "pipe" else "INPUT_"
        env = {**env, f"{prefix}VARIABLES": document, f"{prefix}DRY_RUN": "true"}
    code, said = run(argv, env, stdin, monkeypatch, capsys)
    assert code == 0, said
    assert "an hour Bitbucket allows an access token" in said, said
    spoken(surface, said + written(work), ("targets", "max_requests"))
