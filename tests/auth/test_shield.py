"""The held block, in-process: on the main thread it holds SIGINT and SIGTERM itself; on another thread (a writer
renewing a token) a surface's handler asks `deferred`, and the signal it puts off is raised again when the block
ends."""

from __future__ import annotations

import signal
import threading
import time

from bbvars.auth.shield import deferred, signals_held


def test_a_signal_put_off_during_a_block_on_another_thread_is_raised_again_when_it_ends():
    got: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: got.append(number))
    inside, release = threading.Event(), threading.Event()

    def writer() -> None:
        with signals_held():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=writer)
    try:
        assert deferred(signal.SIGINT) is False  # no block: the handler acts now
        thread.start()
        assert inside.wait(5)
        assert deferred(signal.SIGINT) is True and got == []
        release.set()
        thread.join(5)
        ends = time.monotonic() + 5
        while not got and time.monotonic() < ends:
            time.sleep(0.01)  # the handler runs on this (the main) thread at its next instruction
        assert got == [signal.SIGINT]
        assert deferred(signal.SIGINT) is False
    finally:
        release.set()
        signal.signal(signal.SIGINT, previous)


def test_on_the_main_thread_a_signal_inside_the_block_takes_effect_when_it_ends():
    got: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda number, frame: got.append(number))
    try:
        with signals_held():
            signal.raise_signal(signal.SIGTERM)
            assert got == []
        assert got == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
