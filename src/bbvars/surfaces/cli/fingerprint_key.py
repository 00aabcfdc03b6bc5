"""`bbvars fingerprint-key`: print a new random key for BBVARS_FINGERPRINT_KEY (256 bits, base64url). Nothing is
sent or stored: the key is only printed, to be kept as a secured variable (a secret) of the CI."""

from __future__ import annotations

import argparse
import sys

from bbvars.redaction import Redactor


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Prints a new key on stdout, nothing else; nothing is sent or stored. Keep it as a secured "
                     "variable (a secret) of the CI named BBVARS_FINGERPRINT_KEY, never in the repository. Without "
                     'bbvars: python3 -c "import secrets; print(secrets.token_urlsafe(32))".')


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.sync.fingerprints import new_key

    print(new_key())
    if sys.stderr.isatty():
        print("bbvars: store it as the secured variable BBVARS_FINGERPRINT_KEY of the CI (needed by --fingerprint)",
              file=sys.stderr)
    return 0
