"""`bbvars pipe`: the Bitbucket Pipe surface (also the Docker image's default command).

Settings come from the pipe variables, each named by its setting's `env` in the SETTINGS table, with Bitbucket's own
variable (`env_fallback`) when one is unset. Output follows Atlassian's pipes: `INFO:` progress lines, the change
list, then `✔ message` on success or `✖ message` on failure, all on stdout."""

from __future__ import annotations

import argparse
import os

from bbvars.commands._ci import failure, outcome, raw_settings, read_settings, retry_lines, say, understood
from bbvars.errors import BbvarsError, InputError
from bbvars.redaction import Redactor
from bbvars.settings import Setting

RESULT_FILE = "result.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Takes no options: every setting is a pipe variable (WORKSPACE, REPOSITORY, ENVIRONMENT, "
                     "VARIABLES, SECURED, ...), see pipe.yml.")


def label(setting: Setting) -> str:
    return setting.env or setting.name


def render_error(message: str) -> None:
    say(f"✖ {message}")


def write_result(text: str) -> None:
    """The result (keys only, no value) in the pipe's storage directory, for later steps of the same pipe."""
    directory = os.environ.get("BITBUCKET_PIPE_STORAGE_DIR")
    if not directory:
        return
    path = os.path.join(directory, RESULT_FILE)
    try:
        os.makedirs(directory, exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:  # the result is a convenience: failing to keep it must not fail the sync
        say(f"WARNING: could not write {path}: {exc.strerror}")


def check_command(settings, redactor: Redactor, log) -> int:
    import json

    from bbvars.auth import describe
    from bbvars.check import run_check
    from bbvars.engine import target_of

    say(f"INFO: Checking the credentials and {target_of(settings).describe()} (nothing is written)...")
    say(f"INFO: {describe(settings)}")
    result = run_check(settings, redactor, log)
    for line in result.checklist():
        say(redactor(line))
    write_result(json.dumps(result.as_json(), indent=2))
    if not result.ok:
        raise BbvarsError(f"Check failed: {result.first_failure()}")
    say("✔ Check passed: these credentials can sync this target")
    return 0


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars import report
    from bbvars.auth import describe
    from bbvars.documents import variables_of
    from bbvars.engine import run_sync, target_of
    from bbvars.settings import validate

    raw = raw_settings(os.environ, lambda s: (s.env, s.env_fallback))
    for secret in ("client_secret", "access_token", "atlassian_api_token"):
        redactor.add(raw.get(secret))
    settings = read_settings(raw, label)
    if settings.command == "token":
        raise InputError(
            "COMMAND=token is not available in a pipe: the token would be printed into the build log. Run "
            "`bbvars token` in a script step of the bbvars image instead, and capture its output"
        )
    validate(settings, label)
    log = (lambda line: say(f"DEBUG: {line}")) if settings.debug else None
    if settings.command == "check":
        return check_command(settings, redactor, log)
    variables = variables_of(settings, label)

    target = target_of(settings)
    verb = "Checking" if settings.dry_run else "Syncing"
    extras = [note for flag, note in ((settings.dry_run, "dry run: nothing is written"),
                                      (settings.prune, "prune: keys not in VARIABLES are deleted")) if flag]
    say(f"INFO: {verb} {len(variables)} variable(s) into {target.describe()}"
        + (f" ({'; '.join(extras)})" if extras else "") + "...")
    if settings.debug:
        say(redactor(f"DEBUG: {understood(settings, label)}"))
    say(f"INFO: {describe(settings)}")  # the kind, never its value
    result = run_sync(settings, variables, redactor, log, events=retry_lines("INFO: "))

    for line in report.change_lines(result):
        say(redactor(line))
    write_result(report.to_json(result))
    if not result.ok:
        raise BbvarsError(failure(result))
    say(f"✔ {outcome(result)}")
    return 0
