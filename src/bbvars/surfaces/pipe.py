"""`bbvars pipe`: the Bitbucket Pipe surface (also the Docker image's default command).

Settings come from the pipe variables, each named by its setting's `env` in the SETTINGS table, with Bitbucket's own
variable (`env_fallback`) when one is unset. Output follows Atlassian's pipes: `INFO:` progress lines, the change
list, then `✔ message` on success or `✖ message` on failure, all on stdout."""

from __future__ import annotations

import argparse
import difflib
import os
from collections.abc import Mapping

from bbvars.errors import BbvarsError, InputError
from bbvars.redaction import Redactor
from bbvars.request.secrets import register_given
from bbvars.request.settings import SETTINGS, Setting, Settings, exit_code
from bbvars.request.settings import voice as settings_voice
from bbvars.surfaces._ci import (
    announce,
    failure,
    one_line,
    outcome,
    raw_settings,
    read_settings,
    retry_lines,
    say,
    understood,
)

RESULT_FILE = "result.json"
# Variables of the container and of a shell, never meant for the pipe: not checked for typos.
STANDARD_VARIABLES = frozenset({
    "PATH", "HOME", "HOSTNAME", "PWD", "OLDPWD", "SHLVL", "TERM", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE",
    "TZ", "TMPDIR", "MAIL", "DISPLAY", "EDITOR", "PAGER", "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "CI",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "GPG_KEY", "DOCKER_HOST",
})
STANDARD_PREFIXES = ("BITBUCKET_", "LC_", "PYTHON", "PIP_", "XDG_", "DOCKER_", "SSH_", "GIT_")


def emit(prefix: str, text: str) -> None:
    """The pipe's one writer: every line is a fixed prefix (`INFO: `, `✔ `, `✖ `, ...) then one line of text, so a
    line break in a name or a message can never forge another line."""
    say(f"{prefix}{one_line(text)}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Takes no options: every setting is a pipe variable (WORKSPACE, REPOSITORY, ENVIRONMENT, "
                     "VARIABLES, SECURED, ...), see pipe.yml.")


def label(setting: Setting) -> str:
    return setting.env or setting.name


def render_error(message: str) -> None:
    emit("✖ ", message)


voice = settings_voice(label)  # how this surface's printed messages name a setting (see bbvars.errors.setting)


def render_notice(message: str) -> None:
    emit("INFO: ", message)


def pipe_variables() -> list[str]:
    return sorted({name for s in SETTINGS for name in (s.env, s.env_fallback) if name})


def check_spelling(environ: Mapping[str, str]) -> None:
    """A misspelled pipe variable (ENVIROMENT) would be ignored, and the pipe would write somewhere else (the
    repository's variables instead of the environment's): one close to a variable of the pipe is refused."""
    known = pipe_variables()
    for name in sorted(environ):
        upper = name.upper()
        if name in known or upper.startswith(STANDARD_PREFIXES) or upper in STANDARD_VARIABLES:
            continue
        close = difflib.get_close_matches(upper, known, n=1, cutoff=0.85)
        if close:
            raise InputError(f"the variable {one_line(name)[:60]} is not one of the pipe's: did you mean {close[0]}? "
                             "(the pipe's variables are listed in pipe.yml)")


def result_path() -> str | None:
    directory = os.environ.get("BITBUCKET_PIPE_STORAGE_DIR")
    return os.path.join(directory, RESULT_FILE) if directory else None


