"""The stored login's file: 0600 whatever the umask, written atomically, a damaged one a clear known failure."""

from __future__ import annotations

import os
import stat

import pytest

from bbvars.auth import store
from bbvars.errors import BbvarsError

LOGIN = store.Login("id", "secret-store-0001", "access-store-0002", "refresh-store-0003", 1e10, "pipeline", "Ada",
                    "https://bitbucket.org/site/oauth2/access_token", "https://api.bitbucket.org/2.0")


def test_saved_0600_in_a_0700_directory_whatever_the_umask(tmp_path):
    path = tmp_path / "cfg" / "bbvars" / "credentials.json"
    old = os.umask(0)
    try:
        store.save(path, LOGIN)
        store.save(path, LOGIN)  # replacing keeps the mode
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert store.load(path) == LOGIN
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "credentials.json"
    store.save(path, LOGIN)

    def broken(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        store.save(path, store.Login(**{**LOGIN.__dict__, "access_token": "new"}))
    assert store.load(path) == LOGIN
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]


DAMAGED_EXPIRY = ('{"client_id": "i", "client_secret": "s", "access_token": "a", "refresh_token": "r", '
                  '"expires_at": "soon", "scopes": "", "user": "u", "token_url": "https://x/t"}')


@pytest.mark.parametrize("text", ["", "{", "[]", '{"client_id": 1}', '{"version": 1}', DAMAGED_EXPIRY])
def test_a_damaged_file_says_how_to_recover(tmp_path, text):
    path = tmp_path / "credentials.json"
    path.write_text(text)
    path.chmod(0o600)
    with pytest.raises(BbvarsError, match="is damaged: run `bbvars logout`, then `bbvars login`") as caught:
        store.load(path)
    assert "secret" not in str(caught.value)


def test_missing_and_delete(tmp_path):
    path = tmp_path / "credentials.json"
    assert store.load(path) is None and store.delete(path) is False
    store.save(path, LOGIN)
    with store.locked(path, 5):
        pass
    assert store.delete(path) is True and list(tmp_path.iterdir()) == []


def test_expiry_has_a_margin():
    assert store.Login(**{**LOGIN.__dict__, "expires_at": 1000.0}).expired(now=1000.0 - 30)
    assert not store.Login(**{**LOGIN.__dict__, "expires_at": 1000.0}).expired(now=1000.0 - 120)
    assert not store.Login(**{**LOGIN.__dict__, "expires_at": None}).expired()
