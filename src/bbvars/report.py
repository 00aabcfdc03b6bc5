"""Rendering a SyncResult for people: the plan-like summary every surface shows in its own way."""

from __future__ import annotations

import json

from bbvars.engine import SyncResult
from bbvars.plan import FINGERPRINT_DIFFERS, NO_FINGERPRINT, SECURED_FLAG


def to_json(result: SyncResult) -> str:
    return json.dumps(result.as_json(), indent=2, ensure_ascii=False)


# How the summary says why an update is planned; plan.VALUE_DIFFERS is obvious and not said.
REASON_TEXT = {SECURED_FLAG: None, NO_FINGERPRINT: "no fingerprint", FINGERPRINT_DIFFERS: "fingerprint differs"}


def note(result: SyncResult, key: str) -> str:
    """What the summary adds to a key's line: whether it is secured, and why it is updated when not obvious
    (`secured, no fingerprint`, `was plain`, `was secured: deleted and created plain`)."""
    secured = key in result.secured
    reason = result.reasons.get(key) if key in result.updated else None
    if reason == SECURED_FLAG:
        return "secured, was plain" if secured else "was secured: deleted and created plain"
    parts = (["secured"] if secured else []) + ([REASON_TEXT[reason]] if reason in REASON_TEXT else [])
    return ", ".join(parts)


def change_line(mark: str, result: SyncResult, key: str) -> str:
    text = note(result, key)
    return f"{mark} {key}" + (f" ({text})" if text else "")


def change_lines(result: SyncResult) -> list[str]:
    lines = [change_line("+", result, key) for key in sorted(result.created)]
    lines += [change_line("~", result, key) for key in sorted(result.updated)]
    lines += [change_line("-", result, key) for key in sorted(result.deleted)]
    for failure in sorted(result.failed, key=lambda f: f["key"]):
        # The cause that stopped the whole run is told once (in the error line), not once per key.
        shared = result.cause(failure) == result.error
        lines.append(f"! {failure['key']}" + ("" if shared else f": {failure['error']}"))
    return lines


def failure_line(result: SyncResult) -> str:
    """One line naming every failed key with its cause (a cause shared by several keys told once), then what was
    written all the same: what every surface says when a sync did not fully succeed."""
    causes: dict[str, list[str]] = {}
    for failure in sorted(result.failed, key=lambda f: f["key"]):
        causes.setdefault(result.cause(failure), []).append(failure["key"])
    if result.error and result.error not in causes:
        causes[result.error] = []
    parts = [f"{', '.join(keys)} failed: {cause}" if keys else cause for cause, keys in causes.items()]
    done = [f"{len(keys)} {verb}" for keys, verb in ((result.created, "created"), (result.updated, "updated"),
                                                      (result.deleted, "deleted")) if keys]
    return f"{result.target.describe()}: {'; '.join(parts)}" + (f" (still done: {', '.join(done)})" if done else "")


def counts(result: SyncResult) -> str:
    verbs = ("to create", "to update", "unchanged", "to delete") if result.dry_run else (
        "created", "updated", "unchanged", "deleted")
    numbers = (len(result.created), len(result.updated), len(result.unchanged), len(result.deleted))
    text = ", ".join(f"{n} {verb}" for n, verb in zip(numbers, verbs))
    if result.failed:
        text += f", {len(result.failed)} failed"
    return text + (" (dry run: nothing written)" if result.dry_run else "")


def summary(result: SyncResult) -> list[str]:
    return [f"{result.target.describe()}: {counts(result)}", *change_lines(result)]
