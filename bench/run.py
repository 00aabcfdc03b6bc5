"""bbvars benchmark: requests and wall time of bbvars against a common-tool baseline, start-up time, memory.

    python bench/run.py                       # the full run recorded in BENCHMARKS.md (about 3-4 minutes)
    python bench/run.py --quick               # N = 10, 100; a smaller start-up and memory section (about 15 s)
    python bench/run.py --latency 0.02 --sizes 10,100,1000 --concurrency 8
    python bench/run.py --only secured        # only the secured-variable rows (bench/secured.py)
    python bench/run.py --only large          # only the large-run rows, past the hourly budget (bench/large.py)

The emulator (bbvars.emulator) answers over real HTTP on loopback, with a fixed latency added to every request.
The emulator's own request log is the count of record; bbvars' SyncResult.requests is cross-checked against it.
Progress goes to standard error, the Markdown report to standard output (and to --output when given).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/run.py` puts bench/ first on the path, not the project
    sys.path.insert(0, str(ROOT))

import bbvars.sync.applier as applier  # noqa: E402
from bbvars.emulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_ENVIRONMENTS  # noqa: E402
from bbvars.models import Job, Target, Variable  # noqa: E402
from bbvars.redaction import Redactor  # noqa: E402
from bbvars.request.run import for_target, policy_of, request_of  # noqa: E402
from bbvars.request.settings import Settings  # noqa: E402
from bbvars.sync import engine  # noqa: E402
from bench.baseline import Baseline, predicted_requests  # noqa: E402
from bench.emulator_process import start_emulator  # noqa: E402

PAGELEN = 100  # what bbvars asks for: Bitbucket's maximum
SCOPES = ("workspace", "repository", "deployment")
WORKLOADS = ("first sync", "re-sync", "10% changed")
ENVIRONMENT = "Staging"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- workloads -----------------------------------------------------------------------------------------------------


def make_variables(n: int) -> list[Variable]:
    return [Variable(f"VAR_{i:05d}", f"value-{i:05d}-{'x' * 24}") for i in range(n)]


def change_tenth(variables: list[Variable]) -> list[Variable]:
    """Every tenth variable (ceil(N/10) of them) with a new value."""
    return [Variable(v.key, v.value + "-changed", v.secured) if i % 10 == 0 else v for i, v in enumerate(variables)]


def writes_needed(existing: list[Variable], desired: list[Variable]) -> int:
    have = {v.key: v for v in existing}
    return sum(1 for v in desired if v.key not in have or v.secured or have[v.key].value != v.value
               or have[v.key].secured)


def minimum_requests(scope: str, existing: int, writes: int) -> int:
    """1 token + the list pages at 100 a page (at least 1) + 1 environment lookup (deployment) + 1 per write."""
    return 1 + max(1, math.ceil(existing / PAGELEN)) + (1 if scope == "deployment" else 0) + writes


def target_for(scope: str, workspace: str, repository: str = "app") -> Target:
    if scope == "workspace":
        return Target(workspace)
    if scope == "repository":
        return Target(workspace, repository)
    return Target(workspace, repository, ENVIRONMENT)


def prepare_namespace(emulator, workspace: str, repository: str = "app") -> None:
    """A workspace with one repository and the demo environments; a fresh one per (tool, N) keeps runs apart."""
    emulator.add_repository(workspace, repository)
    for name in DEMO_ENVIRONMENTS:
        emulator.add_environment(workspace, repository, name)


def settings_for(emulator, target: Target, concurrency: int, **extra) -> Settings:
    return Settings(client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, api_url=emulator.api_url,
                    token_url=emulator.token_url, workspace=target.workspace, repository=target.repository,
                    environment=target.environment, concurrency=concurrency, **extra)


def run_errors(repeat: int, records, result, row) -> list[str]:
    """What makes a repeat of a workload untrue: another request count than run 1's, or a failed sync."""
    errors = []
    if (len(records), result.requests) != (row.requests, row.reported):
        errors.append(f"run {repeat + 1} sent {len(records)} requests (reported {result.requests}), "
                      f"run 1 {row.requests}")
    if not result.ok:
        errors.append(f"bbvars failed: {result.error or result.failed[:3]}")
    return errors


def describe_log(records) -> str:
    """'POST token 1, GET 11, POST 1000' from the emulator's request log."""
    counts: Counter[str] = Counter()
    for record in records:
        counts["POST token" if record.path.endswith("/access_token") else record.method] += 1
    order = ["POST token", "GET", "POST", "PUT", "DELETE"]
    return ", ".join(f"{name} {counts[name]}" for name in order if counts[name])


# -- the sync table ------------------------------------------------------------------------------------------------


@dataclass
class Row:
    scope: str
    n: int
    workload: str
    requests: int  # bbvars, from the emulator's log
    reported: int  # bbvars, SyncResult.requests
    minimum: int
    seconds: float
    log: str
    baseline_requests: int
    baseline_seconds: float
    baseline_estimated: bool = False
    baseline_predicted: int | None = None  # predicted_requests, to check the baseline model where it really ran
    samples: list[float] = field(default_factory=list)  # bbvars' time in each repeat
    errors: list[str] = field(default_factory=list)

    @property
    def at_minimum(self) -> bool:
        return self.requests == self.minimum and self.reported == self.requests

    @property
    def speedup(self) -> float:
        return self.baseline_seconds / self.seconds if self.seconds else float("inf")


