"""`bbvars token`: mint a short-lived access token from the OAuth consumer, for other tools."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import replace

from bbvars.surfaces.console import debug_to_stderr
from bbvars.redaction import Redactor
from bbvars.surfaces.cli.options import add_arguments as add_setting_arguments
from bbvars.request.settings import validate
from bbvars.surfaces.cli.options import cli_label, from_cli


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_setting_arguments(parser, ("timeout", "debug"))
    parser.epilog = "Needs BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET in the environment."


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.sync.engine import mint_token

    settings = replace(from_cli(args, os.environ), command="token")
    validate(settings, cli_label)
    token = mint_token(settings, redactor, debug_to_stderr if settings.debug else None)
    print(json.dumps(token.as_json()))
    return 0
