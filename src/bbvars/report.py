"""Rendering a SyncResult for people: the plan-like summary every surface shows in its own way."""

from __future__ import annotations

import json

from bbvars.engine import SyncResult
from bbvars.models import Target
from bbvars.result import RunResult


def to_json(result: SyncResult) -> str:
    return json.dumps(result.as_json(), indent=2, ensure_ascii=False)


def change_lines(result: SyncResult) -> list[str]:
    lines = [f"+ {key}" for key in sorted(result.created)]
    lines += [f"~ {key}" for key in sorted(result.updated)]
    lines += [f"- {key}" for key in sorted(result.deleted)]
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


# -- many targets (a manifest) --------------------------------------------------------------------------------------


def run_to_json(run: RunResult) -> str:
    return json.dumps(run.as_json(), indent=2, ensure_ascii=False)


def heading(result: SyncResult) -> str:
    """A target as the summary names it: its name in the manifest first, when it has one."""
    return f"{result.name} ({result.target.describe()})" if result.name else result.target.describe()


def run_counts(run: RunResult) -> str:
    total = SyncResult(Target(""), run.dry_run)  # the sum of every target's lists
    for result in run.targets:
        for bucket in ("created", "updated", "unchanged", "deleted", "failed"):
            getattr(total, bucket).extend(getattr(result, bucket))
    return f"{len(run.targets)} target{'s' if len(run.targets) != 1 else ''}: {counts(total)}"


def run_summary(run: RunResult) -> list[str]:
    """One ordered plan across the targets: each target's counts and changes in the manifest's order, then the
    total."""
    lines: list[str] = []
    for result in run.targets:
        per_target = counts(result).removesuffix(" (dry run: nothing written)")  # said once, in the total
        lines += [f"{heading(result)}: {per_target}", *(f"  {line}" for line in change_lines(result))]
    return lines + [run_counts(run)]


def run_failure_lines(run: RunResult) -> list[str]:
    """One line per failed target; a cause that alone stopped several targets (a refused credential) told once."""
    lines: list[str] = []
    shared: dict[str, list[SyncResult]] = {}
    for result in run.targets:
        if result.ok:
            continue
        if result.error and not result.changed and all(result.cause(f) == result.error for f in result.failed):
            shared.setdefault(result.error, []).append(result)
        else:
            lines.append(failure_line(result))
    for cause, results in shared.items():
        if len(results) == 1:
            lines.append(failure_line(results[0]))
        else:
            lines.append(f"{cause} ({len(results)} targets not done: {', '.join(heading(r) for r in results)})")
    return lines
