"""Which files a run may read: one policy for every surface, parameterised by the host.

Every file bbvars reads as a document (a manifest, a manifest's source, `--file`, the action's variables_file) is a
regular file: a FIFO would hold the run forever, a device or a directory is no document, and a file under /proc or
/sys describes the running process (`/proc/self/environ` holds every secret of its environment). Each is refused
before anything is read. A file named by a manifest (and, in CI, by the step's settings) must also be inside the
host's tree: on the command line the working directory (or the directory of the manifest given), $BITBUCKET_CLONE_DIR
in a pipe, $GITHUB_WORKSPACE in the action; `..` beyond it, an absolute path elsewhere and a symbolic link out of it
are refused. A path a person types on the command line (`--file`, `--manifest`) is theirs to choose, but is still a
regular file or `-`."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass

from bbvars.errors import InputError
from bbvars.request.values import read_limited

STDIN = "-"
# Files that describe the running system, not documents: refused wherever they are mounted.
PSEUDO_ROOTS = ("/proc", "/sys")


@dataclass(frozen=True)
class Host:
    """Where the files a run is told to read (by a manifest, by CI settings) must be."""

    roots: tuple[str, ...]  # directories; none: anywhere (a library caller that checks for itself)
    name: str  # how messages name them: "the working directory", "the workspace", "the clone"

    def outside(self, path: str) -> str | None:
        """Why `path` may not be read here (the end of a message), or None. Resolved first: `..`, an absolute path
        and a symbolic link are judged by where they lead."""
        if not self.roots:
            return None
        real = os.path.realpath(path)
        roots = [os.path.realpath(root) for root in self.roots]
        if any(os.path.commonpath([root, real]) == root for root in roots):
            return None
        places = ", ".join(dict.fromkeys(roots))
        return f"is outside {self.name} ({places}): a file bbvars is told to read must be inside it"

    def check_inside(self, path: str, label: str) -> None:
        why = self.outside(path)
        if why is not None:
            raise InputError(f"{label} {why}")


ANYWHERE = Host((), "anywhere")


def cli_host(manifest: str | None = None) -> Host:
    """The working directory's tree and, for a manifest given by its path, the manifest's own directory's tree: the
    places the person running bbvars chose."""
    if manifest is None or manifest == STDIN:
        return Host((os.getcwd(),), "the working directory")
    return Host((os.getcwd(), os.path.dirname(os.path.abspath(manifest))),
                "the working directory and the manifest's directory")


def pipe_host(environ: Mapping[str, str]) -> Host:
    return Host((environ.get("BITBUCKET_CLONE_DIR") or os.getcwd(),), "the clone ($BITBUCKET_CLONE_DIR)")


def action_host(environ: Mapping[str, str]) -> Host:
    return Host((environ.get("GITHUB_WORKSPACE") or os.getcwd(),), "the workspace")


class Unreadable(Exception):
    """Why a file cannot be read as a document; each caller words the message around it."""

    def __init__(self, reason: str, missing: bool = False) -> None:
        super().__init__(reason)
        self.missing = missing


def kind_of(mode: int) -> str | None:
    """What a file is, when it is not a regular file."""
    kinds = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a device"),
             (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))
    return next((name for test, name in kinds if test(mode)), None if stat.S_ISREG(mode) else "not a regular file")


def _pseudo(path: str, info: os.stat_result) -> bool:
    real = os.path.realpath(path)
    if any(real == root or real.startswith(root + "/") for root in PSEUDO_ROOTS):
        return True
    try:
        system = os.stat("/").st_dev
    except OSError:
        return False
    for root in PSEUDO_ROOTS:  # the same file system mounted elsewhere (only when it is a file system of its own)
        try:
            device = os.stat(root).st_dev
        except OSError:
            continue
        if device != system and device == info.st_dev:
            return True
    return False


def _refuse(kind: str | None) -> None:
    if kind is not None:
        hint = (": to read a pipe, give - and pipe it to standard input" if kind in ("a FIFO (named pipe)", "a device")
                else "")
        raise Unreadable(f"it is {kind}, not a regular file{hint}")


def read_regular(path: str, source: str) -> str:
    """The text of the regular file at `path` (UTF-8, size-limited; `source` names it in those messages). Anything
    else raises Unreadable before a byte is read; opening never waits (O_NONBLOCK), so a FIFO swapped in after the
    check cannot hold the run either."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc), missing=isinstance(exc, FileNotFoundError)) from None
    _refuse(kind_of(info.st_mode))
    if _pseudo(path, info):
        raise Unreadable("it describes the running system (/proc, /sys), it is no document")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(exc.strerror or str(exc), missing=isinstance(exc, FileNotFoundError)) from None
    with os.fdopen(fd, "rb") as handle:
        opened = os.fstat(fd)
        _refuse(kind_of(opened.st_mode))
        if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise Unreadable("it changed while it was opened")
        try:
            return read_limited(handle, source)
        except OSError as exc:
            raise Unreadable(exc.strerror or str(exc)) from None
