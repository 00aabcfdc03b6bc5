"""`bbvars sync`: the command line surface of the engine."""

from __future__ import annotations

import argparse
import io
import os
import select
import stat
import sys

from bbvars.console import debug_to_stderr, one_line
from bbvars.errors import CANCELLED, InputError
from bbvars.redaction import Redactor
from bbvars.settings import Settings, cli_label, from_cli, validate
from bbvars.settings import add_arguments as add_setting_arguments

OPTIONS = ("workspace", "repository", "environment", "files", "pairs", "secured", "prefix", "upper", "dry_run",
           "prune", "concurrency", "timeout", "debug", "quiet", "allow_empty")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_setting_arguments(parser, OPTIONS)
    parser.epilog = ("Credentials come from the environment only: BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET "
                     "(an OAuth consumer), or BITBUCKET_ACCESS_TOKEN.")


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
    from bbvars.documents import read_limited, shown

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
        try:
            with open(path, "rb") as handle:
                documents.append((f"file {shown(path, 200)}", read_limited(handle, f"file {shown(path, 200)}")))
        except OSError as exc:
            raise InputError(f"cannot read --file {shown(path, 200)}: {exc.strerror}") from None
    return documents


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars import report
    from bbvars.documents import check_variables, collect
    from bbvars.engine import run_sync

    settings = from_cli(args, os.environ)
    redactor.add_basic(settings.client_id, settings.client_secret)
    redactor.add(settings.access_token)
    validate(settings, cli_label)
    documents = read_documents(settings)
    variables = collect(documents, settings.pairs, prefix=settings.prefix, upper=settings.upper,
                        secured=settings.secured)
    check_variables(variables, settings, cli_label)
    result = run_sync(settings, variables, redactor, debug_to_stderr if settings.debug else None,
                      cancel=getattr(args, "cancel", None))
    print(report.to_json(result))
    if not settings.quiet:
        for line in report.summary(result):
            print(one_line(redactor(line)), file=sys.stderr)
    if not result.ok:  # always, --quiet or not: exit 1 comes with its cause
        # A cause shared by every failure is told alone; a cancellation also says what was done before it.
        one_cause = (result.error and result.error != CANCELLED
                     and all(result.cause(f) == result.error for f in result.failed))
        print(f"bbvars: error: {one_line(redactor(result.error if one_cause else report.failure_line(result)))}",
              file=sys.stderr)
    return 0 if result.ok else 1
