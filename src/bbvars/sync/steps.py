"""The per-target steps the engine runs around a plan: the prune policy and fingerprint key a run's request asks
for, refusing a plan that deletes too much, and the write that keeps the fingerprint variable true after that
target's writes. Everything but `finish_fingerprints` (which is handed the engine's write function) is pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bbvars.errors import InputError, setting
from bbvars.models import Policy, Target
from bbvars.sync import fingerprints
from bbvars.sync.plan import Action, Operation, Plan, PrunePolicy
from bbvars.sync.result import NOT_ATTEMPTED, SyncResult

Execute = Callable[[list[Operation]], dict[str, tuple[str, str | None]]]  # Applier.execute


def fingerprint_key(text: str | None, wanted: bool) -> bytes | None:
    """The run's HMAC key for fingerprints (whichever targets turn them on), None when no target does. Only from
    BBVARS_FINGERPRINT_KEY, never from the credential (whose holder could then test guesses of a secured value
    offline against the plain variable): a missing or weak key is refused before any request."""
    if not wanted:
        return None
    problem = fingerprints.key_problem(text)
    if problem is not None:
        raise InputError(f"{setting('fingerprint_key')} {problem}")
    return fingerprints.derive_key((text or "").strip())


def prune_policy(policy: Policy) -> PrunePolicy:
    # The prefix as it appears in the keys (the request has applied upper): prune touches only the keys this input
    # owns.
    return PrunePolicy(policy.prune, policy.prefix, policy.protect, policy.max_deletes)


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
    result.secured = {op.key for op in plan.operations if op.secured}
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
    succeeded: set[str],
    written_uuids: Mapping[str, str],
    *,
    dry_run: bool,
    execute: Execute,
    refused: str | None = None,
) -> tuple[str | None, str | None]:
    """After a target's writes: write the fingerprint variable if its value changes. Answers what became of it
    (created/updated/unchanged/failed, None when fingerprints are off and it was not touched) and an error.
    `written_uuids`: the uuid of the record each write left; a dry run, which writes nothing, takes an update's
    record as it is listed and a create's as a placeholder, so it says whether the variable would change."""
    if dry_run:
        written_uuids = {op.key: op.remote.uuid if op.remote is not None else "(created)" for op in plan.writes}
    op = book.pending(plan, succeeded, written_uuids)
    if op is None:
        return ("unchanged" if book.on else None), None
    if dry_run:
        return ("created" if op.action is Action.CREATE else "updated"), None
    if refused is not None:
        return "not written", unrecorded(book, plan, succeeded, refused)
    outcome, error = execute([op])[op.key]
    if error is not None:
        return "failed", (f"could not write {fingerprints.VARIABLE} (the fingerprints of secured values; the next "
                          f"run rewrites them once): {error}")
    return outcome, None


def unrecorded(book: fingerprints.Book, plan: Plan, succeeded: set[str], cause: str) -> str:
    """Why the fingerprint variable was not written (`cause`: the run stopped, as a lasting rate limit refuses every
    request), and what that costs the next run: the secured values written now are rewritten once, and until
    then an entry of a key written now still describes its earlier value."""
    written = sorted(op.key for op in plan.writes if op.key in succeeded and op.secured)
    stale = [key for key in written if key in book.recorded]
    named = ", ".join(stale[:3]) + (f" and {len(stale) - 3} more" if len(stale) > 3 else "")
    until = (f"; until then its entries for {named} still describe their earlier values, so a re-run asking for "
             "those earlier values would take them as unchanged" if stale else "")
    return (f"{fingerprints.VARIABLE} not written, as {cause}: the {len(written)} secured value(s) written by this "
            f"run are not recorded, so the next run rewrites them once{until}")
