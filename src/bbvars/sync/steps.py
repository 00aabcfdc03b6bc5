"""The per-target steps the engine runs around a plan: the prune policy and fingerprint key a run's settings ask
for, refusing a plan that deletes too much, and the write that keeps the fingerprint variable true after that
target's writes. Everything but `finish_fingerprints` (which is handed the engine's write function) is pure."""

from __future__ import annotations

from typing import Callable, Mapping

from bbvars.sync import fingerprints
from bbvars.models import Target
from bbvars.sync.plan import Action, Operation, Plan, PrunePolicy
from bbvars.sync.result import NOT_ATTEMPTED, SyncResult
from bbvars.request.settings import Settings

Execute = Callable[[list[Operation]], dict[str, tuple[str, str | None]]]  # Applier.execute


def credential_secret(settings: Settings) -> str:
    """The secret of the credential the run uses (auth.choose, as engine.open_client), from which the
    fingerprint key is derived when BBVARS_FINGERPRINT_KEY is not set. Each credential kind names its secret here;
    it must stay the same from run to run (a rotating refresh token would not: such a kind should name the secret
    it is minted with), else every secured value is rewritten on every run."""
    from bbvars.auth import choose  # the same choice engine.open_client makes
    from bbvars.errors import InputError

    try:
        return choose(settings).fingerprint_secret
    except InputError:
        return ""  # no credential at all: validate() has said so already, or will


def fingerprint_key(settings: Settings) -> bytes | None:
    """The run's HMAC key for fingerprints (whichever targets turn them on), or None when there is nothing secret to
    derive it from: never a key from an empty string, which anyone could compute."""
    material = settings.fingerprint_key or credential_secret(settings)
    return fingerprints.derive_key(material) if material else None


def prune_policy(settings: Settings) -> PrunePolicy:
    from bbvars.request.documents import final_key

    # The prefix as it appears in the keys (after upper): prune touches only the keys this input owns.
    return PrunePolicy(settings.prune, final_key("", settings.prefix, settings.upper), settings.protect,
                       settings.max_deletes)


def refusal(plan: Plan, policy: PrunePolicy, target: Target) -> str | None:
    """Why the whole plan is refused, if it is: prune would delete more variables than max_deletes allows. Counted
    in variables, one per DELETE request: a key listed three times is three variables to delete."""
    count = plan.delete_requests
    if policy.max_deletes is None or count <= policy.max_deletes:
        return None
    keys = sorted((op.key, len(op.remotes)) for op in plan.of(Action.DELETE))
    shown = ", ".join(key + (f" listed {times} times" if times > 1 else "") for key, times in keys[:3])
    shown += f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return (f"prune would delete {count} variables of {target.describe()} ({shown}), over the max-deletes "
            f"limit of {policy.max_deletes}: nothing was written; check the input, or raise the limit")


def explain(plan: Plan, result: SyncResult) -> None:
    """What the summary says besides the lists: which keys are secured, and why each update is planned."""
    result.secured = {op.key for op in plan.operations if (op.variable or op.remote).secured}
    updated = set(result.updated)
    result.reasons = {op.key: op.reason for op in plan.of(Action.UPDATE) if op.key in updated and op.reason}


def refuse(plan: Plan, policy: PrunePolicy, result: SyncResult) -> bool:
    """Refuse the plan when it deletes more than max_deletes allows (see hold); whether it was refused."""
    refused = refusal(plan, policy, result.target)
    if refused is not None:
        hold(plan, result, refused)
    return refused is not None


def hold(plan: Plan, result: SyncResult, cause: str) -> None:
    """Record a plan that is not applied because of `cause`: nothing is written; every input key is reported once
    (unchanged ones as unchanged, the rest failed as not attempted), and a dry run still shows the plan, with what
    prune would delete."""
    for op in plan.operations:
        if result.dry_run or op.action is Action.UNCHANGED:
            bucket = {Action.CREATE: result.created, Action.UPDATE: result.updated,
                      Action.UNCHANGED: result.unchanged, Action.DELETE: result.deleted}[op.action]
            bucket.append(op.key)
        elif op.action is not Action.DELETE:
            result.failed.append({"key": op.key, "error": NOT_ATTEMPTED + cause})
    result.error = cause
    explain(plan, result)


def finish_fingerprints(
    book: fingerprints.Book,
    plan: Plan,
    expected: Mapping[str, str] | None,
    succeeded: set[str],
    *,
    dry_run: bool,
    execute: Execute,
) -> tuple[str | None, str | None]:
    """After a target's writes: write the fingerprint variable if its value changes. Answers what became of it
    (created/updated/unchanged/failed, None when fingerprints are off and it was not touched) and an error."""
    op = book.pending(plan, expected, succeeded)
    if op is None:
        return ("unchanged" if book.on else None), None
    if dry_run:
        return ("created" if op.action is Action.CREATE else "updated"), None
    outcome, error = execute([op])[op.key]
    if error is not None:
        return "failed", (f"could not write {fingerprints.VARIABLE} (the fingerprints of secured values; the next "
                          f"run rewrites them once): {error}")
    return outcome, None
