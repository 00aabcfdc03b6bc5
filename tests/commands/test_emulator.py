"""`bbvars emulator` as a user runs it: a real server process that bbvars (another process) syncs into."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from tests.support import run_cli


@pytest.fixture
def served(request):
    """Start `bbvars emulator --port 0 ARGS...` and yield its API and token URLs; stop it with SIGTERM."""
    args = getattr(request, "param", [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITBUCKET_")}
    proc = subprocess.Popen([sys.executable, "-m", "bbvars", "emulator", "--port", "0", *args], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        match = re.search(r"API (\S+)\s+token (\S+)", first)
        assert match, f"unexpected first line: {first!r}"
        yield match.group(1), match.group(2), env
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0  # SIGTERM is a clean stop


def sync_env(api: str, token: str, env: dict) -> dict:
    return dict(env, BITBUCKET_API_URL=api, BITBUCKET_TOKEN_URL=token, BITBUCKET_CLIENT_ID="demo-client",
                BITBUCKET_CLIENT_SECRET="demo-secret")


def test_a_sync_against_the_served_emulator_creates_then_finds_unchanged(served):
    api, token, env = served
    first = run_cli(["sync", "-w", "acme", "-r", "api", "-e", "Test", "--var", "A=1"], env=sync_env(api, token, env))
    assert first.code == 0, first.stderr
    assert first.json["created"] == ["A"]
    again = run_cli(["sync", "-w", "acme", "-r", "api", "-e", "Test", "--var", "A=1"], env=sync_env(api, token, env))
    assert again.json["unchanged"] == ["A"]


@pytest.mark.parametrize("served", [["--fault", "503:1"]], indirect=True)
def test_injected_fault_is_retried(served):
    api, token, env = served
    run = run_cli(["sync", "-w", "acme", "--var", "A=1", "--debug"], env=sync_env(api, token, env))
    assert run.code == 0, run.stderr
    assert "after HTTP 503" in run.stderr


def test_bad_fault_spec_is_an_input_error():
    run = run_cli(["emulator", "--fault", "abc"], env=dict(os.environ))
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "--fault takes STATUS[:TIMES]" in run.stderr
