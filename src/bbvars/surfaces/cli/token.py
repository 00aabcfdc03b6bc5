"""`bbvars token`: mint a short-lived access token from the OAuth consumer, for other tools."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace

from bbvars.redaction import Redactor
from bbvars.request.secrets import register_given
from bbvars.request.settings import validate
from bbvars.surfaces.cli.options import add_arguments as add_setting_arguments
from bbvars.surfaces.cli.options import cli_label, from_cli
from bbvars.surfaces.console import debug_to_stderr


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_setting_arguments(parser, ("timeout", "debug"))
    parser.epilog = "Needs BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET in the environment."


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.auth import describe
    from bbvars.request.run import request_of
    from bbvars.sync.engine import mint_token

    settings = replace(from_cli(args, os.environ), command="token")
    register_given(settings, redactor)
    validate(settings, cli_label)
    request = request_of(settings, (), redactor)  # for `token`: the OAuth consumer, whatever else is set
    print(f"bbvars: {describe(request.credential)}", file=sys.stderr)  # its kind, never its value
    token = mint_token(request, redactor, debug_to_stderr if settings.debug else None)
    print(json.dumps(token.as_json()))
    return 0
