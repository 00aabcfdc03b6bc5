"""A block that SIGINT and SIGTERM do not cut short: a stored login's refresh with its save, and a login's code
exchange with its save. Bitbucket rotates the refresh token on every use, so a run stopped between the answer and
the save loses the login for good."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Signals that arrive inside the block take effect when it ends, in the order they came (the block is bounded:
    one token request within the run's timeout, and a file write). Handlers can only be changed on the main thread;
    a block on another thread runs under the surface's own handlers, which for every command that starts worker
    threads only set a flag (and Python waits for those threads before it exits)."""
    if threading.current_thread() is not threading.main_thread():
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
