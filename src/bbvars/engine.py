"""The engine: settings + variables -> a SyncResult. Knows nothing of the surface that called it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Callable

from bbvars.auth import Token, TokenSource, choose, register
from bbvars.client import BitbucketClient, RetriedConflict, RetryPolicy, collection_path
from bbvars.errors import ApiError, BbvarsError, ConflictError, InputError, NotFoundError
from bbvars.models import RemoteVariable, Target, Variable
from bbvars.plan import Action, Operation, Plan, make_plan, needs_update
from bbvars.redaction import Redactor
from bbvars.settings import Settings


NOT_ATTEMPTED = "not attempted: "  # the error of a write skipped because an earlier one stopped the run


@dataclass
class SyncResult:
    target: Target
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None  # the cause that stopped the run, when one did
    requests: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    def cause(self, failure: dict[str, str]) -> str:
        """A failure's cause, with the one that stopped the whole run given as itself (told once, not per key)."""
        if self.error and failure["error"] in (self.error, NOT_ATTEMPTED + self.error):
            return self.error
        return failure["error"]

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def as_json(self) -> dict:
        return {
            "target": self.target.as_json(),
            "dry_run": self.dry_run,
            "created": sorted(self.created),
            "updated": sorted(self.updated),
            "unchanged": sorted(self.unchanged),
            "deleted": sorted(self.deleted),
            "failed": sorted(self.failed, key=lambda f: f["key"]),
        }


def target_of(settings: Settings) -> Target:
    return Target(settings.workspace or "", settings.repository, settings.environment)


def open_client(
    settings: Settings,
    redactor: Redactor,
    log: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
) -> tuple[BitbucketClient, TokenSource | None]:
    """A client authenticated as the settings say (bbvars.auth.choose picks the credential kind); every secret of
    the credential, and every token minted, is registered with the redactor before it is used."""
    credential = register(choose(settings), redactor)
    client = BitbucketClient(
        settings.api_url,
        None,
        timeout=settings.timeout,
        retry=retry,
        max_connections=settings.concurrency + 2,
        log=(lambda line: log(redactor(line))) if log else None,
        redact=redactor,
        hints=credential.hints,
    )
    client.http.auth, tokens = credential.open(client.request_token, redactor.add)
    return client, tokens


def mint_token(settings: Settings, redactor: Redactor, log=None, retry: RetryPolicy | None = None) -> Token:
    # A token is minted from the OAuth consumer whatever else is set (validate() requires one for this command).
    consumer_only = replace(settings, access_token=None, atlassian_api_token=None, atlassian_account_email=None)
    client, tokens = open_client(consumer_only, redactor, log, retry)
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


def resolve_environment(client: BitbucketClient, target: Target) -> str:
    """The uuid of the environment named by name, slug or uuid (braces optional)."""
    wanted = (target.environment or "").strip()
    environments = client.list_environments(target)
    found = match_environment(environments, wanted)
    if found is not None:
        return str(found["uuid"])
    names = ", ".join(sorted(str(env.get("name")) for env in environments)) or "none"
    raise NotFoundError(
        f"deployment environment {wanted!r} not found in {target.workspace}/{target.repository} (it has: {names}): "
        "give its name, slug or uuid",
        404,
    )


