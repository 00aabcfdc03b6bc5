"""Whole lines, one at a time: request logs come from worker threads, and two half-lines must never merge (nor a
CI log show a line before one printed earlier, above all GitHub's ::add-mask::)."""

from __future__ import annotations

import re
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


# C0 controls (line breaks and ESC among them), DEL, C1 controls, and the Unicode line and paragraph separators.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """A server's text made safe to print: every control character is shown as an escape (`\\n`, `\\x1b`,
    `\\u2028`), so a server can neither start a line of its own in a CI log nor move, recolour or retitle the
    terminal."""
    return CONTROL.sub(lambda m: NAMED.get(m.group(), f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                           else f"\\u{ord(m.group()):04x}"), text)
