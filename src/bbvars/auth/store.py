"""The stored login of `bbvars login`: one JSON file in the user's config directory, mode 0600 in a 0700 directory,
always written atomically (a reader never sees half a file, and a crash never leaves a token in a stray file).

What it trusts, checked on every load: a directory only this account may write (else anyone could swap the file for
one naming their server), a file only this account may read, and URLs that pass the same rule as the environment's
(https, or http to this machine). The refresh lock is waited for within the run's timeout, names its holder, and is
never opened through a symbolic link."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from bbvars.errors import BbvarsError, InputError
from bbvars.urls import check_url

FILE_NAME = "credentials.json"
VERSION = 2  # 2: the API URL is recorded (version 1 files did not say where their token may go)
# Refresh this long before the announced expiry: a token that expires in flight costs a 401 and a retry.
EXPIRY_MARGIN = 60.0
# A version-1 login made against Bitbucket itself is for Bitbucket's API; one made against any other server is not
# guessed at.
BITBUCKET_TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"
BITBUCKET_API_URL = "https://api.bitbucket.org/2.0"
# Modes are the access control on POSIX; elsewhere (Windows) the profile directory's ACL keeps the file private.
POSIX = os.name == "posix"
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def header_safe(text: str) -> bool:
    """Whether an HTTP header can carry `text` as a token: visible ASCII only (no line break, control character,
    space or non-ASCII letter)."""
    return bool(text) and all("!" <= char <= "~" for char in text)


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
    api_url: str  # the one API the access token is sent to

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


def make_dir(directory: Path) -> None:
    """The directory and every missing parent, each 0700 whatever the umask (mkdir(parents=True) makes the parents
    0777 less the umask: world-writable under umask 000). Existing parents are left as they are."""
    missing = []
    while not os.path.lexists(directory):
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        try:
            new.mkdir(mode=0o700)
        except FileExistsError:
            continue  # another process made it meanwhile; check_dir judges it
        os.chmod(new, 0o700)  # mkdir's mode is cut by the umask


def check_dir(directory: Path) -> None:
    """Refused when others may write the directory: they could replace the file with one that sends this account's
    consumer secret and tokens to their server."""
    if not POSIX:
        return
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return
    if info.st_uid != os.geteuid():
        raise BbvarsError(f"the stored login's directory {directory} belongs to another user (uid {info.st_uid}), "
                          f"who could replace its file: point XDG_CONFIG_HOME at a directory of your own, then "
                          "`bbvars login` again")
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise BbvarsError(f"the stored login's directory {directory} may be written by others (mode {mode:04o}), so "
                          f"its file cannot be trusted: run `chmod 700 {directory}`, then `bbvars login` again")


def check_file(path: Path, info: os.stat_result) -> None:
    """Refused when it is no regular file of this user's, or others may read (or write) it: its tokens may have been
    read already."""
    if POSIX and (not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid()):
        raise BbvarsError(f"the stored login {path} is not a file of this user's: remove it (`bbvars logout`), then "
                          "`bbvars login`")
    mode = stat.S_IMODE(info.st_mode)
    if POSIX and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BbvarsError(f"the stored login {path} may be read by others (mode {mode:04o}): run `chmod 600 {path}`, "
                          "and if others could have read it, `bbvars logout` then `bbvars login` for new tokens")


def load(path: Path) -> Login | None:
    """The stored login, or None when there is none; a damaged or unsafe file is a known failure that says how to
    recover."""
    try:
        # Never through a link, never waiting on a FIFO: what is opened is then checked as it is (fstat).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BbvarsError(f"cannot read the stored login {path}: {exc.strerror}; run `bbvars logout`, then "
                          "`bbvars login`") from None
    with open(fd, encoding="utf-8") as handle:
        check_dir(path.parent)
        check_file(path, os.fstat(handle.fileno()))
        try:
            text = handle.read()
        except (OSError, UnicodeDecodeError):
            text = ""  # judged damaged below
    login = parse(text, path)
    for name in ("token_url", "api_url"):
        try:
            check_url(getattr(login, name), f"its {name}")
        except InputError as exc:
            raise BbvarsError(f"the stored login {path} is refused: {exc}; run `bbvars logout`, then `bbvars "
                              "login`") from None
    return login


def parse(text: str, path: Path) -> Login:
    damaged = BbvarsError(f"the stored login {path} is damaged: run `bbvars logout`, then `bbvars login`")
    try:
        data = json.loads(text)
    except ValueError:
        raise damaged from None
    if not isinstance(data, dict):
        raise damaged
    if "api_url" not in data and data.get("token_url") == BITBUCKET_TOKEN_URL:
        data = {**data, "api_url": BITBUCKET_API_URL}  # stored before the API URL was recorded, for Bitbucket
    names = {f.name for f in fields(Login)}
    try:
        login = Login(**{name: data.get("api_url", "") if name == "api_url" else data[name] for name in names})
    except KeyError:
        raise damaged from None
    if not all(isinstance(getattr(login, n), str) for n in names - {"expires_at"}):
        raise damaged
    if login.expires_at is not None and (isinstance(login.expires_at, bool)
                                         or not isinstance(login.expires_at, (int, float))):
        raise damaged
    if not header_safe(login.access_token):
        raise damaged  # an HTTP header could not carry it
    if not login.api_url:
        raise BbvarsError(f"the stored login {path} does not say which API its token is for (an older bbvars "
                          "stored it): run `bbvars login` again")
    return login


def save(path: Path, login: Login) -> None:
    """Written to a new 0600 file in the same directory, flushed, then renamed over the old one."""
    make_dir(path.parent)
    check_dir(path.parent)
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
def locked(path: Path, wait: float) -> Iterator[None]:
    """Held while a refresh runs: two bbvars processes must not both spend the one refresh token (it rotates, so
    the second would be refused). Waited for at most `wait` seconds (the run's timeout): a holder stopped with Ctrl-Z
    must not stall every other run, and the holder writes its pid in the file so that the message can name it.
    filelock opens the file with O_NOFOLLOW: a symbolic link in its place is refused, never followed."""
    with warnings.catch_warnings():  # "only soft file lock is available" where there is no fcntl: not the user's news
        warnings.simplefilter("ignore")
        from filelock import FileLock, Timeout  # here: only a refresh needs it (and no fcntl at import time)

    make_dir(path.parent)
    check_dir(path.parent)
    lock_file = lock_path(path)
    symlink = BbvarsError(f"the stored login's lock {lock_file} is a symbolic link, which bbvars never follows: "
                          "delete it and re-run")
    if lock_file.is_symlink():
        raise symlink
    lock = FileLock(lock_file, timeout=wait, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        holder = read_holder(lock_file)
        stop = f"resume it (`fg`) or end it (`kill {holder}`)" if holder else "let it finish or end it"
        raise BbvarsError(f"another bbvars ({f'pid {holder}' if holder else 'a process that did not say its pid'}) "
                          f"holds the stored login's lock {lock_file} and did not let go within {wait:g} s (the "
                          f"timeout): if it is stopped (Ctrl-Z), {stop}, then re-run") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise symlink from None
        raise BbvarsError(f"cannot lock the stored login ({lock_file}: {exc.strerror}): check that directory") from None
    try:
        write_holder(lock_file, f"{os.getpid()}\n")
        yield
    finally:
        write_holder(lock_file, "")
        lock.release()


def write_holder(lock_file: Path, text: str) -> None:
    """The holder's pid in the lock file, for a waiter's message; best effort (Windows' byte-range lock refuses a
    second handle). Only an empty file or one of bbvars' own pids is written: where filelock falls back to a marker
    file of its own (a filesystem without flock), that marker already names the holder first."""
    with contextlib.suppress(OSError):
        fd = os.open(lock_file, os.O_RDWR | NOFOLLOW)
        try:
            if re.fullmatch(rb"\d*\n?", os.read(fd, 64)):
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
                os.write(fd, text.encode("ascii"))
        finally:
            os.close(fd)


def read_holder(lock_file: Path) -> int | None:
    try:
        fd = os.open(lock_file, os.O_RDONLY | NOFOLLOW)
    except OSError:
        return None
    try:
        first = os.read(fd, 64).decode("ascii", "replace").partition("\n")[0].strip()
    except OSError:
        return None
    finally:
        os.close(fd)
    return int(first) if first.isdigit() else None
