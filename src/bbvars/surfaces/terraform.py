"""`bbvars terraform`: the program of Terraform's `external` data source.

The protocol is enforced here, at one boundary (as hashicorp/terraform-provider-external does on its side):
standard input is one JSON object whose values are all strings (the data source's `query`); on success standard
output is one JSON object whose values are all strings, and nothing else; on failure standard output stays empty,
standard error gets one line and the exit code is non-zero (2 for bad input, 1 for everything else)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping

from bbvars.errors import BbvarsError, InputError
from bbvars.redaction import Redactor
from bbvars.request.secrets import register_given
from bbvars.request.settings import BY_NAME, SETTINGS, Setting, Settings, from_strings, validate
from bbvars.request.settings import voice as settings_voice

BY_QUERY_KEY: dict[str, Setting] = {s.query_key: s for s in SETTINGS if s.query_key}
CREDENTIALS = ("client_id", "client_secret", "access_token", "atlassian_account_email", "atlassian_api_token")
# The only ambient variables this surface reads; every other setting comes from the query.
FROM_ENVIRONMENT = (*CREDENTIALS, "api_url", "token_url", "fingerprint_key")
QUERY_SOURCE = "the query on standard input"

EPILOG = f"""\
Terraform runs this program; it is not meant to be run by hand. It reads the data source's `query` as one JSON object
of strings on standard input and answers one JSON object of strings on standard output.

query keys: {", ".join(sorted(BY_QUERY_KEY))}
credentials: ATLASSIAN_ACCOUNT_EMAIL and ATLASSIAN_API_TOKEN (an Atlassian API token), BITBUCKET_ACCESS_TOKEN, or
  BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET (an OAuth consumer) in Terraform's environment (recommended: the
  query is stored in the state), or the query keys of the same names; when the query names any of them, the
  environment's credentials are not used. With none, the stored login of `bbvars login`.

  data "external" "bbvars" {{
    program = ["bbvars", "terraform"]
    query = {{
      workspace  = "acme"
      repository = "api"
      variables  = jsonencode({{ API_URL = "https://api.example.com" }})
      dry_run    = "true" # data sources are read on every plan
    }}
  }}

answer (command sync): created, updated, unchanged, deleted, failed (comma-joined keys), changed, dry_run
answer (command token): access_token, token_type, expires_in, scopes
answer (command check): ok ("true"; a failing check fails the data source with its line), credential
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Nothing to add: the whole input is the query on standard input.
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG


render_notice = None  # standard error holds exactly one line: the cancellation is told by the error line


def render_error(message: str) -> None:
    """Exactly one line: Terraform shows standard error verbatim in its diagnostic."""
    print(f"bbvars: error: {' '.join(message.split())}", file=sys.stderr)


def labels_for(credentials_from_query: bool) -> Callable[[Setting], str]:
    """How messages name a setting: by the query key, or by the environment variable where it comes from."""

    def label(setting: Setting) -> str:
        if setting.name in CREDENTIALS and not credentials_from_query:
            return f"{setting.env} (or query key {setting.query_key})"
        if setting.query_key:
            return f"query key {setting.query_key}"
        return str(setting.env)

    return label


# How printed messages name a setting until the query is read (credentials from the environment), then as `run` says.
voice = settings_voice(labels_for(False))


def refuse_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise InputError(f"{QUERY_SOURCE} gives the key {key!r} twice")
        seen[key] = value
    return seen


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, (int, float)):
        return f"a number ({json.dumps(value)})"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def parse_query(text: str) -> dict[str, str]:
    """The query as the external data source sends it: one JSON object, string values, known keys only."""
    if not text.strip():
        raise InputError(f"{QUERY_SOURCE} is empty: Terraform's external data source sends its query as a JSON object")
    try:
        query = json.loads(text, object_pairs_hook=refuse_duplicates)
    except ValueError as exc:
        raise InputError(f"{QUERY_SOURCE} is not JSON ({exc}): expected one JSON object of strings") from None
    except RecursionError:
        raise InputError(f"{QUERY_SOURCE} is nested too deeply: expected one JSON object of strings") from None
    if not isinstance(query, dict):
        raise InputError(f"{QUERY_SOURCE} must be a JSON object of strings, but it is {kind_of(query)}")
    unknown = sorted(key for key in query if key not in BY_QUERY_KEY)
    if unknown:
        names = ", ".join(repr(key[:40]) for key in unknown)
        raise InputError(
            f"unknown query key{'s' if len(unknown) > 1 else ''} {names}: the accepted keys are "
            f"{', '.join(sorted(BY_QUERY_KEY))}"
        )
    for key, value in query.items():
        if not isinstance(value, str):
            # A secret's value is never shown, not even a number or boolean one.
            kind = kind_of(value).partition(" (")[0] if BY_QUERY_KEY[key].kind == "secret" else kind_of(value)
            raise InputError(
                f"query key {key} must be a string, but it is {kind}: the query is a map of strings "
                "(write \"true\", \"8\", or jsonencode(...) for structured values)"
            )
    return query


