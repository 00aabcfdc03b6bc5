"""Known failures. Every one becomes a single line in exactly one place (main.entry)."""

from __future__ import annotations


class BbvarsError(Exception):
    """A known failure: the message names the cause and the fix."""

    exit_code = 1


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
