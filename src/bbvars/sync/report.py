"""Rendering a SyncResult for people: the plan-like summary every surface shows in its own way."""

from __future__ import annotations

import json
import re

from bbvars.models import Target
from bbvars.sync import budget
from bbvars.sync.plan import FINGERPRINT_DIFFERS, NO_FINGERPRINT, SECURED_FLAG
from bbvars.sync.result import NOT_ATTEMPTED, RunResult, SyncResult

# What json.dumps(ensure_ascii=False) leaves raw though a terminal may act on it: DEL, C1 (0x9b is CSI) and the
# Unicode line separators. They can only be inside JSON strings, where \uXXXX means the same character.
RAW_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029]")


def json_text(document) -> str:
    """JSON with non-ASCII text kept readable, yet no character a terminal would act on."""
    return RAW_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(document, indent=2, ensure_ascii=False))


def to_json(result: SyncResult) -> str:
    return json_text(result.as_json())


LINE_LIMIT = 200  # about one terminal line and a half: a long cause is cut, the JSON report keeps it whole
NAMED_KEYS = 3  # a cause shared by more keys than this is told with their count; the keys are in the JSON


def shorten(text: str, limit: int = LINE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def failure_groups(result: SyncResult) -> list[tuple[str, list[str], int]]:
    """(cause, keys, how many of them were not attempted), one per distinct cause, the run's stopping cause first."""
    groups: dict[str, tuple[list[str], list[int]]] = {}
    if result.error:
        groups[result.error] = ([], [0])
    for failure in sorted(result.failed, key=lambda f: f["key"]):
        keys, skipped = groups.setdefault(result.cause(failure), ([], [0]))
        keys.append(failure["key"])
        skipped[0] += failure["error"].startswith(NOT_ATTEMPTED)
    return [(cause, keys, skipped[0]) for cause, (keys, skipped) in groups.items()]


def keys_failed(keys: list[str], skipped: int) -> str:
    if not keys:
        return ""
    if len(keys) <= NAMED_KEYS:
        return f"{', '.join(keys)} failed"
    return f"{len(keys)} keys not written" + (f" ({skipped} not attempted)" if skipped else "")


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
    lines += [f"- {key} (already gone: deleted by someone else)" for key in sorted(result.gone)]
    lines += [f"warning: {line}" for line in result.warnings]  # names escaped already (SyncResult.note_foreign)
    for cause, keys, skipped in failure_groups(result):
        if cause == result.error or not keys:
            continue  # the cause that stopped the run is told once, in the failure line every surface prints
        if len(keys) == 1:
            lines.append(shorten(f"! {keys[0]}: {cause}"))
        else:
            lines.append(shorten(f"! {keys_failed(keys, skipped)}: {cause}"))
    return lines


def cost_lines(cost: dict | None, dry_run: bool) -> list[str]:
    """The requests a run needs and sent (budget.py), and, for a dry run over the hour's budget, the ways out."""
    if not cost or not (dry_run or cost["exact"]):
        return []  # a real run that could not list a target: its bound says little, the JSON report has it
    hourly = budget.hourly_line(cost) if dry_run else None
    return [budget.cost_line(cost, dry_run)] + ([hourly] if hourly else [])


def failure_line(result: SyncResult) -> str:
    """One line naming what failed and why (a cause shared by several keys told once, with their count when there
    are many), then what was written all the same: what every surface says when a sync did not fully succeed."""
    groups = failure_groups(result)
    shown, rest = groups[:NAMED_KEYS], groups[NAMED_KEYS:]
    budget = max(70, LINE_LIMIT // max(1, len(shown)))  # for each cause's own words; a cut one is whole in the JSON
    parts = [f"{keys_failed(keys, skipped)}: {shorten(cause, budget)}" if keys else shorten(cause, budget)
             for cause, keys, skipped in shown]
    if rest:
        parts.append(f"{sum(len(keys) for _, keys, _ in rest)} more keys failed for {len(rest)} other causes "
                     "(see the JSON report)")
    done = [f"{len(keys)} {verb}" for keys, verb in ((result.created, "created"), (result.updated, "updated"),
                                                      (result.deleted, "deleted")) if keys]
    return f"{result.target.describe()}: {'; '.join(parts)}" + (f" (still done: {', '.join(done)})" if done else "")


def counts(result: SyncResult) -> str:
    verbs = ("to create", "to update", "unchanged", "to delete") if result.dry_run else (
        "created", "updated", "unchanged", "deleted")
    numbers = (len(result.created), len(result.updated), len(result.unchanged), len(result.deleted))
    text = ", ".join(f"{n} {verb}" for n, verb in zip(numbers, verbs))
    if result.gone:
        text += f", {len(result.gone)} already gone"
    if result.failed:
        text += f", {len(result.failed)} failed"
    return text + (" (dry run: nothing written)" if result.dry_run else "")


def summary(result: SyncResult) -> list[str]:
    return [f"{result.target.describe()}: {counts(result)}", *change_lines(result),
            *cost_lines(result.cost, result.dry_run)]


# -- many targets (a manifest) --------------------------------------------------------------------------------------


def run_to_json(run: RunResult) -> str:
    return json_text(run.as_json())


def heading(result: SyncResult) -> str:
    """A target as the summary names it: its name in the manifest first, when it has one."""
    return f"{result.name} ({result.target.describe()})" if result.name else result.target.describe()


def run_counts(run: RunResult) -> str:
    total = SyncResult(Target(""), run.dry_run)  # the sum of every target's lists
    for result in run.targets:
        for bucket in ("created", "updated", "unchanged", "deleted", "gone", "failed"):
            getattr(total, bucket).extend(getattr(result, bucket))
    return f"{len(run.targets)} target{'s' if len(run.targets) != 1 else ''}: {counts(total)}"


def run_summary(run: RunResult) -> list[str]:
    """One ordered plan across the targets: each target's counts and changes in the manifest's order, then the
    total."""
    lines: list[str] = []
    for result in run.targets:
        per_target = counts(result).removesuffix(" (dry run: nothing written)")  # said once, in the total
        lines += [f"{heading(result)}: {per_target}", *(f"  {line}" for line in change_lines(result)),
                  *(f"  {line}" for line in cost_lines(result.cost, result.dry_run) if len(run.targets) > 1)]
    return lines + [run_counts(run), *cost_lines(run.cost, run.dry_run)]


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