class Applier:
    """Runs a plan's writes with bounded concurrency. A 409 on create becomes an update, a 404 on update a create,
    and a fatal answer (credentials, scope, rate limit, unreachable) stops what has not started yet."""

    def __init__(self, client: BitbucketClient, target: Target, path: str, concurrency: int):
        self.client, self.target, self.path, self.concurrency = client, target, path, concurrency
        self._stop: ApiError | None = None
        self._relist_lock = threading.Lock()
        self._relisted: dict[str, RemoteVariable] = {}
        self._relist_generation = 0

    def run(self, plan: Plan, result: SyncResult) -> None:
        outcomes = self.execute(plan.writes)
        for op in plan.operations:
            action, error = outcomes.get(op.key, ("unchanged", None) if op.action is Action.UNCHANGED
                                         else ("failed", "no outcome was recorded for this write"))
            if error is not None:
                result.failed.append({"key": op.key, "error": error})
            else:
                getattr(result, action).append(op.key)
        if self._stop is not None:
            result.error = str(self._stop)

    def execute(self, writes: list[Operation]) -> dict[str, tuple[str, str | None]]:
        """{key: (what happened, error or None)} for every write."""
        outcomes: dict[str, tuple[str, str | None]] = {}
        pending = iter(writes)
        take = threading.Lock()

        def worker() -> None:
            # Workers pull one write at a time, so memory stays flat however many writes there are (a pool's map
            # would queue a future for every one up front).
            while True:
                with take:
                    op = next(pending, None)
                if op is None:
                    return
                try:
                    outcomes[op.key] = self._run_one(op)
                except Exception as exc:  # a bug must still leave this key reported, as failed
                    outcomes[op.key] = ("failed", f"internal error ({type(exc).__name__}: {exc})")

        workers = [threading.Thread(target=worker, name=f"bbvars-{n}", daemon=True)
                   for n in range(min(self.concurrency, len(writes)))]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        return outcomes

    def _run_one(self, op: Operation) -> tuple[str, str | None]:
        if self._stop is not None:
            return "failed", f"{NOT_ATTEMPTED}{self._stop}"
        try:
            return self._execute(op), None
        except ApiError as exc:
            if exc.fatal and self._stop is None:
                self._stop = exc
            return "failed", str(exc)

    def _execute(self, op: Operation) -> str:
        if op.action is Action.CREATE:
            return self._create(op.variable)
        if op.action is Action.UPDATE:
            try:
                self.client.update_variable(self.path, op.remote.uuid, op.variable, self.target)
                return "updated"
            except NotFoundError:
                # Deleted by someone else since we listed: what the input wants is for it to exist (and if it was
                # re-created meanwhile, the create's 409 handling makes it what the input says).
                return self._create(op.variable)
        try:
            self.client.delete_variable(self.path, op.remote.uuid, op.key, self.target)
        except NotFoundError:
            pass  # already gone: the wanted state holds
        return "deleted"

    def _create(self, variable: Variable) -> str:
        generation = self._relist_generation
        try:
            self.client.create_variable(self.path, variable, self.target)
            return "created"
        except ConflictError as conflict:
            # Created by someone else since we listed: find it and make it what the input says. After a retry, the
            # someone is most likely our own first attempt, which reached Bitbucket though its answer did not: the
            # key did not exist when listed and does now, so this run created it.
            ours = isinstance(conflict, RetriedConflict)
            remote = self._find(variable.key, generation)
            if remote is None:
                raise ApiError(f"Bitbucket says {variable.key} exists (409) but does not list it: re-run") from None
            if not needs_update(variable, remote):
                return "created" if ours else "unchanged"
            self.client.update_variable(self.path, remote.uuid, variable, self.target)
            return "created" if ours else "updated"

    def _find(self, key: str, seen_generation: int) -> RemoteVariable | None:
        with self._relist_lock:
            # One fresh listing serves every conflict that arose before it was taken.
            if self._relist_generation == seen_generation or key not in self._relisted:
                listed = self.client.list_variables(self.path, self.target)
                self._relisted = {v.key: v for v in listed}
                self._relist_generation += 1
            return self._relisted.get(key)


def sync(
    client: BitbucketClient,
    target: Target,
    desired: list[Variable],
    *,
    prune: bool = False,
    dry_run: bool = False,
    concurrency: int = 8,
    redactor: Redactor | None = None,
) -> SyncResult:
    redactor = redactor or Redactor()
    for variable in desired:
        if variable.secured:
            redactor.add(variable.value)
    result = SyncResult(target, dry_run)
    try:
        environment_uuid = resolve_environment(client, target) if target.scope == "deployment" else None
        path = collection_path(target, environment_uuid)
        existing = client.list_variables(path, target)
    except BbvarsError as exc:
        # Nothing could be compared, so nothing was written: every input key failed for this one cause.
        result.error = redactor(str(exc))
        result.failed = [{"key": v.key, "error": result.error} for v in desired]
        result.requests = client.requests_sent
        return result
    plan = make_plan(desired, existing, prune=prune)
    if dry_run:
        for op in plan.operations:
            bucket = {Action.CREATE: result.created, Action.UPDATE: result.updated,
                      Action.UNCHANGED: result.unchanged, Action.DELETE: result.deleted}[op.action]
            bucket.append(op.key)
    else:
        Applier(client, target, path, concurrency).run(plan, result)
    result.failed = [{"key": f["key"], "error": redactor(f["error"])} for f in result.failed]
    result.error = redactor(result.error) if result.error else None
    result.requests = client.requests_sent
    return result


def run_sync(
    settings: Settings,
    variables: list[Variable],
    redactor: Redactor,
    log: Callable[[str], None] | None = None,
    retry: RetryPolicy | None = None,
) -> SyncResult:
    if settings.prune and not variables:
        # `terraform output -json` without a state prints {}: with prune that would empty the target.
        raise InputError(
            f"the input has no variables, and with prune that would delete every variable of "
            f"{target_of(settings).describe()}: give at least one variable, or leave prune out"
        )
    if not variables:
        return SyncResult(target_of(settings), settings.dry_run)  # nothing to write: no request either
    client, _ = open_client(settings, redactor, log, retry)
    with client:
        return sync(
            client,
            target_of(settings),
            variables,
            prune=settings.prune,
            dry_run=settings.dry_run,
            concurrency=settings.concurrency,
            redactor=redactor,
        )
