"""Rendering a RunResult for people: the plan-like summary every surface shows in its own way. A single-target
sync is a run of one, told in its own shape (its JSON object, its one-line summary heading); a manifest's run has a
heading per target and the totals (RunResult.manifest says which)."""

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


def to_json(run: RunResult) -> str:
    """The JSON report: one target's object, or a manifest's run with its targets and `ok`."""
    return json_text(run.as_json() if run.manifest else run.targets[0].as_json())


LINE_LIMIT = 200  # about one terminal line and a half: a long cause is cut, the JSON report keeps it whole
MIN_CAUSE = 100  # a cause is never cut shorter than this, even when its fix is long
MIN_QUOTED = 24  # nor Bitbucket's own words in it
MAX_FIX = 300  # bbvars' fixes are shorter: a longer "fix" is a server's text, cut as any other
NAMED_KEYS = 3  # a cause shared by more keys than this is told with their count; the keys are in the JSON


def split_fix(text: str) -> tuple[str, str]:
    """(cause, fix): a message reads `cause: fix`, the first `: ` outside parentheses (Bitbucket's own words, in
    parentheses, may hold their own)."""
    depth = 0
    for index, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if depth == 0 and text.startswith(": ", index):
            return text[:index], text[index + 2:]
    return text, ""


def shorten(text: str, limit: int = LINE_LIMIT) -> str:
    """At most `limit` characters, the cause cut and never the fix: what to do stays whole even when the line is
    then longer (the JSON report keeps the cause whole)."""
    if len(text) <= limit:
        return text
    cause, fix = split_fix(text)
    if not fix or len(fix) > MAX_FIX:  # no fix, or not one: text that came with the answer
        return cut(text, limit)
    room = max(MIN_CAUSE, limit - len(fix) - 2)
    # Bitbucket's words in parentheses go first, then the end of the cause.
    quoted = max(re.finditer(r"\(([^()]*)\)", cause), key=lambda m: len(m.group(1)), default=None)
    if quoted is None:
        return f"{cut(cause, room)}: {fix}"
    keep = max(MIN_QUOTED, len(quoted.group(1)) - (len(cause) - room))
    return f"{cause[: quoted.start(1)]}{cut(quoted.group(1), keep)}{cause[quoted.end(1):]}: {fix}"


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, ending in `…`, at a word's end when one is near."""
    if len(text) <= limit:
        return text
    kept = text[: limit - 1].rstrip()
    space = kept.rfind(" ")
    return (kept[:space] if space > len(kept) - 12 else kept).rstrip(" ,;:") + "…"


# A write's retry time differs by a second from key to key: "after 6 attempts over 16s" and "over 17s" are one cause.
DURATION = re.compile(r" over (\d+(?:-\d+)?)s\b")


def cause_key(cause: str) -> str:
    return DURATION.sub(" over Ns", cause)


def merged_cause(causes: list[str]) -> str:
    """One text for causes that differ only by their retry time: the range of times."""
    seconds = sorted({int(n) for cause in causes for m in DURATION.findall(cause) for n in m.split("-")})
    if len(seconds) < 2:
        return causes[0]
    return DURATION.sub(f" over {seconds[0]}-{seconds[-1]}s", causes[0], count=1)


def failure_groups(result: SyncResult) -> list[tuple[str, list[str], int]]:
    """(cause, keys, how many of them were not attempted), one per distinct cause, the run's stopping cause first."""
    groups: dict[str, tuple[list[str], list[int], list[str]]] = {}
    if result.error:
        groups[cause_key(result.error)] = ([], [0], [result.error])
    for failure in sorted(result.failed, key=lambda f: f["key"]):
        cause = result.cause(failure)
        keys, skipped, texts = groups.setdefault(cause_key(cause), ([], [0], []))
        keys.append(failure["key"])
        skipped[0] += failure["error"].startswith(NOT_ATTEMPTED)
        texts.append(cause)
    return [(merged_cause(texts), keys, skipped[0]) for keys, skipped, texts in groups.values()]


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
    text = REASON_TEXT.get(reason) if reason is not None else None
    parts = (["secured"] if secured else []) + ([text] if text else [])
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
        if (result.error and cause_key(cause) == cause_key(result.error)) or not keys:
            continue  # the cause that stopped the run is told once, in the failure line every surface prints
        head = f"! {keys[0] if len(keys) == 1 else keys_failed(keys, skipped)}: "
        lines.append(head + shorten(cause, LINE_LIMIT - len(head)))
    return lines


