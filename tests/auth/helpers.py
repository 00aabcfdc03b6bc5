"""A stored login made without a browser: the emulator's consent is granted in-process and the code exchanged over
HTTP, so each test starts from a real, refreshable login in its own config directory (written as JSON, in the
shape the stored login's file has)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx

from bbvars.emulator import Emulator
from tests.support import LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET, clean_env, login_consumer


def credentials(config_home: Path) -> Path:
    return config_home / "bbvars" / "credentials.json"


def grant(emu: Emulator) -> dict:
    """The token answer for a fresh authorization code, as `bbvars login` would get it."""
    login_consumer(emu)
    code = emu._identities.issue_code(LOGIN_CLIENT_ID, emu.consent_user)
    with httpx.Client(trust_env=False) as web:
        answer = web.post(emu.token_url, auth=(LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET),
                          data={"grant_type": "authorization_code", "code": code})
    assert answer.status_code == 200, answer.text
    return answer.json()


def write_login(emu: Emulator, config_home: Path, *, expired: bool = False, mode: int = 0o600, **fields) -> dict:
    """A stored login for the emulator (expired by the clock when `expired`: the first use refreshes it); `fields`
    replace any of the file's fields (None removes one)."""
    token = grant(emu)
    data = {"version": 2, "client_id": LOGIN_CLIENT_ID, "client_secret": LOGIN_CLIENT_SECRET,
            "access_token": token["access_token"], "refresh_token": token["refresh_token"],
            "expires_at": time.time() + (-10 if expired else 3600), "scopes": token["scope"],
            "user": "Demo User (demo-user)", "token_url": emu.token_url, "api_url": emu.api_url}
    data.update(fields)
    data = {key: value for key, value in data.items() if value is not None}
    path = credentials(config_home)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    os.chmod(path, mode)
    return data


def stored(config_home: Path) -> dict:
    return json.loads(credentials(config_home).read_text())


def refresh_works(emu: Emulator, refresh_token: str) -> bool:
    """Whether the emulator still takes this refresh token (it is spent once used: refresh tokens rotate)."""
    with httpx.Client(trust_env=False) as web:
        answer = web.post(emu.token_url, auth=(LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET),
                          data={"grant_type": "refresh_token", "refresh_token": refresh_token})
    return answer.status_code == 200


def login_env(emu: Emulator, **extra: str) -> dict[str, str]:
    """No credential in the environment (so the stored login is used), pointing at the emulator's API."""
    return clean_env(**{"BITBUCKET_API_URL": emu.api_url, **extra})
