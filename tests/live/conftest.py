"""The live acceptance suite: the end-to-end cases against real Bitbucket, gated like Terraform providers' TF_ACC.

Skipped unless BBVARS_LIVE=1 and a scratch place is named (BBVARS_LIVE_WORKSPACE, BBVARS_LIVE_REPOSITORY,
BBVARS_LIVE_ENVIRONMENT: an existing deployment environment of that repository) with at least one credential kind:
  BBVARS_LIVE_CLIENT_ID + BBVARS_LIVE_CLIENT_SECRET      an OAuth consumer (private, scopes pipeline:variable)
  BBVARS_LIVE_EMAIL + BBVARS_LIVE_API_TOKEN              an Atlassian API token with the pipeline variable scopes
  BBVARS_LIVE_ACCESS_TOKEN                               a repository access token of that repository
BBVARS_LIVE_API_URL / BBVARS_LIVE_TOKEN_URL point the suite elsewhere (the self-check runs it against the emulator).
Every key the suite writes starts with a fresh BBVARS_LIVE_<hex>_ prefix and is deleted again, also when a test
fails; nothing else in the place is read back or touched (prune is always scoped to that prefix)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import pytest

# Read once: the tests replace the process environment (every BBVARS_* variable) around each bbvars run.
LIVE = {name: value for name, value in os.environ.items() if name.startswith("BBVARS_LIVE")}
REQUIRED = ("BBVARS_LIVE_WORKSPACE", "BBVARS_LIVE_REPOSITORY", "BBVARS_LIVE_ENVIRONMENT")
KINDS = {
    "consumer": ("BBVARS_LIVE_CLIENT_ID", "BBVARS_LIVE_CLIENT_SECRET"),
    "api-token": ("BBVARS_LIVE_EMAIL", "BBVARS_LIVE_API_TOKEN"),
    "access-token": ("BBVARS_LIVE_ACCESS_TOKEN",),
}
# What each kind sets in bbvars' own vocabulary (the CLI's environment).
CLI_NAMES = {
    "BBVARS_LIVE_CLIENT_ID": "BITBUCKET_CLIENT_ID", "BBVARS_LIVE_CLIENT_SECRET": "BITBUCKET_CLIENT_SECRET",
    "BBVARS_LIVE_EMAIL": "ATLASSIAN_ACCOUNT_EMAIL", "BBVARS_LIVE_API_TOKEN": "ATLASSIAN_API_TOKEN",
    "BBVARS_LIVE_ACCESS_TOKEN": "BITBUCKET_ACCESS_TOKEN",
}


def live_enabled() -> str | None:
    """None when the suite may run, else why it is skipped."""
    if LIVE.get("BBVARS_LIVE") != "1":
        return "the live suite runs only with BBVARS_LIVE=1 (see tests/live/conftest.py)"
    missing = [name for name in REQUIRED if not LIVE.get(name)]
    if missing:
        return f"BBVARS_LIVE=1 but {', '.join(missing)} not set"
    return None


def pytest_collection_modifyitems(config, items):
    reason = live_enabled()
    if reason:
        for item in items:
            if "tests/live/" in str(item.fspath).replace(os.sep, "/"):
                item.add_marker(pytest.mark.skip(reason=reason))


@dataclass(frozen=True)
class Place:
    workspace: str
    repository: str
    environment: str
    prefix: str  # every key of one test starts with it

    def target(self, scope: str) -> list[str]:
        flags = ["--workspace", self.workspace]
        if scope in ("repository", "environment"):
            flags += ["--repository", self.repository]
        if scope == "environment":
            flags += ["--environment", self.environment]
        return flags


def kind_env(kind: str) -> dict[str, str] | None:
    names = KINDS[kind]
    if not all(LIVE.get(name) for name in names):
        return None
    env = {CLI_NAMES[name]: LIVE[name] for name in names}
    for own, cli in (("BBVARS_LIVE_API_URL", "BITBUCKET_API_URL"), ("BBVARS_LIVE_TOKEN_URL", "BITBUCKET_TOKEN_URL")):
        if LIVE.get(own):
            env[cli] = LIVE[own]
    return env


@pytest.fixture
def place() -> Place:
    return Place(LIVE.get("BBVARS_LIVE_WORKSPACE", ""), LIVE.get("BBVARS_LIVE_REPOSITORY", ""),
                 LIVE.get("BBVARS_LIVE_ENVIRONMENT", ""), f"BBVARS_LIVE_{secrets.token_hex(4).upper()}_")
