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


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# C0, DEL and C1 control characters (ESC and CSI start terminal sequences; NUL, CR and LF can hide or forge a line) and
# the Unicode line and paragraph separators (some viewers start a new line at them).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _escape(match: re.Match) -> str:
    char = match.group()
    return _NAMED.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def printable(text: str) -> str:
    """Text from elsewhere (a server's key, name or message) made safe to print as one line of a terminal or CI log:
    every control character shown as an escape (`\\n`, `\\x1b`, `\\u2028`), so it can neither start a line of its
    own choosing (a pipe's `✔`, a GitHub workflow command) nor move the cursor, recolour or retitle a terminal.
    Everything else, backslashes included, is printed as it is."""
    return _UNPRINTABLE.sub(_escape, text)


one_line = printable  # the name most callers know it by: a CI log line must stay one line


def debug_to_stderr(line: str) -> None:
    write_line(f"bbvars: debug: {one_line(line)}", sys.stderr)
