"""A run's cost in requests, and its request budget.

Bitbucket allows about 1,000 API requests per rolling hour (per OAuth consumer, per user for API tokens, per access
token, whose limit may be scaled up to 10,000). A run costs: the token request (credentials that mint one) + the
environment listing of each repository with deployment targets + each target's listing pages + its writes + its
fingerprint write. Once a target is listed, the rest is known exactly for what bbvars controls; a target not listed
is a bound (at least one page, about one write per key). Retries and the re-listings after a 409 are spent on top.

With a cap (the max-requests setting) the writes are taken in order, target after target and each target's in its
plan's order, as long as they fit with the target's fingerprint write; the rest is reported `not attempted: request
budget`, each key once, and a re-run, being idempotent, sends only what is left. A rate limit that lasts past the
retries (429s) ends the run the same way. Either stop is clean: exit code 4, not a failure. The cap's room for the
fingerprint writes is kept in the meter (Meter.reserve), so those writes record what landed even after a stop; a
lasting rate limit refuses them, and each target says so (steps.unrecorded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from bbvars.bitbucket.client import collection_path, segment
from bbvars.bitbucket.meter import REQUEST_BUDGET, BudgetSpent, Meter
from bbvars.errors import ApiError, BbvarsError, setting
from bbvars.models import Target
from bbvars.sync.plan import Action, Operation, Plan
from bbvars.sync.result import NOT_ATTEMPTED, RunResult, SyncResult, without_request

__all__ = ["STOPPED", "Budget", "BudgetSpent", "Stopped", "op_cost", "stopped"]

HOURLY = 1000  # Bitbucket's hourly budget for every credential kind (access tokens: maybe scaled, as they are told)
STOPPED = 4  # the exit code of a run that stopped cleanly at its request budget or at a lasting rate limit
RATE_LIMIT = "rate limit"
RATE_LIMITED = "Bitbucket's rate limit was still hit"  # how client.py tells a request that met 429s past the retries
WHOSE = {"oauth-consumer": "an OAuth consumer", "stored-login": "the OAuth consumer of a stored login",
         "atlassian-api-token": "a user's Atlassian API tokens", "access-token": "an access token"}


class Stopped(BbvarsError):
    """A run that stopped cleanly before its end (request budget, lasting rate limit): what is left is for a re-run."""

    exit_code = STOPPED


def stopped(result: SyncResult | RunResult) -> bool:
    """Whether the run stopped cleanly at a request budget or a lasting rate limit (and nothing else failed)."""
    return bool(result.cost and result.cost.get("stopped"))


def budget_cause(cap: int) -> str:
    return (f"{REQUEST_BUDGET}: the run may send {cap} requests (max-requests), and these writes would pass it; a "
            "re-run continues with what is left")


def op_cost(op: Operation | None) -> int:
    """Requests an operation sends when Bitbucket holds what was listed (applier.py): one per record of its key,
    and a secured record turned plain is deleted, then the plain variable created once."""
    if op is None or op.action is Action.UNCHANGED:
        return 0
    if op.action is Action.CREATE:
        return 1
    records = len(op.remotes)
    if op.action is Action.UPDATE and op.replace and not any(not r.secured for r in op.remotes):
        return records + 1
    return records


def fingerprint_cost(run, writes: Sequence[Operation], plan: Plan | None = None) -> int:
    """The fingerprint write after `writes` of a target (a TargetRun; `plan` its whole plan, default its own)
    succeed, if the variable's value changes."""
    if run.book is None:
        return 0
    kept = [op for op in (plan or run.plan).operations if op.action is Action.UNCHANGED] + list(writes)
    # As a dry run foresees it (steps.finish_fingerprints): an update keeps its record, a create gets a new one.
    uuids = {op.key: op.remote.uuid if op.remote is not None else "(created)" for op in writes}
    return op_cost(run.book.pending(Plan(tuple(kept)), {op.key for op in kept}, uuids))


def fingerprint_most(run) -> int:
    """The most a target's fingerprint write can cost: one request per record of the variable (one to create it)."""
    if run.book is None:
        return 0
    return 1 + len(run.book.others) if run.book.remote is not None else 1


