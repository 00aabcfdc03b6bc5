"""`bbvars login`: the OAuth authorization-code flow in the browser; the tokens are stored for later commands."""

from __future__ import annotations

import argparse
import json
import os
import sys

from bbvars.errors import InputError
from bbvars.redaction import Redactor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bbvars.auth.login import DEFAULT_CALLBACK_URL, DEFAULT_WAIT

    parser.add_argument("--callback-url", default=DEFAULT_CALLBACK_URL,
                        help=f"the consumer's callback URL, loopback http only (default: {DEFAULT_CALLBACK_URL})")
    parser.add_argument("--no-browser", action="store_true", help="print the page to open instead of opening it")
    parser.add_argument("--timeout", type=float, default=DEFAULT_WAIT,
                        help=f"seconds to wait for the browser (default: {DEFAULT_WAIT:g})")
    parser.epilog = ("Needs the OAuth consumer in BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET, with its callback "
                     "URL set to --callback-url. Stores the tokens and the consumer in $XDG_CONFIG_HOME/bbvars/"
                     "credentials.json (else ~/.config/bbvars/), mode 0600, for BITBUCKET_API_URL only; later "
                     "commands with no credential in the environment use it.")


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.auth import store
    from bbvars.auth.login import Consumer, login, parse_callback_url, who_is
    from bbvars.bitbucket.client import BitbucketClient
    from bbvars.request.secrets import register_given
    from bbvars.request.settings import BY_NAME, check_url
    from bbvars.surfaces.cli.options import cli_label, from_cli
    from bbvars.surfaces.console import printable

    settings = from_cli(argparse.Namespace(), os.environ)
    register_given(settings, redactor)
    for name in ("client_id", "client_secret"):
        if not getattr(settings, name):
            raise InputError(f"login needs the OAuth consumer: set {cli_label(BY_NAME[name])} (the consumer's "
                             f"{'Key' if name == 'client_id' else 'Secret'})")
    check_url(settings.token_url, cli_label(BY_NAME["token_url"]))
    check_url(settings.api_url, cli_label(BY_NAME["api_url"]))
    if not 1 <= args.timeout <= 3600:
        raise InputError(f"--timeout must be between 1 and 3600 seconds, got {args.timeout:g}")
    callback = parse_callback_url(args.callback_url)
    path = store.credentials_path()
    client = BitbucketClient(settings.api_url, None, timeout=settings.timeout, redact=redactor)

    def request_token(*token_args):
        token = client.request_token(*token_args)
        redactor.add(token.access_token)
        redactor.add(token.refresh_token)
        return token

    def show(line: str) -> None:
        print(printable(redactor(line)), file=sys.stderr, flush=True)

    browser = None
    if not args.no_browser:
        import webbrowser

        browser = webbrowser.open
    with client:
        stored = login(Consumer(settings.client_id or "", settings.client_secret or "", settings.token_url),
                       callback, api_url=settings.api_url, request_token=request_token,
                       who=lambda token: who_is(client, token), show=show, open_browser=browser, wait=args.timeout,
                       path=path)
    show(f"✔ Logged in as {stored.user}, scopes: {stored.scopes or 'none'}; stored in {path} (mode 0600), for "
         f"{stored.api_url} only. Check that this is the account you meant: if not, run `bbvars logout` now. Commands "
         "with no credential in the environment use it (unset BITBUCKET_CLIENT_ID/SECRET to use it); `bbvars "
         "logout` deletes it.")
    print(json.dumps({"user": stored.user, "scopes": stored.scopes, "path": str(path)}))
    return 0
