"""`bbvars action`: the GitHub Docker action surface.

Settings come from the action inputs (`INPUT_<ACTION_INPUT>`, as GitHub passes them to a Docker action), with the
BITBUCKET_* variables the CLI reads as fallbacks. Every secret is masked with `::add-mask::` before anything else is
printed: the consumer secret and access token at once, each secured value as soon as the document is parsed, and a
minted token the moment it exists (a Redactor listener). Results go to $GITHUB_OUTPUT and $GITHUB_STEP_SUMMARY;
failures are one `::error::` line."""

from __future__ import annotations

import argparse
import os
import uuid
from dataclasses import replace

from bbvars.errors import BbvarsError, InputError
from bbvars.models import RunRequest
from bbvars.redaction import Redactor
from bbvars.request.secrets import register_given
from bbvars.request.settings import SETTINGS, Setting, Settings, check_text, exit_code
from bbvars.request.settings import voice as settings_voice
from bbvars.surfaces import _github as gh
from bbvars.surfaces._ci import (
    announce,
    failure,
    outcome,
    raw_settings,
    read_settings,
    retry_lines,
    understood,
)
from bbvars.surfaces._github import escape_data
from bbvars.sync.engine import RunResult, SyncResult


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = "Takes no options: every setting is an action input (INPUT_*), see action.yml."


def label(setting: Setting) -> str:
    return f"input {setting.action_input}" if setting.action_input else (setting.env or setting.name)


def sources(setting: Setting) -> tuple[str | None, str | None]:
    """The input first, then the BITBUCKET_* variable the CLI would read (credentials and URLs)."""
    given = f"INPUT_{setting.action_input.upper()}" if setting.action_input else None
    return given, setting.env if setting.cli_reads_env else None


__all__ = ["escape_data", "mask", "render_error", "render_notice", "run"]


MASKED_LINE_MIN = 4  # a line of a multi-line secret shorter than this (stripped) is not masked on its own


def worth_masking(line: str) -> bool:
    """A line of a multi-line secret masked on its own: GitHub masks every occurrence of a mask anywhere in the rest of
    the job's log, so `{`, `}`, `-----` or `  ],` (the lines of any JSON or PEM secret) would blank out every brace
    and rule of every later step. A line qualifies when it holds at least MASKED_LINE_MIN characters and at least
    one letter or digit; the skipped ones carry next to nothing of the secret."""
    stripped = line.strip()
    return len(stripped) >= MASKED_LINE_MIN and any(char.isalnum() for char in stripped)


def mask(secret: str, masked: set[str] | None = None) -> None:
    """Register a secret with GitHub: the whole value (escaped, so a multi-line one is one command), then, because
    GitHub matches masks within one log line, each line of a multi-line value that is worth masking on its own.
    `masked` keeps what is registered so far, so nothing is registered twice."""
    lines = [line for line in secret.splitlines() if line.strip()]
    forms = [secret] if secret.strip() else []
    if lines != forms:  # it has line breaks
        forms += lines if len(lines) == 1 else [line for line in lines if worth_masking(line)]
    for form in forms:
        if masked is None or form not in masked:
            if masked is not None:
                masked.add(form)
            gh.command("add-mask", form)


def render_error(message: str) -> None:
    gh.command("error", message)


voice = settings_voice(label)  # how this surface's printed messages name a setting (see bbvars.errors.setting)


def render_notice(message: str) -> None:
    gh.log(f"bbvars: {message}")


OUTPUT_FILES = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY")


def cannot_write(variable: str, path: str, exc: OSError, before: bool = False) -> BbvarsError:
    sent = "; nothing was sent to Bitbucket" if before else ""
    uid = f"the container runs as uid {os.getuid()}: a Docker action must run as root, the image's default user"
    return BbvarsError(f"cannot write ${variable} ({path}): {exc.strerror or exc}{sent} ({uid})")