def cost_lines(cost: dict | None, dry_run: bool) -> list[str]:
    """The requests a run needs and sent (budget.py), and, for a dry run over the hour's budget, the ways out."""
    if not cost or not (dry_run or cost["exact"]):
        return []  # a real run that could not list a target: its bound says little, the JSON report has it
    hourly = budget.hourly_line(cost) if dry_run else None
    return [budget.cost_line(cost, dry_run)] + ([hourly] if hourly else [])


def _failure_line(result: SyncResult) -> str:
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


def _target_counts(result: SyncResult) -> str:
    verbs = ("to create", "to update", "unchanged", "to delete") if result.dry_run else (
        "created", "updated", "unchanged", "deleted")
    numbers = (len(result.created), len(result.updated), len(result.unchanged), len(result.deleted))
    text = ", ".join(f"{n} {verb}" for n, verb in zip(numbers, verbs))
    if result.gone:
        text += f", {len(result.gone)} already gone"
    if result.failed:
        text += f", {len(result.failed)} failed"
    return text + (" (dry run: nothing written)" if result.dry_run else "")


def summary(run: RunResult) -> list[str]:
    """One target: its counts, changes and requests. A manifest's run: one ordered plan across the targets, each
    target's counts and changes in the manifest's order, then the total."""
    if not run.manifest:
        result = run.targets[0]
        return [f"{result.target.describe()}: {_target_counts(result)}", *change_lines(result),
                *cost_lines(result.cost, result.dry_run)]
    lines: list[str] = []
    for result in run.targets:
        per_target = _target_counts(result).removesuffix(" (dry run: nothing written)")  # said once, in the total
        lines += [f"{heading(result)}: {per_target}", *(f"  {line}" for line in change_lines(result)),
                  *(f"  {line}" for line in cost_lines(result.cost, result.dry_run) if len(run.targets) > 1)]
    return lines + [counts(run), *cost_lines(run.cost, run.dry_run)]


def heading(result: SyncResult) -> str:
    """A target as the summary names it: its name in the manifest first, when it has one."""
    return f"{result.name} ({result.target.describe()})" if result.name else result.target.describe()


def counts(run: RunResult) -> str:
    """What the run did, in counts: one target's, or a manifest's total over its targets."""
    if not run.manifest:
        return _target_counts(run.targets[0])
    total = SyncResult(Target(""), run.dry_run)  # the sum of every target's lists
    for result in run.targets:
        for bucket in ("created", "updated", "unchanged", "deleted", "gone", "failed"):
            getattr(total, bucket).extend(getattr(result, bucket))
    return f"{len(run.targets)} target{'s' if len(run.targets) != 1 else ''}: {_target_counts(total)}"


def failure_lines(run: RunResult) -> list[str]:
    """One line per failed target (none when the run succeeded); in a manifest's run, a cause that alone stopped
    several targets (a refused credential) is told once."""
    if not run.manifest:
        return [] if run.ok else [_failure_line(run.targets[0])]
    lines: list[str] = []
    shared: dict[str, list[SyncResult]] = {}
    for result in run.targets:
        if result.ok:
            continue
        if result.error and not result.changed and all(result.cause(f) == result.error for f in result.failed):
            shared.setdefault(result.error, []).append(result)
        else:
            lines.append(_failure_line(result))
    for cause, results in shared.items():
        if len(results) == 1:
            lines.append(_failure_line(results[0]))
        else:
            lines.append(f"{cause} ({len(results)} targets not done: {', '.join(heading(r) for r in results)})")
    return lines