def run_sync(settings: Settings, variables: list[Variable]):
    """A single-target sync as the surfaces run one: a request of one job, then the engine."""
    redactor = Redactor()
    return engine.run(for_target(settings, variables, redactor), redactor).targets[0]


def run_bbvars(emulator, settings: Settings, variables: list[Variable]):
    emulator.reset_requests()
    started = time.perf_counter()
    result = run_sync(settings, variables)
    seconds = time.perf_counter() - started
    return result, seconds, emulator.requests


def calibrate_baseline(emulator, scope: str, n: int, sample: int) -> float:
    """Seconds per baseline request against a collection of n variables: the last `sample` keys (the deepest
    pages) looked up and rewritten, for real. Used when the full baseline would take too long (N=1,000: ~50,000
    sequential requests, about 18 minutes per workload at 20 ms)."""
    workspace = f"calibrate{n}-{scope}"
    prepare_namespace(emulator, workspace)
    target = target_for(scope, workspace)
    variables = make_variables(n)
    for v in variables:
        emulator.seed_variable(target.workspace, v.key, v.value, repository=target.repository,
                               environment=target.environment)
    emulator.reset_requests()
    with Baseline(emulator.api_url, emulator.token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) as baseline:
        result = baseline.sync(target, [Variable(v.key, v.value + "-changed") for v in variables[-sample:]])
    assert len(emulator.requests) == result.requests
    return result.seconds / result.requests


def run_scope(emulator, scope: str, n: int, concurrency: int, baseline_full_max: int, sample: int,
              repeats: int = 1) -> list[Row]:
    """The three workloads in one scope at N: bbvars `repeats` times (each time in a fresh repository, the median
    time reported), then the baseline once."""
    first = make_variables(n)
    changed = change_tenth(first)
    steps = [(WORKLOADS[0], [], first), (WORKLOADS[1], first, first), (WORKLOADS[2], first, changed)]

    rows = []
    for repeat in range(repeats):
        workspace = f"bbvars{n}-{scope}-{repeat}"
        prepare_namespace(emulator, workspace)
        settings = settings_for(emulator, target_for(scope, workspace), concurrency)
        for index, (workload, existing, desired) in enumerate(steps):
            result, seconds, records = run_bbvars(emulator, settings, desired)
            expected = writes_needed(existing, desired)
            minimum = minimum_requests(scope, len(existing), expected)
            if repeat == 0:
                rows.append(Row(scope, n, workload, len(records), result.requests, minimum, seconds,
                                describe_log(records), 0, 0.0))
            row = rows[index]
            row.samples.append(seconds)
            row.errors.extend(run_errors(repeat, records, result, row))
            if len(result.created) + len(result.updated) != expected:
                row.errors.append(f"bbvars wrote {len(result.created) + len(result.updated)}, expected {expected}")
            log(f"  bbvars   {scope:<10} N={n:<5} {workload:<12} {len(records):>6} requests (minimum {minimum}) "
                f"{seconds:7.3f} s  [{describe_log(records)}]")
    for row in rows:
        row.seconds = statistics.median(row.samples)

    base_workspace = f"baseline{n}-{scope}"
    prepare_namespace(emulator, base_workspace)
    base_target = target_for(scope, base_workspace)
    deployment = scope == "deployment"
    if n <= baseline_full_max:
        with Baseline(emulator.api_url, emulator.token_url, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET) as baseline:
            for row, (workload, existing, desired) in zip(rows, steps):
                emulator.reset_requests()
                outcome = baseline.sync(base_target, desired)
                logged = len(emulator.requests)
                row.baseline_requests, row.baseline_seconds = logged, outcome.seconds
                row.baseline_predicted = predicted_requests(existing, desired, deployment)
                if logged != outcome.requests or logged != row.baseline_predicted:
                    row.errors.append(f"baseline: log {logged}, counted {outcome.requests}, "
                                      f"predicted {row.baseline_predicted}")
                log(f"  baseline {scope:<10} N={n:<5} {workload:<12} {logged:>6} requests {outcome.seconds:7.3f} s")
    else:
        per_request = calibrate_baseline(emulator, scope, n, sample)
        log(f"  baseline {scope:<10} N={n:<5} calibrated: {per_request * 1000:.2f} ms per request")
        for row, (_workload, existing, desired) in zip(rows, steps):
            row.baseline_requests = predicted_requests(existing, desired, deployment)
            row.baseline_seconds = row.baseline_requests * per_request
            row.baseline_estimated = True
    return rows


def seconds_text(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:,.0f} s"


def speedup_text(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.1f}x"


