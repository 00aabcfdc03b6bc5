"""The benchmark's secured-variable rows: N secured repository variables synced and re-synced without fingerprints
(every secured value rewritten on every run, as Bitbucket never returns one) and with `--fingerprint` (a re-sync
lists and writes nothing; a change is its write plus one write of BBVARS_FINGERPRINTS).

    python bench/run.py --only secured           # just these rows (about 1 minute at the default sizes)
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from bbvars.models import Variable
from bbvars.sync.fingerprints import new_key
from bench.run import (
    PAGELEN,
    describe_log,
    log,
    prepare_namespace,
    run_bbvars,
    run_errors,
    seconds_text,
    settings_for,
    target_for,
)

# (mode, workload): fingerprints off, then on; each mode in its own fresh repository per repeat.
WORKLOADS = (
    ("no fingerprints", "first sync"),
    ("no fingerprints", "re-sync"),
    ("fingerprints", "first sync"),
    ("fingerprints", "re-sync"),
    ("fingerprints", "one changed"),
    ("fingerprints", "10% changed"),
)


def make_secrets(n: int) -> list[Variable]:
    return [Variable(f"SECRET_{i:05d}", f"secret-{i:05d}-{'s' * 24}", True) for i in range(n)]


def change(variables: list[Variable], every: int) -> list[Variable]:
    return [Variable(v.key, v.value + "-rotated", True) if i % every == 0 else v for i, v in enumerate(variables)]


def pages(count: int) -> int:
    return max(1, math.ceil(count / PAGELEN))


def minimum(mode: str, workload: str, n: int) -> tuple[int, int]:
    """(the fewest requests the workload allows, the writes among them). Without fingerprints a secured value can
    never be shown equal, so every re-sync must rewrite all N; with them the target holds N + 1 variables (the
    fingerprint variable), and a change costs its own write plus one write of the fingerprint variable."""
    if mode == "no fingerprints":
        writes = n
        listed = 0 if workload == "first sync" else n
    else:
        listed = 0 if workload == "first sync" else n + 1
        changed = {"first sync": n, "re-sync": 0, "one changed": 1, "10% changed": math.ceil(n / 10)}[workload]
        writes = changed + (1 if changed else 0)
    return 1 + pages(listed) + writes, writes


@dataclass
class SecuredRow:
    mode: str
    n: int
    workload: str
    requests: int
    reported: int
    minimum: int
    writes: int
    seconds: float
    log: str
    samples: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def at_minimum(self) -> bool:
        return self.requests == self.minimum and self.reported == self.requests


def run_secured(emulator, n: int, concurrency: int, repeats: int = 1) -> list[SecuredRow]:
    secrets = make_secrets(n)
    inputs = {"first sync": secrets, "re-sync": secrets, "one changed": change(secrets, n),
              "10% changed": change(change(secrets, n), 10)}
    rows: list[SecuredRow] = []
    for repeat in range(repeats):
        namespaces: dict[str, object] = {}
        for index, (mode, workload) in enumerate(WORKLOADS):
            if mode not in namespaces:
                workspace = f"secured{n}-{mode.replace(' ', '')}-{repeat}"
                prepare_namespace(emulator, workspace)
                # The key is made once per namespace, as a user makes it once (`bbvars fingerprint-key`).
                key = {"fingerprint": True, "fingerprint_key": new_key()} if mode == "fingerprints" else {}
                namespaces[mode] = settings_for(emulator, target_for("repository", workspace), concurrency, **key)
            result, seconds, records = run_bbvars(emulator, namespaces[mode], inputs[workload])
            least, writes = minimum(mode, workload, n)
            if repeat == 0:
                rows.append(SecuredRow(mode, n, workload, len(records), result.requests, least, writes, seconds,
                                       describe_log(records)))
            row = rows[index]
            row.samples.append(seconds)
            row.errors.extend(run_errors(repeat, records, result, row))
            expected_changed = writes - (1 if mode == "fingerprints" and writes else 0)
            if len(result.created) + len(result.updated) != expected_changed:
                row.errors.append(f"bbvars wrote {len(result.created) + len(result.updated)} secured values, "
                                  f"expected {expected_changed}")
            if mode == "fingerprints" and workload == "re-sync" and (result.changed or len(result.unchanged) != n):
                row.errors.append("a fingerprinted re-sync reported a change")
            log(f"  secured  {mode:<15} N={n:<5} {workload:<12} {len(records):>6} requests (minimum {least}) "
                f"{seconds:7.3f} s  [{describe_log(records)}]")
    for row in rows:
        row.seconds = statistics.median(row.samples)
    return rows


def secured_table(rows: list[SecuredRow]) -> str:
    lines = ["| N secured | fingerprints | workload | bbvars requests | minimum | writes | bbvars time "
             "| emulator log |", "|---:|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        mark = "" if r.at_minimum else " ✗"
        lines.append(f"| {r.n:,} | {'on' if r.mode == 'fingerprints' else 'off'} | {r.workload} | "
                     f"{r.requests:,}{mark} | {r.minimum:,} | {r.writes:,} | {seconds_text(r.seconds)} | {r.log} |")
    return "\n".join(lines)


def secured_targets(rows: list[SecuredRow]) -> list[str]:
    """Rows for the benchmark's Targets table."""
    off = [r for r in rows if not r.at_minimum]
    lines = [f"| secured rows at the minimum ({len(rows)} rows) | {len(rows) - len(off)} of {len(rows)}"
             + (": " + "; ".join(f"{r.mode} N={r.n} {r.workload}: {r.requests} vs {r.minimum}" for r in off)
                if off else "") + f" | {'yes' if not off else '**no**'} |"]
    by = {(r.mode, r.workload, r.n): r for r in rows}
    for n in sorted({r.n for r in rows}):
        plain, fingerprinted = by.get(("no fingerprints", "re-sync", n)), by.get(("fingerprints", "re-sync", n))
        if plain and fingerprinted:
            lines.append(f"| re-sync of {n:,} unchanged secured variables writes nothing with fingerprints | "
                         f"{fingerprinted.requests:,} requests, {seconds_text(fingerprinted.seconds)} (without: "
                         f"{plain.requests:,} requests, {seconds_text(plain.seconds)}) | "
                         f"{'yes' if fingerprinted.writes == 0 and fingerprinted.at_minimum else '**no**'} |")
    return lines
