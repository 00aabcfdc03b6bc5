"""`bbvars list`: what a target holds, in one listing and no write; JSON, or dotenv that `sync --file` reads back."""

from __future__ import annotations

import argparse
import os
import sys

from bbvars.redaction import Redactor
from bbvars.request.secrets import register_given
from bbvars.request.settings import validate
from bbvars.surfaces.cli.options import add_arguments as add_setting_arguments
from bbvars.surfaces.cli.options import cli_label, from_cli
from bbvars.sync.report import json_text

OPTIONS = ("workspace", "repository", "environment", "format", "timeout", "debug")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_setting_arguments(parser, OPTIONS)
    parser.epilog = ("Secured variables are listed without a value (Bitbucket never returns one); in dotenv they are "
                     "comments naming the key. Credentials as for sync.")


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.auth import describe
    from bbvars.request import dotenv
    from bbvars.request.run import for_target
    from bbvars.surfaces.console import debug_to_stderr
    from bbvars.sync.listing import list_target

    settings = from_cli(args, os.environ)
    register_given(settings, redactor)
    validate(settings, cli_label)
    request = for_target(settings, (), redactor)
    target = request.target
    print(f"bbvars: {describe(request.credential)}", file=sys.stderr)  # the kind, never its value; before any request
    listed = list_target(request, redactor, debug_to_stderr if settings.debug else None)
    # Plain values are what the target shows anyone who can read it; a credential of this run inside one is still
    # masked (the redactor is the last line of defence on every output).
    rows = [(v.key, None if v.secured or v.value is None else redactor.mask(v.value), v.secured) for v in listed]
    if settings.format == "dotenv":
        secured = sum(secured for _, _, secured in rows)
        heading = (f"{target.describe()}: {len(rows)} variable(s)" + (f", {secured} secured" if secured else "")
                   + " (bbvars list)")
        sys.stdout.write(dotenv.render(rows, heading))
    else:
        items = [{"key": key, "secured": secured, **({} if value is None else {"value": value})}
                 for key, value, secured in rows]
        print(json_text(items))
    return 0
