"""`bbvars check`: the credentials and the target of a sync, verified without writing anything."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from bbvars.redaction import Redactor
from bbvars.request.secrets import register_given
from bbvars.request.settings import validate
from bbvars.surfaces.cli.options import add_arguments as add_setting_arguments
from bbvars.surfaces.cli.options import cli_label, from_cli
from bbvars.surfaces.console import debug_to_stderr

OPTIONS = ("workspace", "repository", "environment", "timeout", "debug", "quiet")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bbvars.surfaces.cli.sync import CREDENTIALS_EPILOG

    add_setting_arguments(parser, OPTIONS)
    parser.epilog = (CREDENTIALS_EPILOG + " Sends no write and at most 5 requests; stdout is one JSON document, "
                     "stderr a checklist; exit 0 when every check holds, 1 otherwise.")


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.request.run import for_target
    from bbvars.surfaces.console import one_line
    from bbvars.sync.check import run_check
    from bbvars.sync.report import json_text

    settings = replace(from_cli(args, os.environ), command="check")
    register_given(settings, redactor)
    validate(settings, cli_label)
    result = run_check(for_target(settings, (), redactor), redactor, debug_to_stderr if settings.debug else None)
    print(json_text(result.as_json()))  # a server's names stay data: no raw C1 or line separator
    if not settings.quiet:
        for line in result.checklist():
            print(one_line(redactor(line)), file=sys.stderr)  # names from the server stay on their line
    return 0 if result.ok else 1
