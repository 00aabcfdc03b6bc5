"""The engine: a run request (jobs of target, variables and the target's own policy; run-wide options; the
credential chosen when the request was built) -> a RunResult. One client, one credential, one token for every
target; each target resolved and listed once; all writes of all targets under one concurrency bound. A
single-target sync is a run of one job. Knows nothing of the surface that called it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from bbvars.auth import Credential, Token, TokenSource
from bbvars.bitbucket.client import BitbucketClient, Halted, RetryPolicy, collection_path
from bbvars.errors import ApiError, BbvarsError, InputError, NotFoundError, setting
from bbvars.events import Events, Planned
from bbvars.models import Job, RunRequest, Target
from bbvars.redaction import MIN_LENGTH, Redactor
from bbvars.sync import budget, fingerprints, steps
from bbvars.sync.applier import Applier, TargetRun, bounded
from bbvars.sync.plan import Action, make_plan
from bbvars.sync.result import CANCELLED, NOT_ATTEMPTED, RunResult, SyncResult

__all__ = [
    "NOT_ATTEMPTED",
    "RunResult",
    "SyncResult",
    "mint_token",
    "open_client",
    "resolve_environment",
    "run",
]


Confirm = Callable[[list[tuple[Target, str]]], bool]  # asked before any delete is sent: (target, key) pairs


def open_client(
    request: RunRequest,
    redactor: Redactor,
    log: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
    events: Events | None = None,
    cancel: threading.Event | None = None,
) -> tuple[BitbucketClient, TokenSource | None]:
    """A client authenticated with the request's credential (chosen, and its secrets registered with the redactor,
    when the request was built); every token minted is registered with the redactor before it is used. Once `cancel`
    is set, the client sends no new request."""
    credential = request.credential
    client = BitbucketClient(
        request.api_url,
        None,
        timeout=request.timeout,
        retry=retry,
        max_connections=request.concurrency + 2,
        log=(lambda line: log(redactor(line))) if log else None,
        redact=redactor,
        hints=credential.hints,
        on_retry=events,
    )
    client.cancel = cancel
    client.http.auth, tokens = credential.open(client.request_token, redactor.add)
    return client, tokens


def mint_token(request: RunRequest, redactor: Redactor, log=None, retry: RetryPolicy | None = None) -> Token:
    # A token is minted from the OAuth consumer whatever else is set: a request for `token` is built with it.
    client, tokens = open_client(request, redactor, log, retry)
    with client:
        assert tokens is not None, "validate() requires an OAuth consumer for the token command"
        return tokens.current()


def match_environment(environments: list[dict], wanted: str) -> dict | None:
    """The environment named by uuid (braces optional), name or slug, exact before case-insensitive."""
    wanted = wanted.strip()
    bare = wanted.strip("{}").lower()
    for match in (
        lambda env: str(env.get("uuid", "")).strip("{}").lower() == bare,
        lambda env: env.get("name") == wanted,
        lambda env: env.get("slug") == wanted,
        lambda env: str(env.get("name", "")).lower() == wanted.lower()
        or str(env.get("slug", "")).lower() == wanted.lower(),
    ):
        found = [env for env in environments if match(env)]
        if found:
            return found[0]
    return None


def resolve_environment(client: BitbucketClient, target: Target, environments: list[dict] | None = None) -> str:
    """The uuid of the environment named by name, slug or uuid (braces optional), among `environments` (the
    repository's, listed here when not given)."""
    wanted = (target.environment or "").strip()
    environments = client.list_environments(target) if environments is None else environments
    found = match_environment(environments, wanted)
    if found is not None:
        return str(found["uuid"])
    names = ", ".join(sorted(str(env.get("name")) for env in environments)) or "none"
    raise NotFoundError(
        f"deployment environment {wanted!r} not found in {target.workspace}/{target.repository} (it has: {names}): "
        "give its name, slug or uuid",
        404,
    )


class Preparer:
    """Each target resolved and listed once, `concurrency` at a time: the environments of a repository are listed
    once for all its targets. A fatal answer stops the targets not prepared yet."""

    def __init__(self, client: BitbucketClient, applier: Applier, fingerprint_key: bytes | None = None):
        self.client, self.applier = client, applier
        self.fingerprint_key = fingerprint_key  # the run's: one key for every target that turns fingerprints on
        self._environments: dict[tuple[str, str], list[dict] | BbvarsError] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._lock = threading.Lock()
        self.refused: list[SyncResult] = []  # targets whose plan deletes more than their max_deletes allows

    def environments_of(self, target: Target) -> list[dict]:
        key = (target.workspace, target.repository or "")
        with self._lock:
            repository_lock = self._locks.setdefault(key, threading.Lock())
        with repository_lock:  # the repository's other targets wait for this one listing
            if key not in self._environments:
                try:
                    self._environments[key] = self.client.list_environments(target)
                except BbvarsError as exc:
                    self._environments[key] = exc
            found = self._environments[key]
        if isinstance(found, BbvarsError):
            raise found
        return found

    def prepare(self, job: Job, result: SyncResult) -> TargetRun | None:
        """The target's plan, or None with every key failed for the one cause that kept it from being listed."""
        stop = self.applier.stop
        try:
            if stop is not None:
                raise stop
            target = job.target
            environment_uuid = (resolve_environment(self.client, target, self.environments_of(target))
                                if target.scope == "deployment" else None)
            path = collection_path(target, environment_uuid)
            existing = self.client.list_variables(path, target)
        except BbvarsError as exc:
            if isinstance(exc, Halted) and self.applier.stop is not None:
                exc = stop = self.applier.stop  # refused by the run's own stop: told as that stop, not attempted
            if isinstance(exc, ApiError) and exc.fatal and self.applier.stop is None:
                self.applier.stopping(exc)
            # Nothing could be compared, so nothing was written: every input key failed for this one cause.
            result.error = str(exc)
            shown = f"{NOT_ATTEMPTED}{exc}" if exc is stop else str(exc)
            result.failed = [{"key": v.key, "error": shown} for v in job.variables]
            return None
        # Per target, before planning: the fingerprint variable is bbvars' own, never a user variable.
        book = fingerprints.Book(self.fingerprint_key if job.policy.fingerprint else None, path, existing)
        policy = steps.prune_policy(job.policy)
        plan = make_plan(job.variables, book.user, prune=policy, recorded=book.recorded if book.on else None,
                         expected=book.expected(job.variables))
        result.note_foreign(plan.foreign)
        if steps.refuse(plan, policy, result):
            self.refused.append(result)  # more deletes than max_deletes allows: the whole run is refused
            return None
        return TargetRun(target, path, plan, result, book=book)


def once_each(prepared: Sequence[TargetRun | None]) -> list[TargetRun]:
    """The prepared targets, each place once: two spellings of one environment (its name and its uuid) are known the
    same only once resolved, and the later one fails rather than write the place twice."""
    first: dict[str, TargetRun] = {}
    runs = []
    for target_run in prepared:
        if target_run is None:
            continue
        if target_run.path in first:
            result = target_run.result
            result.error = (f"{target_run.target.describe()} is {first[target_run.path].target.describe()}, "
                            "which another target writes: give each place once")
            result.failed = [{"key": op.key, "error": result.error} for op in target_run.plan.operations
                             if op.variable is not None]
            continue
        first[target_run.path] = target_run
        runs.append(target_run)
    return runs


def check_jobs(jobs: Sequence[Job], credential: Credential | None = None) -> None:
    """What can be known wrong about the jobs before a request is sent."""
    for job in jobs:
        refuse_named(job, credential, len(jobs) > 1)
        if any(variable.key == fingerprints.VARIABLE for variable in job.variables):
            raise InputError(f"{fingerprints.VARIABLE} is bbvars' own variable (the fingerprints of secured values): "
                             "give the input's variable another name")
        if job.policy.prune and not job.variables:
            # `terraform output -json` without a state prints {}: with prune that would empty the target.
            raise InputError(
                f"the input has no variables, and with prune that would delete every variable of "
                f"{job.target.describe()}: give at least one variable, or leave prune out"
            )


def refuse_named(job: Job, credential: Credential | None, several: bool) -> None:
    """A plain variable holding a secret of the run's credential that no setting holds (a stored login's tokens,
    known only once the request chose it) is refused like one holding a setting's (request.documents): naming the
    key and the secret, never its value."""
    named = [(what, secret) for what, secret in (credential.named if credential else ()) if len(secret) >= MIN_LENGTH]
    for variable in job.variables:
        held = next((what for what, secret in named if secret in variable.value), None)
        if held is not None and not variable.secured:
            where = f" of {job.target.describe()}" if several else ""
            raise InputError(f"the plain variable {variable.key}{where} holds the run's credential, {held} (its "
                             "value is not shown): remove it from the input, or mark the key secured")


def sync_jobs(client: BitbucketClient, jobs: Sequence[Job], *, dry_run: bool = False, concurrency: int = 8,
              redactor: Redactor | None = None, events: Events | None = None,
              confirm: Confirm | None = None, cancel: threading.Event | None = None,
              fingerprint_key: bytes | None = None, max_requests: int | None = None,
              credential: str | None = None) -> RunResult:
    """Every job through one client: prepared (resolved, listed, planned) `concurrency` at a time, then every write
    of every target through one pool of `concurrency` workers. `events` hears of the plan, each write and each retry
    wait; `confirm` is asked, with every (target, key) to delete, before any write is sent (a surface on a terminal
    asks its user), and on False nothing is written."""
    redactor = redactor or Redactor()
    for job in jobs:
        for variable in job.variables:
            if variable.secured:
                redactor.add(variable.value)
    run = RunResult(dry_run, [SyncResult(job.target, dry_run, name=job.name) for job in jobs])
    applier = Applier(client, concurrency, events, cancel)
    costs = budget.Budget(client, max_requests, cancel, credential)  # counts, caps and paces every request
    applier.reserved = costs.meter.reserved  # the room the cap keeps for each target's fingerprint write
    preparer = Preparer(client, applier, fingerprint_key)
    prepared: list[TargetRun | None] = [None] * len(jobs)

    def prepare(index: int) -> None:
        prepared[index] = preparer.prepare(jobs[index], run.targets[index])

    todo = [i for i, job in enumerate(jobs) if job.variables]
    # The first target alone, so the token is fetched once (and a refused credential stops the rest unsent), then
    # the others `concurrency` at a time.
    for index in todo[:1]:
        prepare(index)
    bounded(todo[1:], concurrency, prepare)
    listed = list(prepared)
    if preparer.refused:
        # max_deletes refuses the whole run: no target is written when one would delete too much.
        cause = preparer.refused[0].error or ""
        for target_run in prepared:
            if target_run is not None:
                steps.hold(target_run.plan, target_run.result, cause)
        prepared = [None] * len(jobs)
    runs = once_each(prepared)
    costs.planned(runs, dry_run)  # with max_requests: the writes that fit, in order
    deletes = [(r.target, op.key) for r in runs for op in r.plan.of(Action.DELETE)]
    if confirm is not None and deletes and not dry_run and not confirm(deletes):
        for target_run in runs:
            cancel_target(target_run, f"the {len(deletes)} deletion(s) were not confirmed, so nothing was written: "
                                      f"answer y to delete, or leave {setting('prune')} out")
        runs = []
    if events and not dry_run:
        events(Planned(sum(len(r.plan.writes) for r in runs), tuple(key for _, key in deletes)))
    applier.run(runs)
    costs.settle(run, jobs, listed, applier.stop)
    for result in run.targets:
        result.failed = [{"key": f["key"], "error": redactor(f["error"])} for f in result.failed]
        result.error = redactor(result.error) if result.error else None
        result.warnings = [redactor(line) for line in result.warnings]
    run.requests = client.requests_sent
    for result in run.targets:
        result.requests = run.requests
    return run


def cancel_target(target_run: TargetRun, why: str) -> None:
    """Nothing of this target is written: its unchanged keys stay so, every other input key is failed, cancelled."""
    result = target_run.result
    result.unchanged = [op.key for op in target_run.plan.of(Action.UNCHANGED)]
    result.failed = [{"key": op.key, "error": CANCELLED} for op in target_run.plan.writes
                     if op.action is not Action.DELETE]
    result.error = why


def run(
    request: RunRequest,
    redactor: Redactor,
    log: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
    events: Events | None = None,
    confirm: Confirm | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """The engine's one entry: every job of the request, with its credential, concurrency, timeout and dry run."""
    jobs = request.jobs
    check_jobs(jobs, request.credential)
    key = steps.fingerprint_key(request.fingerprint_key, any(job.policy.fingerprint for job in jobs))
    if not any(job.variables for job in jobs):
        # Nothing to write: no request either (a job without variables is reported empty).
        result = RunResult(request.dry_run, [SyncResult(job.target, request.dry_run, name=job.name) for job in jobs])
    else:
        client, _ = open_client(request, redactor, log, retry, events, cancel)
        with client:
            result = sync_jobs(client, jobs, dry_run=request.dry_run, concurrency=request.concurrency,
                               redactor=redactor, events=events, confirm=confirm, cancel=cancel, fingerprint_key=key,
                               max_requests=request.max_requests, credential=request.credential.kind)
    result.manifest = request.manifest  # the report's shape follows the request's
    return result
