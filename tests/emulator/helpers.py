"""Helpers shared by the emulator tests."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from bbvars.emulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator

REPO_VARS = "/repositories/acme/api/pipelines_config/variables"
WORKSPACE_VARS = "/workspaces/acme/pipelines-config/variables"
ENVIRONMENTS = "/repositories/acme/api/environments"


# Only plain HTTP on loopback is used; one shared context spares httpx loading the CA bundle for every client
# (about 40 ms each), which would dominate the suite's run time.
_TLS = ssl.create_default_context()


def client(**kwargs: Any) -> httpx.Client:
    """An httpx client that ignores proxy settings from the environment (loopback must not go through a proxy)."""
    return httpx.Client(trust_env=False, verify=_TLS, **kwargs)


def encode(uuid: str) -> str:
    """A braced uuid as clients must put it in a path: braces percent-encoded."""
    return uuid.replace("{", "%7B").replace("}", "%7D")


def env_vars(env_uuid: str) -> str:
    return f"/repositories/acme/api/deployments_config/environments/{encode(env_uuid)}/variables"


def fetch_token(emu: Emulator, client_id: str = DEMO_CLIENT_ID, secret: str = DEMO_CLIENT_SECRET) -> str:
    with client() as web:
        answer = web.post(emu.token_url, auth=(client_id, secret), data={"grant_type": "client_credentials"})
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