class Budget:
    """One run's meter, its plans' costs, the cut at the cap, and the cost report."""

    def __init__(self, client, cap: int | None = None, cancel: threading.Event | None = None,
                 credential: str | None = None):
        self.meter = Meter(client.api_url, cap, cancel).attach(client)
        self.cap = cap
        self.credential = credential  # auth.Credential.kind, for the hourly budget it spends
        self.token = 0  # token requests by the end of preparation: what a run needs
        self.listed: dict[str, int] = {}  # listing pages by collection path, at the end of preparation
        self.full: dict[int, Plan] = {}  # id(TargetRun) -> its whole plan, before a cut
        self.cut: dict[int, list[Operation]] = {}  # id(TargetRun) -> the writes left out by the cap

    def planned(self, runs: list, dry_run: bool) -> None:
        """After every target is listed and planned, before any write: what preparation cost, and (with a cap) the
        writes that fit, in order."""
        meter = self.meter
        self.token = meter.token
        self.listed = dict(meter.listed)
        self.full = {id(run): run.plan for run in runs}
        if self.cap is None or dry_run:
            return
        left = self.cap - meter.sent
        for run in runs:
            writes = run.plan.writes
            run.reserve = fingerprint_cost(run, writes)
            whole = sum(op_cost(op) for op in writes) + run.reserve
            if whole <= left and not self.cut:
                left -= whole
                meter.reserve += run.reserve  # kept for the fingerprint write, whatever retries spend
                continue
            kept: list[Operation] = []
            spent = 0  # by the kept writes
            most = fingerprint_most(run)  # the fingerprint write at its dearest: computed exactly only near the cap
            for op in writes:
                after = spent + op_cost(op)
                fits = not self.cut and (after + most <= left or (
                    after <= left and after + fingerprint_cost(run, kept + [op]) <= left))
                if fits:
                    kept.append(op)
                    spent = after
                else:
                    self.cut.setdefault(id(run), []).append(op)
            self.cut.setdefault(id(run), [])
            run.reserve = fingerprint_cost(run, kept) if kept else 0
            meter.reserve += run.reserve
            left -= spent + run.reserve
            chosen = {id(op) for op in kept}
            run.plan = Plan(tuple(op for op in run.plan.operations
                                  if op.action is Action.UNCHANGED or id(op) in chosen))
            run.remaining = len(kept)

    # -- after the run ----------------------------------------------------------------------------------------------

    def settle(self, run: RunResult, jobs: Sequence, listed: Sequence, stop: ApiError | None) -> None:
        """The clean stops told as such, and the cost of every target and of the run, into the results."""
        cause = None
        if (stop is not None and str(stop).startswith(REQUEST_BUDGET)) or any(self.cut.values()):
            cause = budget_cause(self.cap or 0)
        elif stop is not None and stop.status == 429:
            cause = self.rate_cause()
        if cause is not None:
            for result in run.targets:
                self.retell(result, stop, cause)
            for target_run in listed:
                if target_run is not None and self.cut.get(id(target_run)):
                    result = target_run.result
                    result.failed += [{"key": op.key, "error": NOT_ATTEMPTED + cause}
                                      for op in self.cut[id(target_run)]]
                    result.secured |= {op.key for op in self.cut[id(target_run)] if op.secured}
                    result.error = result.error or cause
        costs = [self.target_cost(job, target_run) for job, target_run in zip(jobs, listed)]
        self.share_environments(jobs, listed, costs)
        total = {"needed": self.token + sum(c["needed"] for c in costs), "spent": self.meter.sent,
                 "exact": all(c["exact"] for c in costs), "token": self.token,
                 **{part: sum(c[part] for c in costs) for part in PARTS}}
        if self.cap is not None:
            total["max"] = self.cap
        if self.credential:
            total["credential"] = self.credential
        if cause is not None and all(r.error in (None, cause) and all(f["error"] == NOT_ATTEMPTED + cause
                                                                        for f in r.failed) for r in run.targets):
            total["stopped"] = REQUEST_BUDGET if cause.startswith(REQUEST_BUDGET) else RATE_LIMIT
        if self.meter.paced:
            total["paced"] = {"requests": self.meter.paced, "seconds": round(self.meter.waited, 1)}
        hourly = self.meter.limit or HOURLY
        if total["needed"] - self.token > hourly:
            total["hourly"] = hourly
        for result, cost in zip(run.targets, costs):
            result.cost = dict(total) if len(run.targets) == 1 else cost  # one target: its cost is the run's
        run.cost = total

    @staticmethod
    def retell(result: SyncResult, stop: ApiError | None, cause: str) -> None:
        """Every key the stop left unsent, told `not attempted` with the clean stop's cause."""
        if stop is None:
            return
        told = str(stop)
        for failure in result.failed:
            error = failure["error"]
            # Writes in flight when the stop came met the same 429s: refused, so not applied either.
            limited = stop.status == 429 and error.startswith(RATE_LIMITED)
            if error in (told, NOT_ATTEMPTED + told) or without_request(error, failure["key"]) == told or limited:
                failure["error"] = NOT_ATTEMPTED + cause
        if result.error == told:
            result.error = cause

    def rate_cause(self) -> str:
        """A lasting rate limit, and when it frees requests only if Bitbucket said so: never a guess."""
        frees = self.meter.frees_at
        when = (f"Bitbucket says requests are allowed again at {time.strftime('%H:%M:%S UTC', time.gmtime(frees))}"
                if frees is not None else "Bitbucket's answers do not say when its rolling hour frees requests")
        return (f"{RATE_LIMIT}: Bitbucket still answered 429 after the retries ({self.meter.sent} requests sent by "
                f"this run); {when}; a re-run continues with what is left")

    def target_cost(self, job, target_run) -> dict:
        if target_run is None:
            if not job.variables:
                return cost_of(0, 0, 0, 0, spent=0, exact=True)
            # Not listed: at least one page; about one write per key (a key held twice, or a secured value made
            # plain, takes more; an unchanged one none).
            spent = self.meter.spent_on(collection_path(job.target)) if job.target.scope != "deployment" else 0
            return cost_of(0, 1, len(job.variables), 0, spent=spent, exact=False)
        plan = self.full.get(id(target_run), target_run.plan)
        writes = sum(op_cost(op) for op in plan.writes)
        fingerprints = fingerprint_cost(target_run, plan.writes, plan)
        listing = self.listed.get(unquoted(target_run.path), 0)
        return cost_of(0, listing, writes, fingerprints, spent=self.meter.spent_on(target_run.path), exact=True)

    def share_environments(self, jobs: Sequence, listed: Sequence, costs: list[dict]) -> None:
        """Each repository's environment listing, counted with the first of its deployment targets."""
        seen: set[str] = set()
        for job, cost in zip(jobs, costs):
            target: Target = job.target
            if target.scope != "deployment" or not job.variables:
                continue
            path = f"repositories/{segment(target.workspace)}/{segment(target.repository or '')}/environments"
            if path in seen:
                continue
            seen.add(path)
            pages = self.listed.get(unquoted(path), 0) or (0 if cost["exact"] else 1)
            cost["environments"] = pages
            cost["needed"] += pages
            cost["spent"] += self.meter.listed_on(path)