def check_writable() -> None:
    """The result file, checked before the first request: a run that cannot keep its result fails before it writes
    any variable, rather than after."""
    path = result_path()
    if path is None:
        return
    existed = os.path.exists(path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
        if not existed:
            os.remove(path)  # only a probe: no empty result is left if the run stops before its end
    except OSError as exc:
        why = "the directory is a file" if isinstance(exc, FileExistsError) else exc.strerror or str(exc)
        raise BbvarsError(f"cannot write {path} (BITBUCKET_PIPE_STORAGE_DIR): {why}; nothing was "
                          f"sent to Bitbucket (the pipe runs as uid {os.getuid()})") from None


def write_result(text: str) -> None:
    """The result (keys only, no value) in the pipe's storage directory, for later steps of the same pipe."""
    path = result_path()
    if path is None:
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    except OSError as exc:  # checked before the first request: only a change since can land here
        emit("WARNING: ", f"could not write {path}: {exc.strerror}")


def check_command(settings, redactor: Redactor, log) -> int:
    import json

    from bbvars.auth import describe
    from bbvars.request.run import for_target, target_of
    from bbvars.sync.check import run_check

    emit("INFO: ", redactor(f"Checking the credentials and {target_of(settings).describe()} (nothing is written)..."))
    request = for_target(settings, (), redactor)
    emit("INFO: ", describe(request.credential))
    result = run_check(request, redactor, log)
    for check in result.checks:
        emit("✔ " if check.ok else "✖ ", redactor(check.line()))
    write_result(json.dumps(result.as_json(), indent=2))
    if not result.ok:
        raise BbvarsError(f"Check failed: {result.first_failure()}")
    emit("✔ ", "Check passed: these credentials can sync this target")
    return 0


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    """One sync, of the target the pipe variables name or of a manifest's targets: one engine call, one result."""
    from bbvars.auth import describe
    from bbvars.request.run import request_of
    from bbvars.request.settings import validate
    from bbvars.sync import budget, engine, report

    check_spelling(os.environ)
    raw = raw_settings(os.environ, lambda s: (s.env, s.env_fallback))
    if "manifest" in raw:
        # A pipeline always sets BITBUCKET_REPO_SLUG: with a manifest, the targets name their own repositories (the
        # workspace still falls back to BITBUCKET_WORKSPACE for targets that name none).
        raw = raw_settings(os.environ, lambda s: (s.env, s.env_fallback if s.name == "workspace" else None))
    register_given(raw, redactor)
    settings = read_settings(raw, label)
    if settings.command == "token":
        raise InputError(
            "COMMAND=token is not available in a pipe: the token would be printed into the build log. Run "
            "`bbvars token` in a script step of the bbvars image instead, and capture its output"
        )
    validate(settings, label)
    check_writable()  # before the first request
    log = (lambda line: emit("DEBUG: ", line)) if settings.debug else None
    if settings.command == "check":
        return check_command(settings, redactor, log)
    jobs = jobs_of(settings)
    manifest = settings.manifest is not None
    emit("INFO: ", redactor(announce(jobs, settings, prune_note=True)))
    debug = [redactor(understood(settings, label))] if settings.debug else []
    for line in debug if not manifest else []:  # one target's settings come before the credential's kind
        emit("DEBUG: ", line)
    request = request_of(settings, jobs, redactor)
    emit("INFO: ", describe(request.credential))  # the kind, never its value
    for line in debug if manifest else []:  # a manifest's after it
        emit("DEBUG: ", line)
    result = engine.run(request, redactor, log, events=retry_lines(write=lambda line: emit("INFO: ", line)),
                        cancel=getattr(args, "cancel", None))
    lines = report.summary(result)
    for line in lines if manifest else lines[1:]:  # one target's heading holds the counts of the closing line
        emit("", redactor(line))
    write_result(report.to_json(result))
    if not result.ok:
        raise budget.stop_or_failure(result, failure(result))
    emit("✔ ", outcome(result))
    return exit_code(settings, result.ok, result.changed)


def jobs_of(settings: Settings) -> list:
    """The run's jobs: one from VARIABLES, or one per target of the manifest."""
    import sys

    from bbvars.request import manifest
    from bbvars.request.documents import variables_of
    from bbvars.request.run import job_of
    from bbvars.request.sources import pipe_host

    if settings.manifest is None:
        return [job_of(settings, variables_of(settings, label))]
    return manifest.jobs(settings, sys.stdin, pipe_host(os.environ), confine_manifest=True, label=label)
