"""What a run did: one SyncResult per target, gathered in a RunResult. Plain data; rendering is report.py's."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bbvars.errors import CANCELLED  # noqa: F401 - the error of a write not sent because the run was cancelled
from bbvars.models import Target

NOT_ATTEMPTED = "not attempted: "  # the error of a write skipped because an earlier one stopped the run


def without_request(message: str, key: str) -> str:
    """A write's error without the request it names ("creating K00"): the cause as others share it, so a key
    never tried is not told it failed in a request it did not make."""
    return re.sub(rf" (?:creating|updating|deleting) {re.escape(key)}\b", "", message, count=1)


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
    requests: int = 0  # every request of the run this target was part of, the token's included
    name: str | None = None  # the target's name in a manifest, when it has one
    secured: set[str] = field(default_factory=set)  # keys that are (or, deleted, were) secured: for the summary
    reasons: dict[str, str] = field(default_factory=dict)  # updated key -> why (plan.VALUE_DIFFERS, ...)
    fingerprints: str | None = None  # what became of BBVARS_FINGERPRINTS: created/updated/unchanged/failed
    cost: dict | None = None  # requests needed and spent (budget.py): the report's `requests`

    @property
    def ok(self) -> bool:
        return not self.failed and self.error is None

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

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.targets)

    @property
    def changed(self) -> bool:
        return any(result.changed for result in self.targets)

    def as_json(self) -> dict:
        return {"dry_run": self.dry_run, "targets": [result.as_json() for result in self.targets], "ok": self.ok,
                **({"requests": self.cost} if self.cost else {})}
