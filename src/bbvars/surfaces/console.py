"""Whole lines, one at a time: request logs come from worker threads, and two half-lines must never merge (nor a
CI log show a line before one printed earlier, above all GitHub's ::add-mask::)."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

_lock = threading.Lock()


def write_line(line: str, stream: TextIO | None = None) -> None:
    stream = stream if stream is not None else sys.stdout  # looked up per call: tests and pipes replace it
    with _lock:
        stream.write(line + "\n")
        stream.flush()


def one_line(text: str) -> str:
    """Text that stays one line of a CI log: a line break in a name or message would let it forge the next line (a
    pipe's `✔`, a GitHub workflow command), so line breaks are shown as `\\r` and `\\n`."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def debug_to_stderr(line: str) -> None:
    write_line(f"bbvars: debug: {one_line(line)}", sys.stderr)