PARTS = ("environments", "listing", "writes", "fingerprints")


def cost_of(environments: int, listing: int, writes: int, fingerprints: int, *, spent: int, exact: bool) -> dict:
    return {"needed": environments + listing + writes + fingerprints, "spent": spent, "exact": exact,
            "environments": environments, "listing": listing, "writes": writes, "fingerprints": fingerprints}


def unquoted(path: str) -> str:
    from urllib.parse import unquote

    return unquote(path)


# -- for people -------------------------------------------------------------------------------------------------------


def parts(cost: dict) -> str:
    """`1 token + 1 environment listing + 2 listing pages + 11 writes + 1 fingerprint write`, the zeros left out."""
    names = (("token", "token", "tokens"), ("environments", "environment listing", "environment listings"),
             ("listing", "listing page", "listing pages"), ("writes", "write", "writes"),
             ("fingerprints", "fingerprint write", "fingerprint writes"))
    shown = [f"{cost[key]:,} {one if cost[key] == 1 else many}" for key, one, many in names if cost.get(key)]
    return " + ".join(shown) or "none"


def cost_line(cost: dict, dry_run: bool) -> str:
    needed = f"{cost['needed']:,}" if cost["exact"] else f"about {cost['needed']:,}"
    bound = "" if cost["exact"] else "; not listed, so a bound: at least one listing page, about one write per key"
    if dry_run:
        return f"requests: a run needs {needed} ({parts(cost)}{bound}); this dry run sent {cost['spent']:,}"
    cap = f" (max-requests {cost['max']:,})" if cost.get("max") is not None else ""
    return f"requests: {cost['spent']:,} sent{cap}, {needed} needed ({parts(cost)}{bound})"


def hourly_line(cost: dict) -> str | None:
    """One line when the run needs more API requests than the credential's hour allows, and the ways out."""
    hourly = cost.get("hourly")
    if hourly is None:
        return None
    needed = cost["needed"] - cost.get("token", 0)
    whose = WHOSE.get(cost.get("credential") or "", "a credential")
    return (f"requests: this run needs {needed:,} API requests, over the {hourly:,} an hour Bitbucket allows "
            f"{whose}: run fewer targets at once ({setting('targets')}), cap the run ({setting('max_requests')}; a "
            "re-run continues with what is left), or run the rest after the hour")


def stop_or_failure(result: SyncResult | RunResult, message: str) -> BbvarsError:
    """What a surface raises for a run that did not fully succeed: a clean stop (exit 4) or a failure (exit 1)."""
    return Stopped(message) if stopped(result) else BbvarsError(message)