def check_writable() -> None:
    """Every file the runner hands us for results, opened for appending before the first request: a run that would
    write the variables and then fail on its own outputs (a later step would miss them) fails here instead."""
    for variable in OUTPUT_FILES:
        path = os.environ.get(variable)
        if not path:
            continue
        try:
            with open(path, "a", encoding="utf-8"):
                pass  # appends nothing: the runner's file is left as it is
        except OSError as exc:
            raise cannot_write(variable, path, exc, before=True) from None


def append_to(variable: str, text: str) -> None:
    """Append to the file GitHub names in `variable`; a file we cannot write is a known failure, not a crash."""
    path = os.environ.get(variable)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise cannot_write(variable, path, exc) from None


def write_outputs(outputs: dict[str, str]) -> None:
    """Step outputs in the multi-line-safe form: name<<delimiter, value, delimiter."""
    blocks = []
    for name, value in outputs.items():
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        while delimiter in value:  # cannot happen by chance; checked so a value can never end an output
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
        blocks.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    append_to("GITHUB_OUTPUT", "".join(blocks))


LISTS = ("created", "updated", "unchanged", "deleted")


def named_only(result: SyncResult) -> tuple[SyncResult, int]:
    """The result as the step outputs tell it: only keys that are valid variable names (a server may list any text as
    a key), and how many were left out. The log and the summary still show the others, escaped."""
    def keep(keys):
        return [key for key in keys if gh.is_variable_name(key)]

    shown = replace(result, **{name: keep(getattr(result, name)) for name in LISTS},
                    failed=[f for f in result.failed if gh.is_variable_name(f["key"])],
                    reasons={key: why for key, why in result.reasons.items() if gh.is_variable_name(key)})
    if len(shown.failed) < len(result.failed) and shown.ok:
        shown.error = "a key that is not a valid variable name failed"  # still a failed run in the result's `ok`
    left = sum(len(getattr(result, name)) - len(getattr(shown, name)) for name in (*LISTS, "failed"))
    return shown, left


def warn_left_out(left: int) -> None:
    if left:
        gh.command("warning", f"{left} key(s) Bitbucket listed are not valid variable names: they are left out of the "
                   "step outputs (the log above shows them, escaped)")


def summary_markdown(result: SyncResult) -> str:
    """A table of keys and what happened to each: never a value."""
    from bbvars.sync import report

    verbs = {"created": "to create", "updated": "to update", "deleted": "to delete"} if result.dry_run else {}
    rows = [(key, verbs.get(change, change) + (f" ({text})" if (text := report.note(result, key)) else ""))
            for change in ("created", "updated", "deleted") for key in sorted(getattr(result, change))]
    # A failure's own cause in its cell; the one that stopped the run is told once, in the closing line.
    rows += [(failed["key"], "failed" if result.cause(failed) == result.error else f"failed: {failed['error']}")
             for failed in sorted(result.failed, key=lambda f: f["key"])]
    lines = [f"### bbvars: {gh.markdown(result.target.describe())}", ""]
    if rows:
        lines += ["| key | change |", "|---|---|",
                  *(f"| {gh.markdown_key(key)} | {gh.markdown(change)} |" for key, change in rows), ""]
    else:
        lines += ["No changes.", ""]
    alone = RunResult.of(result)  # the target's own closing line, in a manifest's summary too
    closing = outcome(alone) if result.ok else failure(alone)
    return "\n".join(lines + [gh.markdown(closing), ""]) + "\n"


def write_summary(text: str) -> None:
    append_to("GITHUB_STEP_SUMMARY", text)


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.request.settings import validate

    raw = raw_settings(os.environ, sources)
    by_name = {s.name: s for s in SETTINGS}
    for name, text in raw.items():
        check_text(text, label(by_name[name]))  # before a mask is printed: a mask of such text could not be
    masked: set[str] = set()
    redactor.listeners.append(lambda form: mask(form, masked))
    register_given(raw, redactor)
    settings = read_settings(raw, label)
    validate(settings, label)
    from bbvars.request.run import request_of

    # The credential chosen once, every form of it masked before anything is printed; the jobs come once read.
    request = request_of(settings, (), redactor)
    check_writable()  # before the first request
    log = (lambda line: gh.log(f"DEBUG: {line}")) if settings.debug else None
    if settings.command == "token":
        return token_command(request, redactor, log)
    if settings.command == "check":
        return check_command(settings, request, redactor, log)
    return sync_command(settings, request, redactor, log, getattr(args, "cancel", None))


