"""Applying plans: every write of every target of a run through one pool of `concurrency` workers, with the conflict
handling (409 on create, 404 on update) and the stop on a fatal answer."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TypeVar

from bbvars.bitbucket.client import BitbucketClient, Halted, RetriedConflict
from bbvars.bitbucket.meter import REQUEST_BUDGET
from bbvars.errors import CANCELLED, ApiError, ConflictError, NotFoundError
from bbvars.events import Events, Written
from bbvars.models import RemoteVariable, Target, Variable
from bbvars.sync import steps
from bbvars.sync.fingerprints import Book
from bbvars.sync.plan import Action, Operation, Plan, needs_update
from bbvars.sync.result import NOT_ATTEMPTED, SyncResult, without_request

Item = TypeVar("Item")
# Waits between re-lists after a 409 whose key the listing does not show yet: 10 s at most in all, so a listing that
# trails writes by a few seconds (the Terraform provider waits 5 s after each create) is waited out. Each re-list is
# taken after the wait before it ended: one taken earlier for another key is shared only if it is that recent.
RELIST_WAITS = (0.25, 0.5, 1.0, 2.0, 3.0, 3.25)


def pause(seconds: float, cancel: threading.Event | None) -> None:
    """Wait between re-lists, or less once the run is cancelled. Tests replace it to let time pass at once."""
    (cancel or threading.Event()).wait(seconds)


def bounded(items: Iterable[Item], concurrency: int, work: Callable[[Item], None]) -> None:
    """work(item) for every item, at most `concurrency` at once. Workers pull one item at a time, so memory stays
    flat however many items there are (a pool's map would queue a future for every one up front)."""
    pending: Iterator[Item] = iter(items)
    take = threading.Lock()
    done = object()

    def worker() -> None:
        while True:
            with take:
                item = next(pending, done)
            if item is done:
                return
            work(item)  # type: ignore[arg-type]

    workers = [threading.Thread(target=worker, name=f"bbvars-{n}", daemon=True) for n in range(max(1, concurrency))]
    for thread in workers:
        thread.start()
    for thread in workers:
        # Joined in short waits: a signal that lands while its handler is already running (a second Ctrl-C right
        # after the first) is only handled once the main thread runs Python code again, never inside one long wait.
        while thread.is_alive():
            thread.join(0.2)


@dataclass
class TargetRun:
    """One target inside a run: where its variables live, its plan, its result, and its own conflict re-listing."""

    target: Target
    path: str
    plan: Plan
    result: SyncResult
    outcomes: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    remaining: int = 0  # writes not finished yet
    relist_lock: threading.Lock = field(default_factory=threading.Lock)
    relisted: dict[str, RemoteVariable] = field(default_factory=dict)
    relisted_at: float | None = None  # when the latest re-list was sent (time.monotonic), None before the first
    lagging: bool = False  # one conflict's key never showed after all the waits: the listing is not catching up
    book: Book | None = None  # the target's fingerprint variable
    uuids: dict[str, str] = field(default_factory=dict)  # key -> uuid of the record a write left (fingerprints)
    reserve: int = 0  # requests the cap keeps for its fingerprint write (budget.py)

    def __post_init__(self) -> None:
        self.remaining = 0 if self.result.dry_run else len(self.plan.writes)


class Applier:
    """Runs the plans' writes with bounded concurrency. A 409 on create becomes an update, a 404 on update a create,
    and a fatal answer (credentials, scope, rate limit, unreachable) stops what has not started yet, in every
    target: they share one credential."""

    def __init__(self, client: BitbucketClient, concurrency: int, events: Events | None = None,
                 cancel: threading.Event | None = None):
        self.client, self.concurrency = client, concurrency
        self.events = events  # told of each finished write (events.Written), for a surface to show progress
        self.cancel = cancel  # set by SIGINT/SIGTERM: the writes in flight finish, no new one starts
        self.stop: ApiError | None = None
        # The meter's room kept for a target's fingerprint write (budget.py sets Meter.reserved): none by default.
        self.reserved: Callable[[int], AbstractContextManager] = lambda share: contextlib.nullcontext()
        self._count_lock = threading.Lock()
        client.on_wall = lambda exc: self.stopping(ApiError(without_request(str(exc)), exc.status, fatal=True))

    def run(self, runs: list[TargetRun]) -> None:
        """Every write of every run, in the order given; each run finished after its last write."""
        for run in runs:
            if run.remaining == 0:
                self.finish(run)
        writes = ((run, op) for run in runs if run.remaining for op in run.plan.writes)
        self.execute(writes)

    def execute(self, writes: Iterable[tuple[TargetRun, Operation]]) -> None:
        bounded(writes, self.concurrency, lambda item: self._write(*item))

    def _write(self, run: TargetRun, op: Operation) -> None:
        try:
            outcome = self._run_one(run, op)
        except Exception as exc:  # a bug must still leave this key reported, as failed
            outcome = ("failed", f"internal error ({type(exc).__name__}: {exc})")
        with self._count_lock:
            run.outcomes[op.key] = outcome
            run.remaining -= 1
            last = run.remaining == 0
        if self.events:
            self.events(Written(op.key, outcome[0]))
        if last:
            self.finish(run)

    def finish(self, run: TargetRun) -> None:
        """A target's closing step, once all its writes are done (at once when it has none): its result is recorded
        here. Runs on the worker of the target's last write, so it stays inside the concurrency bound."""
        record(run, self.stop)
        result = run.result
        with self.reserved(run.reserve):  # released when this target's fingerprint write is done, or not needed
            stop = self.stop
            if run.book is None or result.error not in (None, str(stop) if stop is not None else None):
                return
            # After the target's writes, even those cut short by a clean stop: its fingerprint variable records what
            # was written successfully. The cap kept room for that write; a lasting rate limit refuses it.
            succeeded = {*result.created, *result.updated, *result.unchanged, *result.deleted, *result.gone}
            refused = None if stop is None or str(stop).startswith(REQUEST_BUDGET) else (
                "Bitbucket's rate limit refuses every request" if stop.status == 429 else f"the run stopped ({stop})")
            result.fingerprints, error = steps.finish_fingerprints(
                run.book, run.plan, succeeded, run.uuids, dry_run=result.dry_run, refused=refused,
                execute=lambda ops: {op.key: self._fingerprint(run, op) for op in ops})
            if error is not None and (refused is not None or result.error is not None):
                result.warnings.append(error)  # told, and the stop's cause stays the one the target reports
            else:
                result.error = result.error or error

    def _fingerprint(self, run: TargetRun, op: Operation) -> tuple[str, str | None]:
        """The fingerprint write: sent even after a request-budget stop (the cap kept room for it), never once the
        run is cancelled."""
        if self.cancel is not None and self.cancel.is_set():
            return "failed", CANCELLED
        try:
            return self._execute(run, op), None
        except ApiError as exc:
            return "failed", str(exc)

    def _run_one(self, run: TargetRun, op: Operation) -> tuple[str, str | None]:
        if self.cancel is not None and self.cancel.is_set():
            return "failed", CANCELLED
        if self.stop is not None:
            return "failed", f"{NOT_ATTEMPTED}{self.stop}"
        try:
            return self._execute(run, op), None
        except Halted as exc:
            if exc.maybe_applied:  # an earlier attempt may have been carried out: not "not attempted"
                return "failed", (f"{self.stop}; an earlier attempt of this write may have reached Bitbucket, so a "
                                  "re-run checks it")
            return "failed", f"{NOT_ATTEMPTED}{self.stop}"
        except ApiError as exc:
            if exc.fatal and self.stop is None:
                # Told to the keys not tried yet without the request it came from ("creating K00").
                self.stopping(ApiError(without_request(str(exc), op.key), exc.status, fatal=True))
            return "failed", str(exc)

    def stopping(self, exc: ApiError) -> None:
        """The run stops at its first fatal answer: no write starts after it. A lasting rate limit (429 past the
        retries) also ends the retries of the requests in flight (client.halt), each told not attempted."""
        if self.stop is None:
            self.stop = exc
        if exc.status == 429:
            self.client.halt.set()

    def _execute(self, run: TargetRun, op: Operation) -> str:
        variable = op.variable
        if op.action is Action.CREATE and variable is not None:  # the plan gives every create and update its variable
            return self._create(run, variable)
        if op.action is Action.UPDATE and variable is not None:
            if self._overwrite(run, variable, op.remotes):
                return "updated"
            # Deleted by someone else since we listed: what the input wants is for it to exist (and if it was
            # re-created meanwhile, the create's 409 handling makes it what the input says).
            return self._create(run, variable)
        deleted = False
        for remote in op.remotes:
            try:
                self.client.delete_variable(run.path, remote.uuid, op.key, run.target)
                deleted = True
            except NotFoundError:
                pass  # already gone (another run pruned it): the wanted state holds, but this run did not delete it
        return "deleted" if deleted else "gone"

    def _create(self, run: TargetRun, variable: Variable) -> str:
        sent = time.monotonic()
        try:
            run.uuids[variable.key] = self.client.create_variable(run.path, variable, run.target).uuid
            return "created"
        except ConflictError as conflict:
            # Created by someone else since we listed: find it and make it what the input says. After a retry, the
            # someone is most likely our own first attempt, which reached Bitbucket though its answer did not: the
            # key did not exist when listed and does now, so this run created it.
            ours = isinstance(conflict, RetriedConflict)
            remote = self._find(run, variable.key, sent)
            # Listings lag behind writes (the Terraform provider waits 5 s after a create): a key that is not listed
            # yet may be soon. Re-list after each wait, sharing a listing with the other conflicts waiting meanwhile
            # only when it was taken after this wait ended. Once one key never showed, the others do not wait again.
            waits = () if run.lagging else RELIST_WAITS
            lists = 1
            for wait in waits:
                if remote is not None:
                    break
                pause(wait, self.cancel)  # a cancel ends the wait; the re-list after it is then refused
                remote = self._find(run, variable.key, time.monotonic())
                lists += 1
            if remote is None:
                run.lagging = True
                waited = (f"after {lists} re-lists over {sum(waits):.1f} s" if waits else
                          f"and, as it already failed to show another key of {run.target.describe()} after "
                          f"{sum(RELIST_WAITS):.1f} s, it is not waited for again")
                raise ApiError(f"Bitbucket says {variable.key} exists (409) but its listing still does not show it "
                               f"{waited} (listings can lag behind writes): re-run in a minute") from None
            if not needs_update(variable, remote):
                return "created" if ours else "unchanged"
            self._overwrite(run, variable, (remote,))
            return "created" if ours else "updated"

    def _overwrite(self, run: TargetRun, variable: Variable, remotes: tuple[RemoteVariable, ...]) -> bool:
        """Write `variable` through each record of its key (a key listed twice has two); False when every record
        was gone. Bitbucket cannot turn a secured variable back into a plain one: such a record is deleted, and the
        plain variable created once, unless another record of the key already holds it."""
        updated = replaced = 0
        for remote in remotes:
            try:
                if remote.secured and not variable.secured:
                    self.client.delete_variable(run.path, remote.uuid, variable.key, run.target)
                    replaced += 1
                else:
                    self.client.update_variable(run.path, remote.uuid, variable, run.target)
                    run.uuids.setdefault(variable.key, remote.uuid)  # a PUT keeps the record: the first one written
                    updated += 1
            except NotFoundError:
                pass  # deleted by someone else since we listed
        if replaced and not updated:
            run.uuids[variable.key] = self.client.create_variable(run.path, variable, run.target).uuid
        return bool(updated or replaced)

    def _find(self, run: TargetRun, key: str, since: float) -> RemoteVariable | None:
        """The record of `key` in a listing sent at or after `since` (time.monotonic): the latest re-list of this
        target when it is that recent, else a new one. So the conflicts of one moment share one listing, and no
        conflict is answered by a listing older than its own wait."""
        with run.relist_lock:
            if run.relisted_at is None or run.relisted_at < since:
                started = time.monotonic()
                listed = self.client.list_variables(run.path, run.target)
                run.relisted = {v.key: v for v in listed}
                run.relisted_at = started
            return run.relisted.get(key)


def record(run: TargetRun, stop: ApiError | None) -> None:
    """The plan's keys into the result: each exactly once, as what happened to it (or would, in a dry run)."""
    result = run.result
    for op in run.plan.operations:
        if result.dry_run:
            action, error = {Action.CREATE: "created", Action.UPDATE: "updated", Action.UNCHANGED: "unchanged",
                             Action.DELETE: "deleted"}[op.action], None
        else:
            action, error = run.outcomes.get(op.key, ("unchanged", None) if op.action is Action.UNCHANGED
                                             else ("failed", "no outcome was recorded for this write"))
        if error is not None:
            result.failed.append({"key": op.key, "error": error})
        else:
            getattr(result, action).append(op.key)
    if stop is not None and any(f["error"] in (str(stop), NOT_ATTEMPTED + str(stop))
                                or without_request(f["error"], f["key"]) == str(stop) for f in result.failed):
        result.error = str(stop)  # the cause that stopped this target, told once
    elif any(f["error"] == CANCELLED for f in result.failed):
        result.error = CANCELLED
    steps.explain(run.plan, result)
