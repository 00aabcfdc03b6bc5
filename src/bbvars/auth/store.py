"""The stored login of `bbvars login`: one JSON file in the user's config directory, mode 0600, always written
atomically (a reader never sees half a file, and a crash never leaves a token in a stray file)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator, Mapping

from bbvars.errors import BbvarsError

FILE_NAME = "credentials.json"
VERSION = 1
# Refresh this long before the announced expiry: a token that expires in flight costs a 401 and a retry.
EXPIRY_MARGIN = 60.0


@dataclass(frozen=True)
class Login:
    client_id: str
    client_secret: str = field(repr=False)
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float | None  # seconds since the epoch; None: not announced
    scopes: str
    user: str  # who logged in, for people (display name and nickname)
    token_url: str  # where the refresh-token grant goes: the server that issued the tokens

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at - EXPIRY_MARGIN

    def secrets(self) -> tuple[str, ...]:
        return (self.client_secret, self.access_token, self.refresh_token)


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/bbvars, else ~/.config/bbvars (the XDG base directory rule: a relative value is ignored)."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path(environ.get("HOME") or Path.home()) / ".config"
    return root / "bbvars"


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    return config_dir(environ) / FILE_NAME


def exists(environ: Mapping[str, str] | None = None) -> bool:
    return credentials_path(environ).is_file()


def load(path: Path) -> Login | None:
    """The stored login, or None when there is none; a damaged file is a known failure that says how to recover."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BbvarsError(f"cannot read the stored login {path}: {exc.strerror}; run `bbvars logout`, then "
                          "`bbvars login`") from None
    try:
        data = json.loads(text)
        names = {f.name for f in fields(Login)}
        login = Login(**{name: data[name] for name in names})
        if not all(isinstance(getattr(login, n), str) for n in names - {"expires_at"}):
            raise TypeError
        if login.expires_at is not None and (isinstance(login.expires_at, bool)
                                             or not isinstance(login.expires_at, (int, float))):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise BbvarsError(f"the stored login {path} is damaged: run `bbvars logout`, then `bbvars login`") from None
    return login


def save(path: Path, login: Login) -> None:
    """Written to a new 0600 file in the same directory, flushed, then renamed over the old one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    text = json.dumps({"version": VERSION, **asdict(login)}, indent=2) + "\n"
    fd, temporary = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def delete(path: Path) -> bool:
    """Remove the stored login; False when there was none."""
    with contextlib.suppress(FileNotFoundError):
        lock_path(path).unlink()
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Held while a refresh runs: two bbvars processes must not both spend the one refresh token (it rotates, so
    the second would be refused)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
