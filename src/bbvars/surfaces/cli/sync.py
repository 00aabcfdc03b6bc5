"""`bbvars sync`: the command line surface of the engine."""

from __future__ import annotations

import argparse
import io
import os
import select
import signal
import stat
import sys
import threading

from bbvars.errors import InputError
from bbvars.redaction import Redactor
from bbvars.request.secrets import register_given
from bbvars.request.settings import Settings, exit_code, validate
from bbvars.surfaces.cli.options import add_arguments as add_setting_arguments
from bbvars.surfaces.cli.options import cli_label, from_cli
from bbvars.surfaces.console import debug_to_stderr, one_line
from bbvars.surfaces.render import Progress, is_terminal, paint, summary_line, wants_colour

CREDENTIALS_EPILOG = (
    "Credentials come from the environment only, the first of: ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN (an "
    "Atlassian API token), BITBUCKET_ACCESS_TOKEN (an access token), BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET "
    "(an OAuth consumer); with none of them, the stored login of `bbvars login`.")
OPTIONS = ("workspace", "repository", "environment", "files", "pairs", "secured", "prefix", "upper", "dry_run",
           "prune", "yes", "concurrency", "timeout", "debug", "quiet", "output", "allow_empty", "manifest", "targets",
           "fingerprint", "exit_code", "max_deletes", "protect", "max_requests")
CONFIRM_LISTED = 20  # deletions named in the question; the rest are counted
SUMMARY_KEYS = 20  # on a terminal, each target's changes listed before "… and N more" (--verbose lists all)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_setting_arguments(parser, OPTIONS)
    parser.add_argument("--verbose", action="store_true",
                        help=f"on a terminal, list every change (else each target's first {SUMMARY_KEYS}, then a "
                             "count)")
    parser.epilog = (CREDENTIALS_EPILOG + " The fingerprint key comes from BBVARS_FINGERPRINT_KEY. Exit codes: 0 "
                     "done, 1 failed, 2 bad input, 3 (only with --exit-code) something changed, 4 stopped at "
                     "--max-requests or a lasting rate limit (a re-run continues).")


# How long a pipe on standard input may stay silent before it counts as empty: `terraform output -json | bbvars ...`
# may take a moment to write; a CI runner's stdin that is open but never written must not hold the run forever.
STDIN_GRACE = 2.0


def stdin_holds_data(stdin) -> bool:
    """Whether standard input holds data that --var/--file would leave unread. A terminal, /dev/null, a closed or
    empty stdin (what CI gives) do not; a pipe silent for STDIN_GRACE seconds does not either."""
    if stdin is None or stdin.isatty():
        return False
    try:
        fd = stdin.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # not a file (an in-process stream)
        return bool((stdin.buffer if hasattr(stdin, "buffer") else stdin).read(1))
    try:
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            return info.st_size > os.lseek(fd, 0, os.SEEK_CUR)
        if stat.S_ISCHR(info.st_mode) or stat.S_ISDIR(info.st_mode):
            return False  # /dev/null and the like
        readable, _, _ = select.select([fd], [], [], STDIN_GRACE)
        return bool(readable) and bool(os.read(fd, 1))  # read only to refuse: nothing is lost
    except OSError:
        return False  # a closed descriptor


