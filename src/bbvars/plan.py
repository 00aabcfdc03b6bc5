"""Pure planning: what exists + what is wanted -> the operations to run. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Iterable

from bbvars.models import RemoteVariable, Variable


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    DELETE = "delete"


@dataclass(frozen=True)
class Operation:
    action: Action
    key: str
    variable: Variable | None = None  # what to write (create/update)
    remote: RemoteVariable | None = None  # what exists (update/unchanged/delete)
    others: tuple[RemoteVariable, ...] = ()  # further records Bitbucket lists under the same key

    @property
    def remotes(self) -> tuple[RemoteVariable, ...]:
        """Every record of the key: an update or delete goes to each, so none is left behind."""
        return (self.remote, *self.others) if self.remote is not None else ()


@dataclass(frozen=True)
class Plan:
    operations: tuple[Operation, ...]

    def of(self, action: Action) -> list[Operation]:
        return [op for op in self.operations if op.action is action]

    @property
    def writes(self) -> list[Operation]:
        return [op for op in self.operations if op.action is not Action.UNCHANGED]


def needs_update(wanted: Variable, remote: RemoteVariable) -> bool:
    # A secured value can never be read back, so it can never be shown equal: always overwrite.
    if wanted.secured or remote.secured:
        return True
    return wanted.value != remote.value


def make_plan(desired: Iterable[Variable], existing: Iterable[RemoteVariable], *, prune: bool = False) -> Plan:
    # A listing can hold one key twice (two uuids); every record of it is kept, so each is updated or deleted.
    remotes_by_key: dict[str, list[RemoteVariable]] = {}
    for remote in existing:
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
        action = Action.UPDATE if any(needs_update(wanted, r) for r in remotes) else Action.UNCHANGED
        operations.append(Operation(action, wanted.key, variable=wanted, remote=first, others=others))
    if prune:
        for key, remotes in remotes_by_key.items():
            if key not in wanted_keys:
                operations.append(Operation(Action.DELETE, key, remote=remotes[0], others=tuple(remotes[1:])))
    return Plan(tuple(operations))
