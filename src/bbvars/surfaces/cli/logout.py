"""`bbvars logout`: delete the login `bbvars login` stored."""

from __future__ import annotations

import argparse
import json
import sys

from bbvars.redaction import Redactor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Deletes $XDG_CONFIG_HOME/bbvars/credentials.json (else ~/.config/bbvars/); nothing is sent."


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.auth import store

    path = store.credentials_path()
    removed = store.delete(path)
    print(f"✔ Logged out: deleted {path}" if removed else f"Not logged in: there is no {path}", file=sys.stderr)
    print(json.dumps({"logged_out": removed, "path": str(path)}))
    return 0
