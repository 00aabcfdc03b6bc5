"""Known failures. Every one becomes a single line in exactly one place (main.entry).

A message names a setting by a marker, `setting("client_id")`, never by one surface's spelling: the surface that
prints it says it in its own words (`--timeout`, `TIMEOUT`, `input timeout`, `query key timeout`) through `speak`,
which its Redactor applies to every text that leaves the process. A marker holds a random part made anew in each
process, so text from elsewhere (an environment's name, a path, a server's words) can never pass for one."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable

NONCE = secrets.token_hex(6)  # this process's: no input or answer can guess it
MARKER = re.compile(r"\{setting-" + NONCE + r":([a-z_]+)\}")


def setting(name: str) -> str:
    """The marker of a setting (a field of Settings) in a message, spelled by each surface as it prints it."""
    return "{setting-" + NONCE + ":" + name + "}"


def speak(text: str, voice: Callable[[str], str] | None = None) -> str:
    """`text` with every setting marker in a surface's words (`voice`: setting name -> how the surface names it);
    without a voice, the setting's own name: a marker never leaves as such."""

    def say(found: re.Match[str]) -> str:
        if voice is None:
            return found[1]
        try:
            return voice(found[1])
        except KeyError:  # a marker of no setting: a defect of bbvars', told as the name rather than a traceback
            return found[1]

    return MARKER.sub(say, text)


class BbvarsError(Exception):
    """A known failure: the message names the cause and the fix."""

    exit_code = 1

    @property
    def settings(self) -> tuple[str, ...]:
        """The settings the message names (by marker), in order, each once."""
        return tuple(dict.fromkeys(MARKER.findall(str(self))))


class InputError(BbvarsError):
    """Bad input or usage, found before any request is sent."""

    exit_code = 2


class ApiError(BbvarsError):
    """Bitbucket answered with an error, or could not be reached."""

    def __init__(self, message: str, status: int | None = None, *, fatal: bool = False):
        super().__init__(message)
        self.status = status
        # fatal: no further request can succeed (bad credentials, missing scope, rate limit, unreachable)
        self.fatal = fatal


class ConflictError(ApiError):
    """409: a variable with that key already exists."""


class NotFoundError(ApiError):
    """404: the workspace, repository, environment or variable does not exist."""


CANCELLED = "cancelled"  # the error of every key a SIGINT/SIGTERM left unattempted


class Cancelled(ApiError):
    """A request not sent because the run was cancelled (SIGINT/SIGTERM)."""

    def __init__(self) -> None:
        super().__init__(CANCELLED)
