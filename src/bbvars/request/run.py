"""The one boundary from settings to a run request: every surface builds its RunRequest here, once. The credential
is chosen here and nowhere else (bbvars.auth.choose), and its secrets, with the fingerprint key, are registered with
the run's redactor before anything is sent or printed; the engine, `check` and `token` use what it holds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from bbvars.auth import choose, register
from bbvars.models import Job, Policy, RunRequest, Target, Variable
from bbvars.redaction import Redactor
from bbvars.request.documents import final_key
from bbvars.request.settings import Settings

__all__ = ["for_target", "job_of", "policy_of", "request_of", "target_of"]


def policy_of(settings: Settings) -> Policy:
    # The prefix as it appears in the keys (after upper): prune touches only the keys this input owns.
    return Policy(prune=settings.prune, prefix=final_key("", settings.prefix, settings.upper), upper=settings.upper,
                  protect=tuple(settings.protect), max_deletes=settings.max_deletes, fingerprint=settings.fingerprint)


def target_of(settings: Settings) -> Target:
    return Target(settings.workspace or "", settings.repository, settings.environment)


def job_of(settings: Settings, variables: Iterable[Variable] = (), name: str | None = None) -> Job:
    """The job of one target as the settings name it, with the settings' policy."""
    return Job(target_of(settings), tuple(variables), policy_of(settings), name)


def request_of(settings: Settings, jobs: Sequence[Job], redactor: Redactor) -> RunRequest:
    """The run request: `jobs` with the run-wide settings and the one credential of the run. `token` mints from the
    OAuth consumer whatever else is set (validate() requires one for that command)."""
    chosen = settings
    if settings.command == "token":
        chosen = replace(settings, access_token=None, atlassian_api_token=None, atlassian_account_email=None)
    credential = register(choose(chosen), redactor)
    redactor.add(settings.fingerprint_key)
    return RunRequest(tuple(jobs), credential, settings.api_url, timeout=settings.timeout,
                      concurrency=settings.concurrency, dry_run=settings.dry_run, max_requests=settings.max_requests,
                      fingerprint_key=settings.fingerprint_key, manifest=settings.manifest is not None)


def for_target(settings: Settings, variables: Iterable[Variable], redactor: Redactor) -> RunRequest:
    """The request of a single-target surface (sync flags, pipe, action, Terraform; `check` and `list` with no
    variables): one job, the target the settings name."""
    return request_of(settings, [job_of(settings, variables)], redactor)
