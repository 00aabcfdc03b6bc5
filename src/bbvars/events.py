"""What the engine and the client tell a surface while they work: plain values, printed by nobody here. A surface
that wants progress passes one callable (`events`) and renders what it gets (render.py on a terminal)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Planned:
    """The plan is known: this many writes follow (deletes among them)."""

    writes: int
    deletes: tuple[str, ...]


@dataclass(frozen=True)
class Written:
    """One write finished, whatever its outcome (created, updated, deleted, unchanged, failed)."""

    key: str
    outcome: str


@dataclass(frozen=True)
class RetryWait:
    """A request is retried after `wait` seconds; `attempt` is the one about to be made."""

    cause: str  # "429", "503", or the transport error's name ("ConnectError")
    wait: float
    attempt: int
    attempts: int


Event = Planned | Written | RetryWait
Events = Callable[[Event], None]


def retry_line(event: RetryWait) -> str:
    """One short line for a retry wait; it names no request, so it can carry no value."""
    cause = (f"Bitbucket answered {event.cause}" if event.cause.isdigit()
             else f"no answer from Bitbucket ({event.cause})")
    return f"{cause}; waiting {event.wait:.1f} s, attempt {event.attempt} of {event.attempts}"
