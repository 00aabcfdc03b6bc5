"""What a run did: one SyncResult per target, gathered in a RunResult. Plain data; rendering is report.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bbvars.errors import (
    CANCELLED,  # noqa: F401 - the error of a write not sent because the run was cancelled
    setting,
)
from bbvars.models import Target

NOT_ATTEMPTED = "not attempted: "  # the error of a write skipped because an earlier one stopped the run
FOREIGN_SHOWN = 5  # foreign keys named in the warning; the rest are counted
FOREIGN_WIDTH = 60  # characters of each escaped name shown


def escaped(key: str) -> str:
    """A key that is no valid variable name, safe to print on one line anywhere: printable ASCII kept, except quotes,
    backslash, backtick and dollar; everything else (control characters, line breaks, non-ASCII) as \\xNN / \\uNNNN.
    So a shown name holds no quote to close a string, no line break to start a command, and no `$(...)` to run."""
    out: list[str] = []
    width = 0
    for char in key:
        code = ord(char)
        if 0x20 <= code < 0x7F and char not in "\"'`$\\":
            piece = char
        else:
            piece = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        if width + len(piece) > FOREIGN_WIDTH:
            return "".join(out) + "..."  # cut between characters, never inside an escape
        out.append(piece)
        width += len(piece)
    return "".join(out)


def without_request(message: str, key: str | None = None) -> str:
    """A write's error without the request it names ("creating K00"; any valid key when `key` is not given): the
    cause as others share it, so a key never tried is not told it failed in a request it did not make."""
    named = re.escape(key) if key is not None else r"[A-Za-z_][A-Za-z0-9_]*"
    return re.sub(rf" (?:creating|updating|deleting) {named}\b", "", message, count=1)


@dataclass
class SyncResult:
    target: Target
    dry_run: bool
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # keys prune found already deleted (its DELETE answered 404)
    failed: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None  # the cause that stopped the run, when one did
    requests: int = 0  # every request of the run this target was part of, the token's included
    name: str | None = None  # the target's name in a manifest, when it has one
    secured: set[str] = field(default_factory=set)  # keys that are (or, deleted, were) secured: for the summary
    reasons: dict[str, str] = field(default_factory=dict)  # updated key -> why (plan.VALUE_DIFFERS, ...)
    fingerprints: str | None = None  # what became of BBVARS_FINGERPRINTS: created/updated/unchanged/failed
    # Listed keys that are no valid variable name (see plan.VARIABLE_NAME), as listed. Never in a list of the report
    # or an output: only counted there, and named escaped in `warnings`.
    foreign: tuple[str, ...] = ()
    warnings: list[str] = field(default_factory=list)  # one line each, safe to print (names escaped)
    cost: dict | None = None  # requests needed and spent (budget.py): the report's `requests`

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

    def note_foreign(self, keys: tuple[str, ...]) -> None:
        """Record the listed keys that are no valid variable name, in one warning line naming them escaped."""
        self.foreign = keys
        if not keys:
            return
        named = ", ".join(f'"{escaped(key)}"' for key in keys[:FOREIGN_SHOWN])
        more = f" and {len(keys) - FOREIGN_SHOWN} more" if len(keys) > FOREIGN_SHOWN else ""
        self.warnings.append(
            f"{self.target.describe()} lists {len(keys)} key(s) that are no valid variable name, left alone (not "
            f"deleted, updated or reported; shown escaped): {named}{more}: Bitbucket allows only "
            f"[A-Za-z_][A-Za-z0-9_]*, so check {setting('api_url')}")

    def cause(self, failure: dict[str, str]) -> str:
        """A failure's cause, with the one that stopped the whole run given as itself (told once, not per key)."""
        shared = without_request(failure["error"], failure["key"])
        if self.error and (failure["error"] in (self.error, NOT_ATTEMPTED + self.error) or shared == self.error):
            return self.error
        return shared

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def as_json(self) -> dict:
        named = {"name": self.name} if self.name is not None else {}
        return {
            **named,
            "target": self.target.as_json(),
            "dry_run": self.dry_run,
            "created": sorted(self.created),
            "updated": sorted(self.updated),
            "unchanged": sorted(self.unchanged),
            "deleted": sorted(self.deleted),
            "failed": sorted(self.failed, key=lambda f: f["key"]),
            # Additions (absent when empty, so the report of a run without them keeps its shape):
            **({"gone": sorted(self.gone)} if self.gone else {}),
            **({"foreign": len(self.foreign)} if self.foreign else {}),
            **({"reasons": dict(sorted(self.reasons.items()))} if self.reasons else {}),
            **({"fingerprints": self.fingerprints} if self.fingerprints else {}),
            **({"requests": self.cost} if self.cost else {}),
        }


@dataclass
class RunResult:
    """Every target of one run, in the order they were given."""

    dry_run: bool
    targets: list[SyncResult] = field(default_factory=list)
    requests: int = 0
    cost: dict | None = None  # requests needed and spent, the run's total (budget.py): the report's `requests`
    # Whether the targets came from a manifest: the report's shape (report.py). A single-target sync is a run of one
    # told as one target (its JSON object, its summary line); a manifest's, even of one target, has headings and totals.
    manifest: bool = False

    @classmethod
    def of(cls, result: SyncResult) -> RunResult:
        """One target's result as a single-target run of its own (what the report renders)."""
        return cls(result.dry_run, [result], result.requests, result.cost)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.targets)

    @property
    def changed(self) -> bool:
        return any(result.changed for result in self.targets)

    def as_json(self) -> dict:
        return {"dry_run": self.dry_run, "targets": [result.as_json() for result in self.targets], "ok": self.ok,
                **({"requests": self.cost} if self.cost else {})}
