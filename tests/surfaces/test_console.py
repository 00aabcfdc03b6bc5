"""Lines from worker threads never merge: each is one write, under one lock."""

from __future__ import annotations

import threading

from bbvars.surfaces.console import write_line


class Recorder:
    def __init__(self):
        self.writes: list[str] = []
        self.inside = 0
        self.overlapped = False

    def write(self, text: str) -> None:
        self.inside += 1
        self.overlapped |= self.inside > 1
        self.writes.append(text)
        threading.Event().wait(0.0001)  # give another thread the chance to interleave, were there no lock
        self.inside -= 1

    def flush(self) -> None:
        pass


def test_lines_from_many_threads_stay_whole():
    stream = Recorder()
    threads = [threading.Thread(target=lambda n=n: [write_line(f"thread {n} line {i}", stream) for i in range(50)])
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not stream.overlapped
    assert len(stream.writes) == 400
    assert all(text.endswith("\n") and text.count("\n") == 1 for text in stream.writes)


def test_one_line_shows_line_breaks_instead_of_starting_a_line():
    from bbvars.surfaces.console import one_line

    assert one_line("a\nb\r\nc") == "a\\nb\\r\\nc"
    assert one_line("plain") == "plain"


def test_printable_escapes_every_control_character_and_the_line_separators():
    from bbvars.surfaces.console import one_line, printable

    text = "a\x1b[2J\x00\x07\t\x7f\x85\x9b31m\u2028\u2029\r\nz"
    assert printable(text) == "a\\x1b[2J\\x00\\x07\\t\\x7f\\x85\\x9b31m\\u2028\\u2029\\r\\nz"
    assert printable("ünï ☃ C:\\path é") == "ünï ☃ C:\\path é"  # backslashes too: as they are
    assert one_line is printable

