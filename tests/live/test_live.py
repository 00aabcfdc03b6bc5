"""End-to-end cases against real Bitbucket (see conftest.py for how to enable them): each credential kind, each
scope, secured values, fingerprints, prune, a manifest, `check` and `list`. Each test writes only keys under its own
fresh prefix and removes them again, also when it fails."""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import pytest

from tests.live import oracle
from tests.live.conftest import KINDS, Place, kind_env
from tests.support import FakeStdin, Run, ambient

SCOPES = ("workspace", "repository", "environment")


def bbvars(args: list[str], env: dict[str, str], monkeypatch, capsys, input: str = "") -> Run:
    """bbvars in-process with exactly `env` as its bbvars-relevant environment."""
    from bbvars.surfaces.cli.main import main

    for key in [k for k in os.environ if ambient(k)]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(sys, "stdin", FakeStdin(input))
    code = main(args)
    out, err = capsys.readouterr()
    return Run(code, out, err)


def kinds_for(scope: str) -> list:
    # A repository access token reaches only its own repository: workspace variables are out of its reach.
    return [pytest.param(kind, id=kind) for kind in KINDS if not (kind == "access-token" and scope == "workspace")]


def listed(place: Place, scope: str, env, monkeypatch, capsys) -> dict[str, dict]:
    run = bbvars(["list", *place.target(scope)], env, monkeypatch, capsys)
    assert run.code == 0, run.stderr
    return {v["key"]: v for v in run.json if v["key"].startswith(place.prefix)}


@pytest.fixture
def cleanup(place):
    """Deletes every key under the test's prefix from the places it touched, whatever the test's outcome (through
    the independent oracle: bbvars' prune refuses an empty input on purpose)."""
    touched: list[tuple[str, str]] = []  # (credential kind, scope)
    yield touched
    for kind, scope in touched:
        oracle.remove(kind, place, scope, place.prefix)


def need(kind: str) -> dict[str, str]:
    env = kind_env(kind)
    if env is None:
        pytest.skip(f"{' and '.join(KINDS[kind])} not set")
    return env


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("kind", [k for k in KINDS])
def test_sync_list_resync_update_prune(kind, scope, place, cleanup, monkeypatch, capsys):
    if kind == "access-token" and scope == "workspace":
        pytest.skip("a repository access token cannot reach workspace variables")
    env = need(kind)
    cleanup.append((kind, scope))
    p = place.prefix
    first = bbvars(["sync", *place.target(scope), "--var", f"{p}PLAIN=one", "--var", f"{p}SECRET=s3cret-{p}",
                    "--secured", f"{p}SECRET"], env, monkeypatch, capsys)
    assert first.code == 0, first.stderr
    assert sorted(first.json["created"]) == [f"{p}PLAIN", f"{p}SECRET"]
    assert f"s3cret-{p}" not in first.stdout + first.stderr

    held = listed(place, scope, env, monkeypatch, capsys)
    assert held[f"{p}PLAIN"] == {"key": f"{p}PLAIN", "secured": False, "value": "one"}
    assert held[f"{p}SECRET"]["secured"] is True and "value" not in held[f"{p}SECRET"]

    again = bbvars(["sync", *place.target(scope), "--var", f"{p}PLAIN=one"], env, monkeypatch, capsys)
    assert again.code == 0 and again.json["unchanged"] == [f"{p}PLAIN"] and not again.json["created"], again.stdout

    changed = bbvars(["sync", *place.target(scope), "--var", f"{p}PLAIN=two", "--prefix", p, "--prune", "--yes"],
                     env, monkeypatch, capsys)
    # --prefix adds p to the input key too, and scopes prune to keys starting with p.
    assert changed.code == 0, changed.stderr
    assert changed.json["created"] == [f"{p}{p}PLAIN"] and sorted(changed.json["deleted"]) == [f"{p}PLAIN",
                                                                                                  f"{p}SECRET"]
    assert set(listed(place, scope, env, monkeypatch, capsys)) == {f"{p}{p}PLAIN"}


@pytest.mark.parametrize("kind", [k for k in KINDS])
def test_check_names_the_credential_and_writes_nothing(kind, place, monkeypatch, capsys):
    env = need(kind)
    run = bbvars(["check", *place.target("environment")], env, monkeypatch, capsys)
    assert run.code == 0, run.stderr
    assert "credential" in run.stderr


def test_fingerprint_makes_a_secured_resync_write_nothing(place, cleanup, monkeypatch, capsys):
    kind = next((k for k in KINDS if kind_env(k)), None)
    if kind is None:
        pytest.skip("no credential kind set")
    env = {**need(kind), "BBVARS_FINGERPRINT_KEY": secrets.token_urlsafe(32)}
    cleanup.append((kind, "environment"))
    p = place.prefix
    before = bbvars(["list", *place.target("environment")], env, monkeypatch, capsys)
    assert before.code == 0, before.stderr
    if any(v["key"] == "BBVARS_FINGERPRINTS" for v in before.json):
        pytest.skip("the scratch environment already holds BBVARS_FINGERPRINTS; the suite leaves it alone")
    args = ["sync", *place.target("environment"), "--var", f"{p}PIN=1234", "--secured", "*", "--fingerprint"]
    try:
        first = bbvars(args, env, monkeypatch, capsys)
        assert first.code == 0 and first.json["created"] == [f"{p}PIN"], first.stderr
        second = bbvars(args, env, monkeypatch, capsys)
        assert second.code == 0 and second.json["unchanged"] == [f"{p}PIN"] and not second.json["updated"], second.stdout
    finally:
        # The fingerprint variable is bbvars' own and was not there before: remove it too.
        oracle.remove(kind, place, "environment", place.prefix, exactly="BBVARS_FINGERPRINTS")
    assert "BBVARS_FINGERPRINTS" not in {v["key"] for v in bbvars(["list", *place.target("environment")], env,
                                                                   monkeypatch, capsys).json}


def test_manifest_writes_two_targets_in_one_run(place, cleanup, tmp_path: Path, monkeypatch, capsys):
    kind = next((k for k in KINDS if kind_env(k)), None)
    if kind is None:
        pytest.skip("no credential kind set")
    env = need(kind)
    cleanup.extend([(kind, "repository"), (kind, "environment")])
    p = place.prefix
    (tmp_path / "values.json").write_text(json.dumps({f"{p}A": "1", f"{p}B": "2"}))
    (tmp_path / "bbvars.yml").write_text(
        "version: 1\n"
        f"workspace: {json.dumps(place.workspace)}\n"
        "sources:\n  values: {file: values.json}\n"
        "targets:\n"
        f"  - {{name: repo, repository: {json.dumps(place.repository)}, from: values, include: ['{p}A']}}\n"
        f"  - {{name: env, repository: {json.dumps(place.repository)}, environment: {json.dumps(place.environment)},"
        f" from: values, include: ['{p}B']}}\n")
    monkeypatch.chdir(tmp_path)
    run = bbvars(["sync", "--manifest", "bbvars.yml"], env, monkeypatch, capsys)
    assert run.code == 0, run.stderr
    assert set(listed(place, "repository", env, monkeypatch, capsys)) == {f"{p}A"}
    assert set(listed(place, "environment", env, monkeypatch, capsys)) == {f"{p}B"}