EMPTY_VARIABLES = (
    "input variables is empty and variables_file is not set. If the workflow passes variables a step output, GitHub "
    "most likely dropped it for holding a secret-looking value (the runner warns 'Skip output'): write the document "
    "to a file in the workspace in an earlier step and give its path as variables_file"
)


def workspace_file(given: str, name: str = "variables_file") -> tuple[str, str]:
    """(path, source name) of a file inside the workspace; anything outside it is refused (request/sources.py): the
    action reads only what the workflow itself put there."""
    from bbvars.request.documents import shown
    from bbvars.request.sources import action_host

    host = action_host(os.environ)
    path = os.path.realpath(os.path.join(host.roots[0], given))
    host.check_inside(path, f"input {name} {shown(given, 200)!r}")
    return path, f"input {name} {shown(given, 200)}"


def read_variables(settings: Settings) -> list:
    from bbvars.request.documents import check_variables, collect, variables_of
    from bbvars.request.sources import Unreadable, read_regular

    if not settings.variables_file:
        if settings.variables is None or not settings.variables.strip():
            raise InputError(EMPTY_VARIABLES)
        return variables_of(settings, label)
    if settings.variables is not None and settings.variables.strip():
        raise InputError("inputs variables and variables_file are both set: give one of them")
    path, source = workspace_file(settings.variables_file)
    try:
        text = read_regular(path, source)
    except Unreadable as exc:
        if exc.missing:
            raise InputError(f"{source} does not exist in the workspace: write it in an earlier step of the same "
                             "job (e.g. `terraform output -json > outputs.json`)") from None
        raise InputError(f"cannot read {source}: {exc}") from None
    variables = collect([(source, text)], (), prefix=settings.prefix, upper=settings.upper, secured=settings.secured)
    check_variables(variables, settings, label)
    return variables


def sync_command(settings: Settings, request: RunRequest, redactor: Redactor, log, cancel=None) -> int:
    """One sync, of the target the inputs name or of a manifest's targets: one engine call, one result."""
    from bbvars.auth import describe
    from bbvars.sync import budget, engine, report

    jobs = jobs_of(settings)
    for job in jobs:
        for variable in job.variables:
            if variable.secured:
                redactor.add(variable.value)  # masked (by the listener) before anything about the run is printed
    manifest = settings.manifest is not None
    inline = sum(v.secured for v in jobs[0].variables) if not (manifest or settings.variables_file) else 0
    if inline:
        gh.command("warning", f"input variables carried {inline} secured value(s) inline: the runner prints a "
                   "step's with: inputs in the log before the action starts, masked only when they come from "
                   "secrets.*. Write them to a file and pass variables_file instead")
    if settings.debug:
        gh.log(redactor(f"DEBUG: {understood(settings, label)}"))
    gh.log(redactor(announce(jobs, settings)))
    if not manifest:
        gh.log(describe(request.credential))  # the kind, never its value
    result = engine.run(request.with_jobs(jobs), redactor, log, events=retry_lines(write=gh.log), cancel=cancel)
    if manifest:
        gh.command("group", f"Plan ({len(result.targets)} targets)")
        for line in report.summary(result):
            gh.log(redactor(line))
        gh.command("endgroup")
    else:
        lines = report.change_lines(result.targets[0])
        if lines:
            gh.command("group", f"Changes ({len(lines)})")
            for line in lines:
                gh.log(redactor(line))
            gh.command("endgroup")
        for line in report.cost_lines(result.targets[0].cost, result.dry_run):
            gh.log(redactor(line))
    warn_left_out(sum(named_only(r)[1] for r in result.targets))
    write_outputs(outputs(result))
    closing = outcome(result) if result.ok else failure(result)
    if manifest:
        write_summary(redactor("".join(summary_markdown(r) for r in result.targets) + f"**{gh.markdown(closing)}**\n"))
    else:
        write_summary(redactor(summary_markdown(result.targets[0])))
    if not result.ok:
        raise budget.stop_or_failure(result, closing)
    gh.log(redactor(f"✔ {closing}"))
    return exit_code(settings, result.ok, result.changed)


