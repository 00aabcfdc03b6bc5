"""A block that SIGINT and SIGTERM do not cut short: a stored login's refresh with its save, and a login's code
exchange with its save. Bitbucket rotates the refresh token on every use, so a run stopped between the answer and
the save loses the login for good."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Blocks running on threads other than the main one, and the signals a surface's handler put off until they end.
# Re-entrant: the main thread's handler takes it, and a second signal may interrupt that handler.
_lock = threading.RLock()
_elsewhere = 0
_deferred: list[int] = []


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Signals that arrive inside the block take effect when it ends, in the order they came (the block is bounded:
    one token request within the run's timeout, and a file write). Handlers can only be changed on the main thread;
    a block on another thread (an engine's writer renewing a token) runs under the surface's own handlers, which
    only set a flag, and whose one way to stop at once (a second Ctrl-C) asks `deferred` first."""
    if threading.current_thread() is not threading.main_thread():
        with _held_elsewhere():
            yield
        return
    caught: list[int] = []
    previous: dict[signal.Signals, object] = {}
    for signum in SIGNALS:
        previous[signum] = signal.signal(signum, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        for held, handler in previous.items():
            # None: a handler not set from Python, which cannot be put back; the default is the closest.
            signal.signal(held, handler if handler is not None else signal.SIG_DFL)  # type: ignore[arg-type]
        for number in caught:
            signal.raise_signal(number)


@contextlib.contextmanager
def _held_elsewhere() -> Iterator[None]:
    global _elsewhere
    with _lock:
        _elsewhere += 1
    try:
        yield
    finally:
        with _lock:
            _elsewhere -= 1
            caught = list(_deferred) if _elsewhere == 0 else []
            if caught:
                _deferred.clear()
        for number in caught:
            # Raised again for the main thread's handler (Python runs handlers there whichever thread raises).
            signal.raise_signal(number)


def deferred(signum: int) -> bool:
    """For a surface's handler about to stop the process at once (its threads die with it): while a held block runs
    on another thread, the signal is noted, raised again once the last such block ends, and True says the handler
    is to do nothing now."""
    with _lock:
        if _elsewhere:
            _deferred.append(signum)
            return True
    return False
