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
    remote_by_key: dict[str, RemoteVariable] = {}
    for remote in existing:
        remote_by_key.setdefault(remote.key, remote)
    operations: list[Operation] = []
    wanted_keys: set[str] = set()
    for wanted in desired:
        wanted_keys.add(wanted.key)
        remote = remote_by_key.get(wanted.key)
        if remote is None:
            operations.append(Operation(Action.CREATE, wanted.key, variable=wanted))
        elif needs_update(wanted, remote):
            operations.append(Operation(Action.UPDATE, wanted.key, variable=wanted, remote=remote))
        else:
            operations.append(Operation(Action.UNCHANGED, wanted.key, variable=wanted, remote=remote))
    if prune:
        for key, remote in remote_by_key.items():
            if key not in wanted_keys:
                operations.append(Operation(Action.DELETE, key, remote=remote))
    return Plan(tuple(operations))
