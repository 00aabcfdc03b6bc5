"""Fault rules: make chosen requests fail, stall, reset, or change the state just before they are handled."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bbvars.emulator.emulator import Emulator


@dataclass
class Fault:
    """One rule. The first unspent rule matching a request applies to it and uses up one of its `times`.

    `status` answers that status instead of handling the request; `reset` closes the connection without answering;
    `delay` sleeps first; `action` runs just before normal handling. A rule with only `delay` and/or `action`
    continues to normal handling afterwards.
    """

    method: str | None = None  # None: any method
    path: str | None = None  # regular expression searched in the decoded request path; None: any path
    times: int = 1  # matching requests it applies to before it is spent; -1: forever
    status: int | None = None
    body: str | bytes | None = None  # None: a default fitting the status
    content_type: str | None = None  # None: text/plain for 429 (as Bitbucket does), otherwise application/json
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    delay: float = 0.0
    action: Callable[[Emulator], None] | None = None
    hits: int = field(default=0, init=False)  # how many requests it has applied to so far

    def __post_init__(self) -> None:
        self._pattern = re.compile(self.path) if self.path is not None else None

    def matches(self, method: str, path: str) -> bool:
        if self.times != -1 and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    @property
    def spent(self) -> bool:
        return self.times != -1 and self.hits >= self.times


class FaultRules:
    """Thread-safe, insertion-ordered rules: matching and spending happen under one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._rules.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._rules:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None
