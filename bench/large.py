"""The benchmark's large-run rows: a manifest whose first sync needs more than Bitbucket's hourly budget (5
repositories x 200 variables: 1 token + 5 listings + 1,000 creates = 1,006 requests against 1,000 an hour), against
the emulator with that budget (`hourly_limit`). Two ways through:

- capped: `--max-requests 1000` stops the run cleanly at the budget (exit 4), an hour passes, a re-run finishes;
- the wall: no cap, the run meets Bitbucket's 429s, retries, stops cleanly; an hour passes, a re-run finishes.

Each row counts the requests bbvars sent across run + re-run (the emulator's log) against the minimum for the same
two runs: each run's token and listings (the re-run must list what the first run wrote) plus one write per variable.
The best peer is the baseline of bench/baseline.py (page through the list for each key, then write), its count
predicted exactly by `predicted_requests`.

    python bench/run.py --only large             # just these rows (about 20 s at 20 ms latency)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

from bbvars.models import Job, Target
from bbvars.redaction import Redactor
from bbvars.request.run import policy_of, request_of
from bbvars.sync import budget, engine
from bench.baseline import predicted_requests
from bench.run import PAGELEN, log, make_variables, settings_for


@dataclass
class LargeRow:
    way: str  # "capped" | "the wall"
    repositories: int
    n: int
    hourly: int
    first: int  # requests of the first run (emulator's log)
    second: int  # requests of the re-run
    minimum: int  # the fewest for the same two runs
    written_first: int
    stop: str | None  # how the first run stopped (budget.py's `stopped`)
    baseline: int  # the baseline's requests for the whole job
    seconds: float
    errors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.first + self.second


def pages(count: int) -> int:
    return max(1, math.ceil(count / PAGELEN))


def run_large(emulator, repositories: int = 5, n: int = 200, hourly: int = 1000, concurrency: int = 8,
              ways: tuple[str, ...] = ("capped", "the wall")) -> list[LargeRow]:
    rows = []
    variables = make_variables(n)
    for way in ways:
        workspace = f"large-{way.replace(' ', '-')}-{repositories}x{n}"
        targets = [Target(workspace, f"repo{i}") for i in range(repositories)]
        for target in targets:
            emulator.add_repository(workspace, target.repository)
        settings = settings_for(emulator, Target(workspace), concurrency)
        jobs = [Job(t, tuple(variables), policy_of(settings)) for t in targets]
        emulator.hourly_limit = hourly
        emulator.pass_time(3600)  # a fresh hour: what other rows sent does not count
        try:
            emulator.reset_requests()
            started = time.perf_counter()
            cap = replace(settings, max_requests=hourly) if way == "capped" else settings
            redactor = Redactor()
            first = engine.run(request_of(cap, jobs, redactor), redactor)
            first_requests = len(emulator.requests)
            emulator.pass_time(3600)
            emulator.reset_requests()
            redactor = Redactor()
            second = engine.run(request_of(settings, jobs, redactor), redactor)
            second_requests = len(emulator.requests)
            seconds = time.perf_counter() - started
        finally:
            emulator.hourly_limit = None
        done = [len(r.created) for r in first.targets]
        minimum = (1 + repositories + sum(done)) + (1 + sum(pages(d) for d in done) + repositories * n - sum(done))
        peer = sum(predicted_requests([], variables, deployment=False) for _ in targets)
        row = LargeRow(way, repositories, n, hourly, first_requests, second_requests, minimum, sum(done),
                       first.cost.get("stopped") if first.cost else None, peer, seconds)
        if not budget.stopped(first):
            row.errors.append(f"the first run did not stop cleanly: {[r.error for r in first.targets if r.error][:1]}")
        if not second.ok or sum(len(r.created) for r in second.targets) != repositories * n - sum(done):
            row.errors.append("the re-run did not write exactly what was left")
        if way == "capped" and first_requests > hourly:
            row.errors.append(f"the capped run sent {first_requests}, over {hourly}")
        rows.append(row)
        log(f"  large {way:<9} {repositories}x{n}: {first_requests} + {second_requests} = {row.total} requests "
            f"(minimum {minimum}), {seconds:.1f} s")
    return rows


def large_table(rows: list[LargeRow]) -> str:
    lines = ["| way | job | first run | re-run | bbvars total | minimum | bbvars / min | the first run | "
             "baseline (same job) | time |", "|---|---|---:|---:|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        stop = {"request budget": "stopped at --max-requests", "rate limit": "stopped at the 429 wall"}.get(
            r.stop or "", "did not stop")
        lines.append(f"| {r.way} | {r.repositories} x {r.n} at {r.hourly:,}/h | {r.first:,} | {r.second:,} | "
                     f"{r.total:,} | {r.minimum:,} | {r.total / r.minimum:.2f}x | {stop}, {r.written_first:,} "
                     f"written | {r.baseline:,} ({r.baseline / r.hourly:.1f} h of budget) | {r.seconds:.1f} s |")
    return "\n".join(lines)


def large_targets(rows: list[LargeRow]) -> list[str]:
    capped = [r for r in rows if r.way == "capped"]
    met = all(r.total == r.minimum and not r.errors for r in capped)
    return [f"| a first sync past the hourly budget, across run + re-run with --max-requests: requests equal to the "
            f"minimum | {', '.join(f'{r.total:,} vs {r.minimum:,}' for r in capped)} | "
            f"**{'yes' if met else 'no'}** |"]
