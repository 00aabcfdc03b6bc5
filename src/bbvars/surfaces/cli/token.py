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
    from bbvars.sync.engine import mint_token

    settings = replace(from_cli(args, os.environ), command="token")
    register_given(settings, redactor)
    validate(settings, cli_label)
    # The consumer, whatever else is set (as mint_token uses it); its kind, never its value.
    consumer = replace(settings, access_token=None, atlassian_api_token=None, atlassian_account_email=None)
    print(f"bbvars: {describe(consumer)}", file=sys.stderr)
    token = mint_token(settings, redactor, debug_to_stderr if settings.debug else None)
    print(json.dumps(token.as_json()))
    return 0