def settings_from(query: Mapping[str, str], environ: Mapping[str, str]) -> tuple[Settings, Callable[[Setting], str]]:
    """The query over the environment's credentials and URLs. Credentials come as a set, from one place: the query
    when it gives any of them (so a query's access token is never mixed with an environment's consumer)."""
    given = {BY_QUERY_KEY[key].name: value for key, value in query.items()}
    from_query = any(given.get(name, "").strip() for name in CREDENTIALS)
    raw = {name: environ.get(str(BY_NAME[name].env), "") for name in FROM_ENVIRONMENT}
    if from_query:
        raw.update({name: "" for name in CREDENTIALS})
    raw.update({name: value for name, value in given.items() if name not in CREDENTIALS or value.strip()})
    label = labels_for(from_query)
    return from_strings(raw, label), label


def read_stdin(stdin) -> str:
    from bbvars.request.documents import read_limited

    if stdin is None or stdin.isatty():
        raise InputError(
            "no query: `bbvars terraform` is the program of Terraform's external data source and reads the query as "
            "a JSON object on standard input (see `bbvars terraform --help`)"
        )
    return read_limited(stdin.buffer if hasattr(stdin, "buffer") else stdin, QUERY_SOURCE)


def joined(keys: list[str]) -> str:
    return ",".join(sorted(keys))


def sync_answer(settings: Settings, label: Callable[[Setting], str], redactor: Redactor,
                cancel=None) -> dict[str, str]:
    from bbvars.request.documents import variables_of
    from bbvars.request.run import for_target
    from bbvars.sync import budget, engine, report

    run = engine.run(for_target(settings, variables_of(settings, label), redactor), redactor, None, cancel=cancel)
    if not run.ok:
        raise budget.stop_or_failure(run, "; ".join(report.failure_lines(run)))
    if cancel is not None and cancel.is_set():
        # Everything was done before the signal was noticed; still a cancelled run, so no answer on stdout.
        raise BbvarsError(f"cancelled after the sync had finished: {report.counts(run)}")
    result = run.targets[0]
    return {
        "created": joined(result.created),
        "updated": joined(result.updated),
        "unchanged": joined(result.unchanged),
        "deleted": joined(result.deleted),
        "failed": "",
        "changed": "true" if result.changed else "false",
        "dry_run": "true" if result.dry_run else "false",
    }


def token_answer(settings: Settings, redactor: Redactor) -> dict[str, str]:
    from bbvars.request.run import request_of
    from bbvars.sync.engine import mint_token

    token = mint_token(request_of(settings, (), redactor), redactor, None)
    return {
        "access_token": token.access_token,
        "token_type": token.token_type or "",
        "expires_in": "" if token.expires_in is None else str(token.expires_in),
        "scopes": token.scopes or "",
    }


def check_answer(settings: Settings, redactor: Redactor) -> dict[str, str]:
    """A data source that only reads: `ok` and the credential kind, or the plan fails with the first failing check."""
    from bbvars.request.run import for_target
    from bbvars.sync.check import run_check

    result = run_check(for_target(settings, (), redactor), redactor, None)
    if not result.ok:
        raise BbvarsError(f"check failed: {result.first_failure()}")
    return {"ok": "true", "credential": result.credential}


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    query = parse_query(read_stdin(sys.stdin))
    settings, label = settings_from(query, os.environ)
    redactor.voice = settings_voice(label)  # the query decides where credentials come from, and so their names
    register_given(settings, redactor)
    validate(settings, label)
    cancel = getattr(args, "cancel", None)
    answers = {"token": lambda: token_answer(settings, redactor), "check": lambda: check_answer(settings, redactor)}
    answer = answers.get(settings.command, lambda: sync_answer(settings, label, redactor, cancel))()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in answer.items()), "the answer must be strings"
    # Written whole and last: stdout holds the answer or nothing.
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0
