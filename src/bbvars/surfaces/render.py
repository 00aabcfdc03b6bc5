"""Lines for people on a terminal: the plan summary (coloured), a progress line for long runs and one line per retry
wait, fed by the engine's and the client's events. Only the CLI uses it, and only when stderr is a terminal (colour
also when FORCE_COLOR asks); data on stdout is never touched."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import TextIO

from bbvars.events import Event, Planned, RetryWait, Written, retry_line
from bbvars.surfaces.console import printable

PROGRESS_AFTER = 5  # runs with more writes than this show a progress line
REPAINT_EVERY = 0.1  # seconds between progress repaints: a thousand writes must not mean a thousand repaints
CLEAR = "\r\x1b[K"
COLOURS = {"+": "32", "~": "33", "-": "31", "!": "31"}  # green, yellow, red


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def wants_colour(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """NO_COLOR (any value) turns colour off, FORCE_COLOR (any value but 0/false) on; else only on a terminal."""
    if environ.get("NO_COLOR"):
        return False
    force = environ.get("FORCE_COLOR")
    if force is not None and force.strip().lower() not in ("0", "false"):
        return True
    return is_terminal(stream) and environ.get("TERM") != "dumb"


def paint(line: str, code: str | None, colour: bool) -> str:
    return f"\x1b[{code}m{line}\x1b[0m" if colour and code else line


def summary_line(line: str, colour: bool) -> str:
    """One line of a plan (`+ KEY`, `- KEY`, ...): its keys and causes may come from the server, so it is printed only
    as printable text (a listed key holding ESC must not recolour or rewrite the terminal)."""
    line = printable(line)
    return paint(line, COLOURS.get(line[:1]) if line[1:2] == " " else None, colour)


class Progress:
    """Renders events on a terminal stream: a progress line rewritten in place, retry waits as whole lines."""

    def __init__(self, stream: TextIO, *, colour: bool, show_progress: bool = True):
        self.stream, self.colour, self.show_progress = stream, colour, show_progress
        self._lock = threading.Lock()
        self._total = self._done = self._failed = 0
        self._shown = False  # whether a progress line is on screen
        self._painted = 0.0

    def __call__(self, event: Event) -> None:
        with self._lock:
            if isinstance(event, Planned):
                self._total = event.writes if self.show_progress and event.writes > PROGRESS_AFTER else 0
                self._paint(force=True)
            elif isinstance(event, Written):
                self._done += 1
                self._failed += event.outcome == "failed"
                self._paint(force=self._done == self._total)
            elif isinstance(event, RetryWait):
                self._clear()
                self.stream.write(paint(retry_line(event), "33", self.colour) + "\n")
                self._paint(force=True)
            self.stream.flush()

    def _paint(self, force: bool) -> None:
        if not self._total:
            return
        now = time.monotonic()
        if not force and now - self._painted < REPAINT_EVERY:
            return
        self._painted = now
        failed = f", {self._failed} failed" if self._failed else ""
        self.stream.write(f"{CLEAR}{paint(f'writing {self._done}/{self._total}{failed}', '2', self.colour)}")
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.stream.write(CLEAR)
            self._shown = False

    def close(self) -> None:
        """Take the progress line away, so what is printed next starts on a clean line."""
        with self._lock:
            self._clear()
            self._total = 0
            self.stream.flush()

