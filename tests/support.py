"""Helpers shared by the tests: recognisable secrets, the environment that points bbvars at an emulator, and ways
to run bbvars both in-process (main(argv)) and as a real subprocess."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bbvars.client import RetryPolicy
from bbvars.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
# Recognisable secrets: any test may assert they never show up anywhere.
CLIENT_ID = "ci-client"
CLIENT_SECRET = "s3cr3t-CLIENT-7f3a9c"
FAST_RETRY = RetryPolicy(attempts=4, initial=0.01, max_wait=0.05, max_total=5.0)


def env_for(emu: Emulator, **extra: str) -> dict[str, str]:
    """A clean environment (no ambient BITBUCKET_*/pipe variables) pointing at the emulator."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("BITBUCKET_", "INPUT_", "GITHUB_"))}
    for name in ("WORKSPACE", "REPOSITORY", "ENVIRONMENT", "VARIABLES", "SECURED", "DEBUG", "COMMAND", "DRY_RUN",
                 "PRUNE", "PREFIX", "UPPER", "CONCURRENCY", "TIMEOUT"):
        base.pop(name, None)
    base.update(
        BITBUCKET_API_URL=emu.api_url,
        BITBUCKET_TOKEN_URL=emu.token_url,
        BITBUCKET_CLIENT_ID=CLIENT_ID,
        BITBUCKET_CLIENT_SECRET=CLIENT_SECRET,
    )
    base.update(extra)
    return base


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


def run_cli(args: list[str], *, env: dict[str, str], input: str | None = None, timeout: float = 60) -> Run:
    """bbvars as a user runs it: a real process."""
    proc = subprocess.run(
        [sys.executable, "-m", "bbvars", *args],
        input=input,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_main(args: list[str], *, env: dict[str, str], input: str = "", monkeypatch, capsys) -> Run:
    """bbvars in-process (so monkeypatched retry timings apply), with its real argv/env/stdin handling."""
    from bbvars.main import main

    for key in list(os.environ):
        if key.startswith(("BITBUCKET_", "INPUT_", "GITHUB_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)

    class Stdin(io.TextIOWrapper):
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", Stdin(io.BytesIO(input.encode())))
    code = main(args)
    out, err = capsys.readouterr()
    return Run(code, out, err)


def stored(emu: Emulator, repository: str | None = "api", environment: str | None = None,
           workspace: str = "acme") -> dict[str, tuple[str, bool]]:
    """What the emulator holds in one target, {key: (value, secured)}; a duplicate key fails the test."""
    found = emu.variables(workspace, repository, environment)
    assert len({v["key"] for v in found}) == len(found), f"a duplicate key in {found}"
    return {v["key"]: (v["value"], v["secured"]) for v in found}


def api_writes(emu: Emulator) -> list:
    """The writes (POST/PUT/DELETE) bbvars sent to the API, token requests left out."""
    return [r for r in emu.requests if r.path.startswith("/2.0/") and r.method in ("POST", "PUT", "DELETE")]
