"""`bbvars sync` on a real terminal (a pty): progress, retry lines, colour, and --prune's question. Off a terminal
none of it shows (FORCE_COLOR aside)."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys

from bbvars.emulator import Fault
from tests.support import api_writes, env_for, run_in_process, seed, stored

SYNC = [sys.executable, "-m", "bbvars", "sync", "-w", "acme", "-r", "api"]
SECRET = "terminal-Secret-9f8e"
COLOUR = re.compile(r"\x1b\[\d+m")


def on_terminal(args: list[str], env: dict[str, str], *, stdin_tty: bool = False, answer: bytes | None = None,
                document: str | None = None, timeout: float = 60,
                interrupt_on: bytes | None = None) -> tuple[int, str, str]:
    """Run with stderr (and, if asked, stdin) on a pty; (exit code, stdout, what the terminal showed). `answer` is
    typed once the terminal shows a question; SIGINT is sent once the terminal shows `interrupt_on`."""
    master, slave = os.openpty()
    proc = subprocess.Popen(args, stdin=slave if stdin_tty else subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=slave, env={**env, "TERM": "xterm"})
    os.close(slave)
    if not stdin_tty:
        proc.stdin.write((document or "").encode())
        proc.stdin.close()
    shown = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        assert ready, f"no output for {timeout} s; so far: {shown!r}"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the pty is gone
            break
        if not chunk:
            break
        shown += chunk
        if interrupt_on is not None and interrupt_on in shown:
            proc.send_signal(signal.SIGINT)
            interrupt_on = None
        if answer is not None and shown.rstrip().endswith(b"[y/N]"):
            os.write(master, answer)
            answer = None
    os.close(master)
    stdout = proc.stdout.read().decode()
    return proc.wait(timeout), stdout, shown.decode()


def test_a_long_run_shows_progress_and_each_retry_wait_but_no_value(emulator):
    emulator.inject(Fault(method="POST", path="variables", status=429, times=1))
    outputs = {f"K{i:02}": {"value": f"v{i}", "type": "string", "sensitive": False} for i in range(12)}
    document = json.dumps({**outputs, "PW": {"value": SECRET, "type": "string", "sensitive": True}})
    code, stdout, shown = on_terminal(SYNC, env_for(emulator), document=document)
    assert code == 0, shown
    assert len(json.loads(stdout)["created"]) == 13  # stdout is the report, untouched by the terminal's lines
    assert re.search(r"Bitbucket answered 429; waiting \d+\.\d s, attempt 2 of 6(\x1b\[0m)?\r?\n", shown), shown
    assert "writing 13/13" in shown and "\r\x1b[K" in shown
    assert "\x1b[32m+ K00\x1b[0m" in shown  # the summary in colour on a terminal
    assert SECRET not in shown + stdout and "v11" not in shown


def test_no_color_and_quiet_on_a_terminal(emulator):
    document = json.dumps({f"K{i:02}": "v" for i in range(12)})
    code, _, shown = on_terminal(SYNC, {**env_for(emulator), "NO_COLOR": "1"}, document=document)
    assert code == 0 and "writing 12/12" in shown and not COLOUR.search(shown), shown
    code, _, shown = on_terminal([*SYNC, "--quiet"], env_for(emulator), document=json.dumps({"A": "1"}))
    assert code == 0 and shown == ""


def test_off_a_terminal_no_progress_no_colour_unless_forced(emulator):
    document = json.dumps({f"K{i:02}": "v" for i in range(12)})
    emulator.inject(Fault(method="POST", path="variables", status=429, times=1))
    plain = run_in_process(SYNC[3:], env=env_for(emulator), input=document)
    assert plain.code == 0 and "\x1b" not in plain.stderr and "writing" not in plain.stderr
    assert "Bitbucket answered 429" not in plain.stderr  # no retry lines in a pipe's stderr either
    forced = run_in_process([*SYNC[3:], "--var", "EXTRA=1"], env={**env_for(emulator), "FORCE_COLOR": "1"},
                     input=None)
    assert forced.code == 0 and "\x1b[32m+ EXTRA\x1b[0m" in forced.stderr and "writing" not in forced.stderr


def test_prune_on_a_terminal_asks_before_any_delete(emulator, tmp_path):
    seed(emulator, {"KEEP": "k", "OLD_ONE": "o", "OLD_TWO": "o"})
    (tmp_path / "vars.env").write_text("KEEP=k\nNEW=n\n")
    args = [*SYNC, "--prune", "--file", str(tmp_path / "vars.env")]

    code, stdout, shown = on_terminal(args, env_for(emulator), stdin_tty=True, answer=b"n\n")
    assert code == 1
    assert "--prune would delete 2 variable(s)" in shown and "repository acme/api:" in shown
    assert "- OLD_ONE" in shown and "- OLD_TWO" in shown
    assert "not confirmed, so nothing was written" in shown
    assert json.loads(stdout)["failed"] == [{"key": "NEW", "error": "cancelled"}]
    assert api_writes(emulator) == [] and set(stored(emulator)) == {"KEEP", "OLD_ONE", "OLD_TWO"}

    code, stdout, shown = on_terminal(args, env_for(emulator), stdin_tty=True, answer=b"y\n")
    assert code == 0, shown
    assert json.loads(stdout)["deleted"] == ["OLD_ONE", "OLD_TWO"]
    assert set(stored(emulator)) == {"KEEP", "NEW"}


def test_prune_with_yes_or_without_a_terminal_does_not_ask(emulator, tmp_path):
    seed(emulator, {"OLD": "o"})
    (tmp_path / "vars.env").write_text("NEW=n\n")
    code, stdout, shown = on_terminal([*SYNC, "--prune", "--yes", "--file", str(tmp_path / "vars.env")],
                                      env_for(emulator), stdin_tty=True)
    assert code == 0 and "[y/N]" not in shown and json.loads(stdout)["deleted"] == ["OLD"]
    seed(emulator, {"OLD": "o"})
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--prune", "--file", str(tmp_path / "vars.env")],
                  env=env_for(emulator), input="")  # stdin not a terminal: CI, as before
    assert run.code == 0 and run.json["deleted"] == ["OLD"] and "[y/N]" not in run.stderr


def test_output_none_leaves_stdout_empty(emulator):
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--output", "none"], env=env_for(emulator))
    assert run.code == 0 and run.stdout == "" and "+ A" in run.stderr
    assert stored(emulator) == {"A": ("1", False)}


def test_a_long_plan_is_summarised_on_a_terminal_and_listed_whole_with_verbose_or_in_a_log(emulator):
    document = json.dumps({f"K{i:04}": "v" for i in range(60)})
    code, stdout, shown = on_terminal(SYNC, {**env_for(emulator), "NO_COLOR": "1"}, document=document)
    assert code == 0 and len(json.loads(stdout)["created"]) == 60  # the JSON report names every key
    assert "+ K0019" in shown and "+ K0020" not in shown, shown
    assert "… and 40 more (--verbose lists them all)" in shown
    emulator_keys = [f"K{i:04}" for i in range(60, 120)]
    code, _, shown = on_terminal([*SYNC, "--verbose"], {**env_for(emulator), "NO_COLOR": "1"},
                                 document=json.dumps(dict.fromkeys(emulator_keys, "v")))
    assert code == 0 and "+ K0119" in shown and "more (--verbose" not in shown
    logged = run_in_process([*SYNC[3:], "--dry-run"], env=env_for(emulator), input=json.dumps({f"N{i:04}": "v"
                                                                                       for i in range(30)}))
    assert logged.code == 0 and "+ N0029" in logged.stderr and "more (--verbose" not in logged.stderr


def test_a_signal_notice_starts_its_own_line_under_the_progress_line(emulator):
    emulator.latency = 0.05
    document = json.dumps({f"K{i:03}": "v" for i in range(80)})
    code, stdout, shown = on_terminal([*SYNC, "--concurrency", "1"], {**env_for(emulator), "NO_COLOR": "1"},
                                      document=document, interrupt_on=b"writing 2")
    assert code == 130, shown
    assert re.search(r"(^|\n|\r\x1b\[K)bbvars: SIGINT received: the writes in flight finish", shown), shown
    assert not re.search(r"writing \d+/\d+bbvars:", shown), shown
    assert json.loads(stdout)["failed"]  # the report follows: what was not written is named


def test_each_target_of_a_manifest_is_summarised_on_its_own():
    from bbvars.surfaces.cli.sync import summarised

    lines = ["web (repository acme/web): 25 created", *(f"  + W{i:02}" for i in range(25)), "  ! X failed: boom",
             "api (repository acme/api): 2 created", "  + A", "  + B", "2 targets: 27 created"]
    short = summarised(lines, True)
    assert short[:21] == lines[:21] and short[21:] == [
        "  … and 5 more (--verbose lists them all)", "  ! X failed: boom", "api (repository acme/api): 2 created",
        "  + A", "  + B", "2 targets: 27 created"]
    assert summarised(lines, False) == lines
