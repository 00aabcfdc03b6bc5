"""render.py: colour rules, and the progress line's behaviour fed events by hand (the pty test shows it for real)."""

from __future__ import annotations

import io
import threading

import pytest

from bbvars.events import Planned, RetryWait, Written, retry_line
from bbvars.surfaces import render


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("environ, tty, expected", [
    ({}, True, True), ({}, False, False), ({"NO_COLOR": "1"}, True, False), ({"FORCE_COLOR": "1"}, False, True),
    ({"FORCE_COLOR": "0"}, False, False), ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
    ({"TERM": "dumb"}, True, False), ({"NO_COLOR": ""}, True, True),
])
def test_colour_only_on_a_terminal_honouring_no_color_and_force_color(environ, tty, expected):
    assert render.wants_colour(Terminal() if tty else io.StringIO(), environ) is expected


def test_short_runs_show_no_progress_line_but_retry_waits():
    out = Terminal()
    progress = render.Progress(out, colour=False)
    progress(Planned(render.PROGRESS_AFTER, ()))
    progress(RetryWait("429", 2.14, 2, 6))
    progress(Written("A", "created"))
    progress.close()
    assert out.getvalue() == "Bitbucket answered 429; waiting 2.1 s, attempt 2 of 6\n"


def test_a_long_run_repaints_in_place_and_ends_on_a_clean_line():
    out = Terminal()
    progress = render.Progress(out, colour=False)
    progress(Planned(render.PROGRESS_AFTER + 1, ()))
    threads = [threading.Thread(target=progress, args=(Written(f"K{i}", "failed" if i == 0 else "created"),))
               for i in range(render.PROGRESS_AFTER + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress.close()
    text = out.getvalue()
    assert text.startswith(f"{render.CLEAR}writing 0/6") and f"{render.CLEAR}writing 6/6, 1 failed" in text
    assert text.endswith(render.CLEAR) and "\n" not in text


def test_a_transport_error_retry_line():
    assert retry_line(RetryWait("ConnectError", 0.5, 3, 6)) == (
        "no answer from Bitbucket (ConnectError); waiting 0.5 s, attempt 3 of 6")


def test_a_plan_line_from_a_server_key_cannot_drive_the_terminal():
    line = "- EVIL\x1b]0;title\x07\x1b[2K\x9bA\x00"
    assert render.summary_line(line, colour=False) == "- EVIL\\x1b]0;title\\x07\\x1b[2K\\x9bA\\x00"
    assert render.summary_line(line, colour=True) == "\x1b[31m- EVIL\\x1b]0;title\\x07\\x1b[2K\\x9bA\\x00\x1b[0m"