def jobs_of(settings: Settings) -> list:
    """The run's jobs: one from the variables inputs, or one per target of the manifest (in the workspace)."""
    import sys

    from bbvars.request import manifest
    from bbvars.request.run import job_of
    from bbvars.request.sources import action_host

    if settings.manifest is None:
        return [job_of(settings, read_variables(settings))]
    path, _ = workspace_file(settings.manifest, "manifest")
    # Named as given in messages; its sources, too, must be in the workspace.
    return manifest.jobs(replace(settings, manifest=os.path.relpath(path)), sys.stdin, action_host(os.environ),
                         confine_manifest=True, label=label)


def check_command(settings: Settings, request: RunRequest, redactor: Redactor, log) -> int:
    import json

    from bbvars.auth import describe
    from bbvars.request.run import job_of
    from bbvars.sync.check import run_check

    request = request.with_jobs([job_of(settings)])
    target = request.target
    gh.log(redactor(f"Checking the credentials and {target.describe()} (nothing is written)..."))
    gh.log(describe(request.credential))
    result = run_check(request, redactor, log)
    for line in result.checklist():
        gh.log(redactor(line))
    write_outputs({"ok": "true" if result.ok else "false", "credential": result.credential,
                   "result": redactor(json.dumps(result.as_json()))})
    rows = [f"| {'✔' if c.ok else '✖'} | {c.name} | {gh.markdown(c.detail)} |" for c in result.checks]
    write_summary(redactor("\n".join([f"### bbvars check: {gh.markdown(target.describe())}", "",
                                      "| | check | detail |", "|---|---|---|", *rows, ""]) + "\n"))
    if not result.ok:
        raise BbvarsError(f"Check failed: {result.first_failure()}")
    gh.log("✔ Check passed: these credentials can sync this target")
    return 0


def token_command(request: RunRequest, redactor: Redactor, log) -> int:
    from bbvars.sync.engine import mint_token

    token = mint_token(request, redactor, log)  # the engine registers the token, so the listener masks it first
    redactor.add(token.access_token)
    write_outputs({
        "access_token": token.access_token,
        "token_type": token.token_type,
        "expires_in": "" if token.expires_in is None else str(token.expires_in),
        "scopes": token.scopes,
    })
    lifetime = f", expires in {token.expires_in} s" if token.expires_in is not None else ""
    gh.log(redactor(f"✔ Minted a {token.token_type} token (output access_token, masked){lifetime}"))
    return 0


# -- the step outputs --------------------------------------------------------------------------------------------------


def place(result: SyncResult) -> str:
    """A target in the outputs' key lists: its name, else workspace/repository/environment."""
    t = result.target
    return result.name or "/".join(part for part in (t.workspace, t.repository, t.environment) if part)


def outputs(run: RunResult) -> dict[str, str]:
    """The step outputs: one target's key lists, or every target's with each key as TARGET:KEY; `result` is the
    JSON report (of the keys that are valid variable names)."""
    from bbvars.sync import report

    shown = replace(run, targets=[named_only(r)[0] for r in run.targets])
    if run.manifest:
        lists = {name: [f"{place(r)}:{key}" for r in shown.targets for key in sorted(getattr(r, name))]
                 for name in LISTS}
        lists["failed"] = [f"{place(r)}:{f['key']}" for r in shown.targets
                           for f in sorted(r.failed, key=lambda f: f["key"])]
    else:
        single = shown.targets[0].as_json()
        lists = {name: single[name] for name in LISTS}
        lists["failed"] = [failed["key"] for failed in single["failed"]]
    outputs = {name: ",".join(keys) for name, keys in lists.items()}
    outputs["changed"] = "true" if run.changed else "false"
    outputs["result"] = report.to_json(shown)
    return outputs