def sync_table(rows: list[Row]) -> str:
    lines = ["| scope | N | workload | bbvars requests | minimum | bbvars time | baseline requests | baseline time "
             "| speed-up |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mark = "" if r.at_minimum else " ✗"
        approx = "≈ " if r.baseline_estimated else ""
        lines.append(f"| {r.scope} | {r.n:,} | {r.workload} | {r.requests:,}{mark} | {r.minimum:,} | "
                     f"{seconds_text(r.seconds)} | {approx}{r.baseline_requests:,} | "
                     f"{approx}{seconds_text(r.baseline_seconds)} | {approx}{speedup_text(r.speedup)} |")
    return "\n".join(lines)


def log_table(rows: list[Row]) -> str:
    lines = ["| scope | N | workload | emulator log (bbvars) | SyncResult.requests | bbvars time of each run |",
             "|---|---:|---|---|---:|---|"]
    for r in rows:
        each = ", ".join(f"{t:.2f}" for t in r.samples)
        lines.append(f"| {r.scope} | {r.n:,} | {r.workload} | {r.log} | {r.reported:,} | {each} s |")
    return "\n".join(lines)


# -- many targets in one run (a manifest's engine) ----------------------------------------------------------------


def parse_multi(text: str) -> list[tuple[int, int]]:
    """'6x100,12x100' -> [(6, 100), (12, 100)]: T targets x N variables each."""
    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        t, _, n = item.partition("x")
        pairs.append((int(t), int(n)))
    return pairs


def multi_targets(workspace: str, t: int) -> list[Target]:
    """T deployment environments, three (Test, Staging, Production) to a repository."""
    repositories = math.ceil(t / len(DEMO_ENVIRONMENTS))
    return [Target(workspace, f"repo{r}", env) for r in range(repositories) for env in DEMO_ENVIRONMENTS][:t]


def prepare_multi(emulator, workspace: str, t: int) -> None:
    for r in range(math.ceil(t / len(DEMO_ENVIRONMENTS))):
        prepare_namespace(emulator, workspace, f"repo{r}")


@contextmanager
def write_phase_timer(spans: list[float]):
    """The time of the engine's write phase (Applier.run: every write of every target), patched in here only."""
    original = applier.Applier.run

    def timed(self, runs):
        started = time.perf_counter()
        try:
            return original(self, runs)
        finally:
            spans.append(time.perf_counter() - started)

    applier.Applier.run = timed
    try:
        yield
    finally:
        applier.Applier.run = original


@dataclass
class MultiRow:
    targets: int
    n: int
    workload: str
    requests: int
    minimum: int
    writes: int
    seconds: float
    write_seconds: float
    separate_requests: int = 0  # the same targets as one `bbvars sync` each, one after another
    separate_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def at_minimum(self) -> bool:
        return self.requests == self.minimum

    def ideal_write(self, concurrency: int, latency: float) -> float:
        return self.writes / concurrency * latency


def multi_minimum(targets: list[Target], existing: int, writes: int) -> int:
    """1 token + one environment listing per repository + each target's list pages + the changed writes."""
    repositories = len({(t.workspace, t.repository) for t in targets if t.environment})
    return 1 + repositories + len(targets) * max(1, math.ceil(existing / PAGELEN)) + writes


def run_multi(emulator, t: int, n: int, concurrency: int) -> list[MultiRow]:
    """The three workloads over T targets x N variables in one run, then the same as T separate runs."""
    first = make_variables(n)
    steps = [(WORKLOADS[0], [], first), (WORKLOADS[1], first, first), (WORKLOADS[2], first, change_tenth(first))]
    workspace = f"multi{t}x{n}"
    prepare_multi(emulator, workspace, t)
    targets = multi_targets(workspace, t)
    settings = settings_for(emulator, Target(workspace), concurrency)
    rows = []
    for workload, existing, desired in steps:
        jobs = [Job(target, tuple(desired), policy_of(settings)) for target in targets]
        spans: list[float] = []
        emulator.reset_requests()
        started = time.perf_counter()
        with write_phase_timer(spans):
            redactor = Redactor()
            result = engine.run(request_of(settings, jobs, redactor), redactor)
        seconds = time.perf_counter() - started
        requests = len(emulator.requests)
        writes = t * writes_needed(existing, desired)
        row = MultiRow(t, n, workload, requests, multi_minimum(targets, len(existing), writes), writes, seconds,
                       sum(spans))
        if not result.ok:
            row.errors.append(f"bbvars failed: {[r.error or r.failed[:2] for r in result.targets if not r.ok][:2]}")
        written = sum(len(r.created) + len(r.updated) for r in result.targets)
        if written != writes:
            row.errors.append(f"bbvars wrote {written}, expected {writes}")
        if result.requests != requests:
            row.errors.append(f"RunResult.requests {result.requests}, emulator log {requests}")
        rows.append(row)
        log(f"  manifest T={t:<3} N={n:<5} {workload:<12} {requests:>6} requests (minimum {row.minimum}) "
            f"{seconds:7.3f} s, writes {row.write_seconds:6.3f} s")
    separate_workspace = f"multisep{t}x{n}"
    prepare_multi(emulator, separate_workspace, t)
    for row, (workload, _existing, desired) in zip(rows, steps):
        emulator.reset_requests()
        started = time.perf_counter()
        for target in multi_targets(separate_workspace, t):
            run_sync(settings_for(emulator, target, concurrency), desired)
        row.separate_seconds = time.perf_counter() - started
        row.separate_requests = len(emulator.requests)
        log(f"  separate T={t:<3} N={n:<5} {workload:<12} {row.separate_requests:>6} requests "
            f"{row.separate_seconds:7.3f} s")
    return rows


def multi_table(rows: list[MultiRow], concurrency: int, latency: float) -> str:
    lines = ["| T targets x N | workload | requests | minimum | wall time | write phase | (writes / concurrency) x "
             "latency | T separate runs: requests | T separate runs: time |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mark = "" if r.at_minimum else " ✗"
        ideal = r.ideal_write(concurrency, latency)
        ratio = f" ({r.write_seconds / ideal:.2f}x)" if ideal else ""
        lines.append(f"| {r.targets} x {r.n:,} | {r.workload} | {r.requests:,}{mark} | {r.minimum:,} | "
                     f"{seconds_text(r.seconds)} | {seconds_text(r.write_seconds)}{ratio} | "
                     f"{r.writes:,}/{concurrency} x {latency * 1000:.0f} ms = {seconds_text(ideal)} | "
                     f"{r.separate_requests:,} | {seconds_text(r.separate_seconds)} |")
    return "\n".join(lines)


def multi_targets_met(rows: list[MultiRow], concurrency: int, latency: float) -> list[str]:
    lines = []
    if rows:
        off = [r for r in rows if not r.at_minimum]
        lines.append(f"| many targets: requests equal the minimum in every row ({len(rows)} rows) | "
                     f"{len(rows) - len(off)} of {len(rows)} at the minimum | {'yes' if not off else '**no**'} |")
    for r in rows:
        ideal = r.ideal_write(concurrency, latency)
        if r.workload == WORKLOADS[0] and ideal >= 0.5:  # long enough for the bound to show
            lines.append(f"| {r.targets} x {r.n:,} first sync: write phase within 1.3x of {r.writes:,}/{concurrency} "
                         f"x {latency * 1000:.0f} ms = {ideal:.2f} s | {r.write_seconds:.2f} s "
                         f"({r.write_seconds / ideal:.2f}x) | "
                         f"{'yes' if r.write_seconds <= 1.3 * ideal else '**no**'} |")
    return lines


# -- the real CLI, end to end ------------------------------------------------------------------------------------


def bbvars_command() -> tuple[list[str], str]:
    """The installed console script when there is one (what users run), else `python -m bbvars`."""
    script = Path(sys.executable).parent / "bbvars"
    if script.exists():
        return [str(script)], "bbvars"
    return [sys.executable, "-m", "bbvars"], "python -m bbvars"


@dataclass
class CliRow:
    workload: str
    n: int
    requests: int
    minimum: int
    seconds: float
    engine_seconds: float  # the same workload in-process, for the start-up share
    exit_code: int


def run_cli(emulator, n: int, concurrency: int) -> list[CliRow]:
    workspace = f"cli{n}"
    prepare_namespace(emulator, workspace)
    first = make_variables(n)
    env = {**os.environ, "BITBUCKET_CLIENT_ID": DEMO_CLIENT_ID, "BITBUCKET_CLIENT_SECRET": DEMO_CLIENT_SECRET,
           "BITBUCKET_API_URL": emulator.api_url, "BITBUCKET_TOKEN_URL": emulator.token_url}
    command, _ = bbvars_command()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "variables.json"
        path.write_text(json.dumps({v.key: v.value for v in first}))
        for workload, existing in ((WORKLOADS[0], []), (WORKLOADS[1], first)):
            emulator.reset_requests()
            started = time.perf_counter()
            done = subprocess.run([*command, "sync", "--workspace", workspace, "--repository", "app", "--file",
                                   str(path), "--concurrency", str(concurrency), "--quiet"],
                                  env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            requests = len(emulator.requests)
            if done.returncode != 0:
                log(done.stderr)
            rows.append(CliRow(workload, n, requests, minimum_requests("repository", len(existing),
                                                                      writes_needed(existing, first)),
                               seconds, 0.0, done.returncode))
            log(f"  CLI      repository N={n:<5} {workload:<12} {requests:>6} requests {seconds:7.3f} s "
                f"(exit {done.returncode})")
    return rows


def cli_table(rows: list[CliRow], command: str, engine: dict[str, float]) -> str:
    lines = [f"| `{command} sync` (subprocess) | N | requests | minimum | end-to-end time | engine in-process "
             "(table above) | start-up and exit |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        inner = engine.get(r.workload)
        extra = f"{seconds_text(inner)} | {seconds_text(r.seconds - inner)}" if inner is not None else "- | -"
        lines.append(f"| repository, {r.workload} | {r.n:,} | {r.requests:,} | {r.minimum:,} | "
                     f"{seconds_text(r.seconds)} | {extra} |")
    return "\n".join(lines)


# -- start-up -------------------------------------------------------------------------------------------------------


def timed_run(command: list[str], env: dict | None = None) -> tuple[float, int]:
    """Wall seconds and exit code of one subprocess."""
    started = time.perf_counter()
    code = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env).returncode
    return time.perf_counter() - started, code


GNU_TIME = "/usr/bin/time"


def peak_rss(command: list[str], env: dict | None = None) -> tuple[int | None, float, int]:
    """(peak RSS in KiB, wall seconds, exit code) of one subprocess.

    Not wait4()'s ru_maxrss: Linux carries the forking parent's RSS (this benchmark's, ~40 MiB) into the child's
    at exec, so every child would seem at least that big. GNU time forks from its own small process, so its %M is
    the command's own peak. Without GNU time, VmHWM (the peak of the current address space, which exec resets) is
    sampled from /proc while the child runs, which can miss a short peak."""
    if os.path.exists(GNU_TIME):
        with tempfile.NamedTemporaryFile("r", suffix=".rss") as out:
            started = time.perf_counter()
            code = subprocess.run([GNU_TIME, "-f", "%M", "-o", out.name, *command], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=env).returncode
            seconds = time.perf_counter() - started
            text = out.read().strip().splitlines()
            return (int(text[-1]) if text and text[-1].isdigit() else None), seconds, code
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    peak = None
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak or 0, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    return peak, time.perf_counter() - started, process.returncode


def mib(kib: int | None) -> str:
    return f"{kib / 1024:.1f} MiB" if kib else "n/a"


def startup(runs: int) -> tuple[str, dict]:
    command, name = bbvars_command()
    python = sys.executable
    cases = [
        ("`python -c pass`", [python, "-c", "pass"]),
        ("`python -c \"import httpx\"`", [python, "-c", "import httpx"]),
        (f"`{name} --version`", [*command, "--version"]),
        (f"`{name} --help`", [*command, "--help"]),
        (f"`{name} sync --help`", [*command, "sync", "--help"]),
    ]
    results = {}
    for label, argv in cases:
        for _ in range(2):  # warm the page cache and .pyc files
            timed_run(argv)
        times = [timed_run(argv)[0] for _ in range(runs)]
        results[label] = {"median": statistics.median(times), "min": min(times), "rss": peak_rss(argv)[0]}
        log(f"  start-up {label:<36} median {results[label]['median'] * 1000:6.1f} ms")
    base = results["`python -c pass`"]["median"]
    lines = [f"| command ({runs} runs each) | median | fastest | median minus `python -c pass` | peak RSS |",
             "|---|---:|---:|---:|---:|"]
    for label, r in results.items():
        lines.append(f"| {label} | {r['median'] * 1000:.1f} ms | {r['min'] * 1000:.1f} ms | "
                     f"{(r['median'] - base) * 1000:+.1f} ms | {mib(r['rss'])} |")
    imports = import_report(command, name)
    return "\n".join(lines) + "\n\n" + imports["text"], {"times": results, "imports": imports}


def imported_modules(argv: list[str]) -> list[tuple[str, int]]:
    """(module, self µs) for every module a command imports, from -X importtime (PYTHONPROFILEIMPORTTIME)."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    found = []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+)\s+\|\s+(\d+)\s+\|\s+(.*)$", line)
        if match:
            found.append((match.group(3).strip(), int(match.group(1))))
    return found


def installed(module: str) -> bool:
    """A real installed package, not a namespace-package probe such as the `org` that `copy` looks for."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return False
    return spec is not None and spec.origin not in (None, "namespace")


def import_report(command: list[str], name: str) -> dict:
    bare = {module for module, _ in imported_modules([sys.executable, "-c", "pass"])}
    stdlib = set(sys.stdlib_module_names)
    lines = ["| command | modules imported beyond `python -c pass` | of which bbvars | third-party | "
             "httpx imported? |", "|---|---:|---|---|---|"]
    details = {}
    for args in (["--version"], ["--help"], ["sync", "--help"]):
        modules = imported_modules([*command, *args])
        extra = [m for m, _ in modules if m not in bare]
        own = sorted(m for m in extra if m.split(".")[0] == "bbvars")
        third = sorted(m for m in {m.split(".")[0] for m in extra} - stdlib - {"bbvars"} if installed(m))
        httpx = any(m.split(".")[0] == "httpx" for m in extra)
        label = f"`{name} {' '.join(args)}`"
        details[label] = {"extra": extra, "own": own, "third": third, "httpx": httpx}
        lines.append(f"| {label} | {len(extra)} | {', '.join(own)} | {', '.join(third) or 'none'} | "
                     f"{'**yes**' if httpx else 'no'} |")
    version_stdlib = sorted({m.split(".")[0] for m in details[f'`{name} --version`']['extra']} & stdlib)
    text = "\n".join(lines) + (f"\n\nStandard-library packages `{name} --version` imports beyond `python -c pass`: "
                               f"{', '.join(version_stdlib)}.")
    return {"text": text, "details": details}


# -- memory ------------------------------------------------------------------------------------------------------


def memory(emulator, sizes: list[int], concurrency: int) -> tuple[str, list[dict]]:
    """Peak RSS of the real CLI (a subprocess, measured with wait4) syncing N variables from a JSON file, against
    the emulator with no latency. The emulator runs in another process (or thread of this one): not counted."""
    command, name = bbvars_command()
    env = {**os.environ, "BITBUCKET_CLIENT_ID": DEMO_CLIENT_ID, "BITBUCKET_CLIENT_SECRET": DEMO_CLIENT_SECRET,
           "BITBUCKET_API_URL": emulator.api_url, "BITBUCKET_TOKEN_URL": emulator.token_url}
    previous = emulator.latency
    emulator.latency = 0.0
    results = []
    try:
        for what, argv in (("`python -c pass`", [sys.executable, "-c", "pass"]),
                           ("import floor: `python -c \"import bbvars.surfaces.cli.sync, bbvars.sync.engine, "
                            "bbvars.request.documents, bbvars.sync.report\"`",
                            [sys.executable, "-c", "import bbvars.surfaces.cli.sync, bbvars.sync.engine, bbvars.request.documents, "
                                                   "bbvars.sync.report"])):
            rss, seconds, code = peak_rss(argv)
            results.append({"what": what, "n": 0, "rss": rss, "seconds": seconds, "requests": 0, "input": 0,
                            "exit": code})
        with tempfile.TemporaryDirectory() as tmp:
            for n in sizes:
                workspace = f"memory{n}"
                prepare_namespace(emulator, workspace)
                first = make_variables(n)
                for what, variables, extra in (
                    ("dry run, empty target (1 list page)", first, ["--dry-run"]),
                    ("sync, all created", first, []),
                    ("dry run, 10% changed (all pages listed)", change_tenth(first), ["--dry-run"]),
                    ("sync, 10% changed", change_tenth(first), []),
                ):
                    path = Path(tmp) / f"vars{n}.json"
                    path.write_text(json.dumps({v.key: v.value for v in variables}))
                    emulator.reset_requests()
                    rss, seconds, code = peak_rss([*command, "sync", "--workspace", workspace, "--repository",
                                                    "app", "--file", str(path), "--concurrency", str(concurrency),
                                                    "--quiet", *extra], env)
                    requests = len(emulator.requests)
                    results.append({"what": f"`{name} sync` {what}", "n": n, "rss": rss, "seconds": seconds,
                                    "requests": requests, "input": path.stat().st_size, "exit": code})
                    log(f"  memory   N={n:<6} {what:<42} {mib(rss):>10} {seconds:6.2f} s "
                        f"{requests} requests (exit {code})")
    finally:
        emulator.latency = previous
    lines = ["| run | N | input file | requests | wall time (no latency) | peak RSS | exit |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['what']} | {r['n']:,} | {r['input'] / 1024:,.0f} KiB | {r['requests']:,} | "
                     f"{r['seconds']:.2f} s | {mib(r['rss'])} | {r['exit']} |")
    return "\n".join(lines), results


# -- where the emulator runs ---------------------------------------------------------------------------------------


def minimal_client(emulator, workspace: str, variables: list[Variable], concurrency: int) -> tuple[float, int]:
    """The least a client can do for a first sync: http.client, one keep-alive connection per thread, token, one
    list page, then the POSTs from `concurrency` threads. What the emulator and machine allow; (seconds, requests)."""
    import base64
    import http.client
    import threading
    from urllib.parse import urlsplit

    from bench.baseline import collection_url

    where = urlsplit(emulator.url)
    path = "/2.0/" + collection_url(Target(workspace, "app"), None)
    started = time.perf_counter()
    connection = http.client.HTTPConnection(where.hostname, where.port)
    basic = base64.b64encode(f"{DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET}".encode()).decode()
    connection.request("POST", "/site/oauth2/access_token", "grant_type=client_credentials",
                       {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"})
    token = json.loads(connection.getresponse().read())["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    connection.request("GET", f"{path}?pagelen=100", headers=headers)
    connection.getresponse().read()
    pending, lock = iter(variables), threading.Lock()

    def work() -> None:
        own = http.client.HTTPConnection(where.hostname, where.port)
        while True:
            with lock:
                variable = next(pending, None)
            if variable is None:
                own.close()
                return
            own.request("POST", path, json.dumps({"key": variable.key, "value": variable.value, "secured": False}),
                        headers)
            own.getresponse().read()

    threads = [threading.Thread(target=work) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connection.close()
    return time.perf_counter() - started, 2 + len(variables)


def harness(rows: list[Row], n: int, latency: float, concurrency: int) -> str:
    """What the emulator and this machine allow, next to bbvars: (1) the repository rows at N again with the emulator
    on a thread of this process (client and server then share one GIL on this 2-core machine); (2) the first sync
    done by a minimal http.client client with the same concurrency, against the child-process emulator."""
    measured = {r.workload: r for r in rows if r.scope == "repository" and r.n == n}
    lines = ["| repository, N | workload | bbvars, emulator in a child process (table above) | bbvars, emulator "
             "in-process | minimal http.client client, child-process emulator |", "|---|---|---:|---:|---:|"]
    first = make_variables(n)
    with start_emulator("process", latency) as emulator:
        prepare_namespace(emulator, "minimal")
        emulator.reset_requests()
        floor, sent = minimal_client(emulator, "minimal", first, concurrency)
        if len(emulator.requests) != sent:
            log(f"  minimal client: {len(emulator.requests)} requests logged, {sent} expected")
        log(f"  minimal http.client client: repository N={n} first sync: {floor:.3f} s, {sent} requests")
    with start_emulator("in-process", latency) as emulator:
        prepare_namespace(emulator, "placement")
        settings = settings_for(emulator, target_for("repository", "placement"), concurrency)
        for workload, desired in ((WORKLOADS[0], first), (WORKLOADS[1], first)):
            _result, seconds, records = run_bbvars(emulator, settings, desired)
            log(f"  in-process emulator: repository N={n} {workload}: {seconds:.3f} s, {len(records)} requests")
            other = measured.get(workload)
            lines.append(f"| {n:,} | {workload} | {seconds_text(other.seconds) if other else '-'} | "
                         f"{seconds_text(seconds)} | {seconds_text(floor) if workload == WORKLOADS[0] else '-'} |")
    return "\n".join(lines)


# -- targets -------------------------------------------------------------------------------------------------------


def targets(rows: list[Row], latency: float, concurrency: int, startup_info: dict | None,
            memory_results: list[dict] | None, multi_rows: list[MultiRow] | None = None) -> str:
    lines = ["| target | measured | met? |", "|---|---|---|"]
    lines += multi_targets_met(multi_rows or [], concurrency, latency)
    off = [r for r in rows if not r.at_minimum]
    if rows:
        lines.append(f"| requests equal the minimum in every row ({len(rows)} rows) | "
                     f"{len(rows) - len(off)} of {len(rows)} at the minimum"
                     + (": " + "; ".join(f"{r.scope} N={r.n} {r.workload}: {r.requests} vs {r.minimum}" for r in off)
                        if off else "") + f" | {'yes' if not off else '**no**'} |")
    for r in rows:
        if r.workload == "re-sync" and r.n >= 1000 and latency > 0:  # the targets are stated for 1,000
            budget = r.minimum * latency
            lines.append(f"| re-sync of {r.n:,} unchanged ({r.scope}) in about the time of its {r.minimum} requests "
                         f"({r.minimum} x {latency * 1000:.0f} ms = {budget:.2f} s + overhead) | {r.seconds:.2f} s "
                         f"({r.seconds / budget:.2f}x the bare latency; {(r.seconds - budget) * 1000:.0f} ms "
                         f"overhead) | {'yes' if r.seconds <= budget * 1.5 else '**no**'} |")
    for r in rows:
        if r.workload == "first sync" and r.n >= 1000 and latency > 0:
            ideal = r.n / concurrency * latency
            lines.append(f"| {r.n:,} creates ({r.scope}) within 1.3x of {r.n:,}/{concurrency} x "
                         f"{latency * 1000:.0f} ms = {ideal:.2f} s, i.e. <= {1.3 * ideal:.2f} s | {r.seconds:.2f} s "
                         f"({r.seconds / ideal:.2f}x) | {'yes' if r.seconds <= 1.3 * ideal else '**no**'} |")
    if startup_info:
        times = startup_info["times"]
        bare = times["`python -c pass`"]["median"]
        httpx = times["`python -c \"import httpx\"`"]["median"]
        for label, r in times.items():
            if "--version" in label or (label.endswith(" --help`") and " sync " not in label):
                lines.append(f"| {label} starts faster than `python -c \"import httpx\"` | {r['median'] * 1000:.0f} ms "
                             f"vs {httpx * 1000:.0f} ms (bare `python -c pass`: {bare * 1000:.0f} ms; bbvars adds "
                             f"{(r['median'] - bare) * 1000:.0f} ms) | {'yes' if r['median'] < httpx else '**no**'} |")
        for label, detail in startup_info["imports"]["details"].items():
            lines.append(f"| {label} does not import httpx | {'imports httpx' if detail['httpx'] else 'no httpx'} "
                         f"| {'**no**' if detail['httpx'] else 'yes'} |")
    if memory_results:
        syncs = {r["n"]: r for r in memory_results if r["what"].endswith("sync, all created") and r["rss"]}
        floor = next((r["rss"] for r in memory_results if r["what"].startswith("import floor") and r["rss"]), None)
        if len(syncs) >= 2 and floor:
            small, large = min(syncs), max(syncs)
            per = (syncs[large]["rss"] - syncs[small]["rss"]) * 1024 / (large - small)
            lines.append(f"| a {large:,}-variable input in bounded memory | peak RSS {mib(syncs[large]['rss'])} for "
                         f"{large:,} (creating all), {mib(syncs[small]['rss'])} for {small:,}; import floor "
                         f"{mib(floor)}; growth {per:,.0f} bytes per variable | "
                         f"{'yes' if syncs[large]['rss'] < 4 * floor else '**no**'} (linear, not constant) |")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request (default 0.02)")
    parser.add_argument("--sizes", default=None, help="variable counts, comma-separated (default 10,100,1000)")
    parser.add_argument("--scopes", default=",".join(SCOPES), help="scopes to run (default: all three)")
    parser.add_argument("--concurrency", type=int, default=8, help="bbvars' writes in flight (default 8)")
    parser.add_argument("--emulator", choices=("process", "in-process"), default="process",
                        help="run the emulator in a child process (default: client and server do not share a GIL) "
                             "or on a thread of this process")
    parser.add_argument("--baseline-full-max", type=int, default=None,
                        help="largest N the baseline really runs; above it, its requests are counted exactly by "
                             "the same algorithm and its time estimated from a measured sample (default 100; "
                             "--quick: 10)")
    parser.add_argument("--baseline-sample", type=int, default=3,
                        help="keys looked up for real (the deepest) when estimating the baseline (default 3)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="bbvars runs per workload, median reported (default 3; --quick: 1)")
    parser.add_argument("--startup-runs", type=int, default=None, help="runs per start-up command (default 21)")
    parser.add_argument("--memory-sizes", default=None, help="N for the memory section (default 1000,10000)")
    parser.add_argument("--multi", default=None,
                        help="many targets in one run: T targets x N variables, e.g. 6x100,24x100 (default "
                             "6x100,24x100; --quick: 3x10,6x10); 'none' skips them")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI rows")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up section")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory section")
    parser.add_argument("--quick", action="store_true", help="N = 10,100; fewer start-up runs; memory at N=1000")
    parser.add_argument("--output", type=Path, help="also write the Markdown report here")
    parser.add_argument("--no-secured", action="store_true", help="skip the secured-variable rows")
    parser.add_argument("--no-large", action="store_true", help="skip the large-run rows (past the hourly budget)")
    parser.add_argument("--only", choices=("secured", "large"), help="run only this section")
    args = parser.parse_args(argv)
    args.sizes = [int(s) for s in (args.sizes or ("10,100" if args.quick else "10,100,1000")).split(",")]
    args.scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    multi = args.multi or ("3x10,6x10" if args.quick else "6x100,24x100")
    args.multi = [] if multi == "none" else parse_multi(multi)
    unknown = set(args.scopes) - set(SCOPES)
    if unknown:
        parser.error(f"unknown scope(s): {', '.join(sorted(unknown))}")
    if args.baseline_full_max is None:
        args.baseline_full_max = 10 if args.quick else 100
    if args.repeats is None:
        args.repeats = 1 if args.quick else 3
    if args.startup_runs is None:
        args.startup_runs = 7 if args.quick else 21
    args.memory_sizes = [int(s) for s in (args.memory_sizes or ("1000" if args.quick else "1000,10000")).split(",")]
    return args


def machine() -> str:
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
            f"({platform.python_implementation()})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    shown = " ".join(["python bench/run.py", *(argv if argv is not None else sys.argv[1:])])
    sections = [f"Command: `{shown}`  \nMachine: {machine()}  \nLatency per request: {args.latency * 1000:.0f} ms; "
                f"bbvars concurrency: {args.concurrency}; emulator: {args.emulator}; bbvars runs per workload: "
                f"{args.repeats} (median shown)"]
    rows: list[Row] = []
    multi_rows: list[MultiRow] = []
    secured_rows: list = []
    startup_info = memory_results = None
    if args.only:
        args.no_cli = args.no_memory = args.no_startup = True
        args.no_secured, args.no_large = args.only != "secured", args.only != "large"
    large_rows: list = []
    with start_emulator(args.emulator, args.latency) as emulator:
        log(f"emulator ({emulator.mode}) at {emulator.url}, latency {args.latency * 1000:.0f} ms")
        for n in args.sizes if not args.only else ():
            for scope in SCOPES:
                if scope in args.scopes:
                    rows.extend(run_scope(emulator, scope, n, args.concurrency, args.baseline_full_max,
                                          args.baseline_sample, args.repeats))
        if rows:
            sections.append("## Sync: requests and wall time\n\n" + sync_table(rows))
            sections.append("Request log per bbvars run (emulator's log; SyncResult.requests alongside):\n\n"
                            + log_table(rows))
        for t, n in args.multi if not args.only else ():
            multi_rows.extend(run_multi(emulator, t, n, args.concurrency))
        if multi_rows:
            sections.append("## Many targets in one run (a manifest)\n\nT deployment environments (three to a "
                            "repository) x N variables each, in one engine run: one token, one environment listing "
                            "per repository, each target listed once, every write of every target under one "
                            f"concurrency bound ({args.concurrency}). The write phase is timed around the engine's "
                            "Applier.run. The last two columns run the same targets as one `bbvars sync` each, one "
                            "after another (a token and an environment lookup each, concurrency per target).\n\n"
                            + multi_table(multi_rows, args.concurrency, args.latency))
        if not args.no_secured:
            from bench.secured import run_secured, secured_table

            for n in args.sizes:
                secured_rows.extend(run_secured(emulator, n, args.concurrency, args.repeats))
            sections.append("## Secured variables: with and without fingerprints\n\n" + secured_table(secured_rows))
        if not args.no_large:
            from bench.large import large_table, run_large

            # 5 x 200 = 1 token + 5 listings + 1,000 creates against 1,000 an hour (--quick: 2 x 30 against 40).
            shape = dict(repositories=2, n=30, hourly=40) if args.quick else {}
            large_rows = run_large(emulator, concurrency=args.concurrency, **shape)
            sections.append("## Large runs: past the hourly budget\n\n" + large_table(large_rows))
        if rows and args.emulator == "process" and "repository" in args.scopes:
            sections.append("## What the harness allows: emulator placement and a minimal client\n\n"
                            + harness(rows, max(args.sizes), args.latency, args.concurrency))
        if not args.no_cli:
            n = max(args.sizes)
            engine = {r.workload: r.seconds for r in rows if r.scope == "repository" and r.n == n}
            cli_rows = run_cli(emulator, n, args.concurrency)
            sections.append("## The real CLI, end to end\n\n" + cli_table(cli_rows, bbvars_command()[1], engine))
        if not args.no_memory:
            text, memory_results = memory(emulator, args.memory_sizes, args.concurrency)
            sections.append("## Memory\n\n" + text)
    if not args.no_startup:
        text, startup_info = startup(args.startup_runs)
        sections.append("## Start-up\n\n" + text)
    target_lines = targets(rows, args.latency, args.concurrency, startup_info, memory_results, multi_rows)
    if secured_rows:
        from bench.secured import secured_targets

        target_lines += "\n" + "\n".join(secured_targets(secured_rows))
    if large_rows:
        from bench.large import large_targets

        target_lines += "\n" + "\n".join(large_targets(large_rows))
    sections.insert(1, "## Targets\n\n" + target_lines)
    problems = [f"{r.scope} N={r.n} {r.workload}: {e}" for r in rows for e in r.errors]
    problems += [f"T={r.targets} N={r.n} {r.workload}: {e}" for r in multi_rows for e in r.errors]
    problems += [f"secured, {r.mode}, N={r.n} {r.workload}: {e}" for r in secured_rows for e in r.errors]
    problems += [f"large, {r.way}: {e}" for r in large_rows for e in r.errors]
    if problems:
        sections.append("## Problems\n\n" + "\n".join(f"- {p}" for p in problems))
    sections.append(f"Total benchmark time: {time.perf_counter() - began:.0f} s")
    report = "\n\n".join(sections) + "\n"
    print(report)
    if args.output:
        args.output.write_text(report)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
