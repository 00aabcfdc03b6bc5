"""Pure planning: what exists + what is wanted -> the operations to run. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase

from bbvars.models import RemoteVariable, Variable

# Bitbucket's own rule for a variable name. A listed key outside it did not come from Bitbucket as documented (a
# hostile or wrong API): such a key is foreign, and bbvars neither writes it nor names it anywhere it could be run.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_variable_name(key: str) -> bool:
    return VARIABLE_NAME.match(key) is not None


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"


# Why an update is planned (the JSON report's `reasons`).
VALUE_DIFFERS = "value differs"
SECURED_FLAG = "secured flag changes"
NO_FINGERPRINT = "no fingerprint"  # secured both sides, and no fingerprint to compare (or fingerprints are off)
FINGERPRINT_DIFFERS = "fingerprint differs"


@dataclass(frozen=True)
class Operation:
    action: Action
    key: str
    variable: Variable | None = None  # what to write (create/update)
    remote: RemoteVariable | None = None  # what exists (update/unchanged/delete)
    reason: str | None = None  # why an update is planned
    others: tuple[RemoteVariable, ...] = ()  # further records Bitbucket lists under the same key

    @property
    def secured(self) -> bool:
        """Whether the key is secured: as the input wants it, else as it exists."""
        thing = self.variable or self.remote
        return thing is not None and thing.secured

    @property
    def remotes(self) -> tuple[RemoteVariable, ...]:
        """Every record of the key: an update or delete goes to each, so none is left behind."""
        return (self.remote, *self.others) if self.remote is not None else ()

    @property
    def replace(self) -> bool:
        """Secured -> plain: Bitbucket cannot unsecure a variable, so a secured record is deleted and the variable
        created again."""
        return (self.action is Action.UPDATE and self.variable is not None and not self.variable.secured
                and any(remote.secured for remote in self.remotes))


@dataclass(frozen=True)
class Plan:
    operations: tuple[Operation, ...]
    foreign: tuple[str, ...] = ()  # listed keys that are no valid variable name, each once: left alone

    @property
    def delete_requests(self) -> int:
        """The variables prune deletes: one request per record, so a key listed twice counts twice."""
        return sum(len(op.remotes) for op in self.of(Action.DELETE))

    def of(self, action: Action) -> list[Operation]:
        return [op for op in self.operations if op.action is action]

    @property
    def writes(self) -> list[Operation]:
        return [op for op in self.operations if op.action is not Action.UNCHANGED]


@dataclass(frozen=True)
class PrunePolicy:
    """What prune may delete: keys not in the input that start with `prefix` and match none of `protect`."""

    enabled: bool = False
    prefix: str = ""
    protect: tuple[str, ...] = ()  # globs (fnmatch, case-sensitive like Bitbucket's keys)
    max_deletes: int | None = None  # checked by the engine: a plan deleting more is refused whole

    def may_delete(self, key: str) -> bool:
        return (self.enabled and key.startswith(self.prefix)
                and not any(fnmatchcase(key, pattern) for pattern in self.protect))


def update_reason(
    wanted: Variable,
    remote: RemoteVariable,
    recorded: Mapping[str, str] | None = None,
    expected: Mapping[str, str] | None = None,
) -> str | None:
    """Why `remote` must be rewritten to be `wanted`, or None when it already is. A secured value can never be read
    back: it is shown equal only when the fingerprint recorded at its last write (`recorded`) equals the wanted
    value's (`expected`)."""
    if wanted.secured != remote.secured:
        return SECURED_FLAG
    if wanted.secured:
        have = (recorded or {}).get(wanted.key)
        want = (expected or {}).get(wanted.key)
        if have is None or want is None:
            return NO_FINGERPRINT
        return None if have == want else FINGERPRINT_DIFFERS
    return None if wanted.value == remote.value else VALUE_DIFFERS


def needs_update(wanted: Variable, remote: RemoteVariable) -> bool:
    return update_reason(wanted, remote) is not None


def make_plan(
    desired: Iterable[Variable],
    existing: Iterable[RemoteVariable],
    *,
    prune: bool | PrunePolicy = False,
    recorded: Mapping[str, str] | None = None,
    expected: Mapping[str, str] | None = None,
) -> Plan:
    """recorded/expected: fingerprints of secured values as last written / as wanted now (None: fingerprints off)."""
    policy = prune if isinstance(prune, PrunePolicy) else PrunePolicy(enabled=prune)
    # A listing can hold one key twice (two uuids); every record of it is kept, so each is updated or deleted.
    remotes_by_key: dict[str, list[RemoteVariable]] = {}
    foreign: dict[str, None] = {}  # ordered, each once
    for remote in existing:
        if not is_variable_name(remote.key):
            foreign[remote.key] = None  # never deleted, never updated: no input key can equal it either
            continue
        remotes_by_key.setdefault(remote.key, []).append(remote)
    operations: list[Operation] = []
    wanted_keys: set[str] = set()
    for wanted in desired:
        wanted_keys.add(wanted.key)
        remotes = remotes_by_key.get(wanted.key)
        if not remotes:
            operations.append(Operation(Action.CREATE, wanted.key, variable=wanted))
            continue
        first, others = remotes[0], tuple(remotes[1:])
        reason = next((why for r in remotes if (why := update_reason(wanted, r, recorded, expected))), None)
        action = Action.UNCHANGED if reason is None else Action.UPDATE
        operations.append(Operation(action, wanted.key, variable=wanted, remote=first, others=others, reason=reason))
    for key, remotes in remotes_by_key.items():
        if key not in wanted_keys and policy.may_delete(key):
            operations.append(Operation(Action.DELETE, key, remote=remotes[0], others=tuple(remotes[1:])))
    return Plan(tuple(operations), tuple(foreign))