def read_documents(settings: Settings, stdin=None) -> list[tuple[str, str]]:
    from bbvars.request.documents import read_limited, shown
    from bbvars.request.sources import Unreadable, read_regular

    stdin = stdin if stdin is not None else sys.stdin
    if (settings.files or settings.pairs) and "-" not in settings.files and stdin_holds_data(stdin):
        raise InputError("standard input holds data, but --var/--file are given, so it would be ignored: add "
                         "`--file -` to read it as well, or stop piping into bbvars")
    if not settings.files and not settings.pairs:
        if stdin is None or stdin.isatty():
            raise InputError("no variables given: pipe a document to standard input, or use --file or --var")
        return [("standard input", read_limited(stdin.buffer if hasattr(stdin, "buffer") else stdin,
                                                "standard input"))]
    documents = []
    for path in settings.files:
        if path == "-":
            documents.append(("standard input", read_limited(stdin.buffer if hasattr(stdin, "buffer") else stdin,
                                                             "standard input")))
            continue
        try:  # a path typed here is the person's choice, but still a regular file (sources.py)
            documents.append((f"file {shown(path, 200)}", read_regular(path, f"file {shown(path, 200)}")))
        except Unreadable as exc:
            raise InputError(f"cannot read --file {shown(path, 200)}: {exc}") from None
    return documents


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """One sync, of the target the flags name or of a manifest's targets (or the --target ones): one engine call,
    one JSON report, one summary."""
    from bbvars.auth import describe
    from bbvars.request.run import request_of
    from bbvars.sync import budget, engine, report

    settings = from_cli(args, os.environ)
    register_given(settings, redactor)
    validate(settings, cli_label)
    jobs = jobs_of(settings)
    terminal = is_terminal(sys.stderr)
    colour = wants_colour(sys.stderr, os.environ)
    # Progress and retry lines only for a person at a terminal; --debug already logs every request and retry.
    progress = Progress(sys.stderr, colour=colour) if terminal and not settings.quiet and not settings.debug else None
    confirm = None
    if any(job.policy.prune for job in jobs) and not settings.yes and not settings.dry_run and is_terminal(sys.stdin):
        confirm = lambda deletes: ask_to_delete(deletes, progress)  # noqa: E731
    try:
        request = request_of(settings, jobs, redactor)
        result = engine.run(request, redactor, debug_to_stderr if settings.debug else None, events=progress,
                            confirm=confirm, cancel=getattr(args, "cancel", None))
    finally:
        if progress is not None:
            progress.close()
    if settings.output == "json":
        print(report.to_json(result))
    if not settings.quiet:
        if not result.manifest:
            print(f"bbvars: {describe(request.credential)}", file=sys.stderr)  # the kind, never its value
        for line in summarised(report.summary(result), terminal and not getattr(args, "verbose", False)):
            indent = len(line) - len(line.lstrip(" "))  # a target's change lines, under its heading
            print(line[:indent] + summary_line(redactor(line[indent:]), colour), file=sys.stderr)
    for line in report.failure_lines(result):  # always, --quiet or not: exit 1 comes with its cause
        print(paint(f"bbvars: error: {one_line(redactor(line))}", "31", colour), file=sys.stderr)
    return exit_code(settings, result.ok, result.changed, budget.stopped(result))


def jobs_of(settings: Settings) -> list:
    """The run's jobs: one from the documents and --var flags, or one per target of the manifest."""
    from bbvars.request import manifest
    from bbvars.request.documents import check_variables, collect
    from bbvars.request.run import job_of
    from bbvars.request.sources import cli_host

    if settings.manifest is not None:
        return manifest.jobs(settings, sys.stdin, cli_host(settings.manifest), label=cli_label)
    variables = collect(read_documents(settings), settings.pairs, prefix=settings.prefix, upper=settings.upper,
                        secured=settings.secured)
    check_variables(variables, settings, cli_label)
    return [job_of(settings, variables)]


def summarised(lines: list[str], short: bool) -> list[str]:
    """On a terminal, a long plan is each target's first SUMMARY_KEYS changes, then how many more (a person cannot
    read 2,000 keys; a log gets them all, and the JSON report always names every key)."""
    if not short:
        return lines
    kept: list[str] = []
    listed = hidden = 0
    indent = ""

    def more() -> None:
        if hidden:
            kept.append(f"{indent}… and {hidden:,} more (--verbose lists them all)")

    for line in lines:
        body = line.lstrip(" ")
        if body[:2] in ("+ ", "~ ", "- "):
            indent = line[: len(line) - len(body)]
            listed += 1
            if listed <= SUMMARY_KEYS:
                kept.append(line)
            else:
                hidden += 1
            continue
        more()  # before a failure line or the next target's heading
        hidden = 0
        if not body.startswith("! "):  # a target's heading: its changes are counted afresh
            listed = 0
        kept.append(line)
    more()
    return kept


def render_notice(message: str) -> None:
    """The signal notice, from the notice thread: on a terminal the progress line is cleared first, so the notice
    starts its own line (not `writing 400/2000bbvars: SIGINT received`); the progress repaints below it."""
    from bbvars.surfaces.console import write_line
    from bbvars.surfaces.render import CLEAR

    write_line(f"{CLEAR if is_terminal(sys.stderr) else ''}bbvars: {message}", sys.stderr)


def ask_to_delete(deletes: list, progress: Progress | None) -> bool:
    """On a terminal, --prune asks before any delete is sent, naming what would go; anything but y/yes is no."""
    if progress is not None:
        progress.close()
    lines = [f"--prune would delete {len(deletes)} variable(s) that the input does not have:"]
    for target in dict.fromkeys(target for target, _ in deletes):
        keys = sorted(key for where, key in deletes if where == target)
        lines.append(f"  {target.describe()}:")
        lines += [f"- {one_line(key)}" for key in keys[:CONFIRM_LISTED]]
        lines += [f"  ... and {len(keys) - CONFIRM_LISTED} more"] if len(keys) > CONFIRM_LISTED else []
    sys.stderr.write("\n".join(lines) + "\nDelete them? [y/N] ")
    sys.stderr.flush()
    # Nothing is written yet: Ctrl-C at the question stops at once (not "finish the writes in flight").
    interrupt_now = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler) if interrupt_now else None
    try:
        return sys.stdin.readline().strip().lower() in ("y", "yes")
    finally:
        if interrupt_now:
            signal.signal(signal.SIGINT, previous)
