"""The benchmark's secured rows at N=10 and 25 with no latency: bbvars sends exactly the minimum with and without
fingerprints, and a fingerprinted re-sync writes nothing. No timing is asserted."""

from __future__ import annotations

import pytest
from bench.emulator_process import start_emulator
from bench.run import main
from bench.secured import WORKLOADS, minimum, run_secured


@pytest.fixture(scope="module")
def emulator():
    with start_emulator("process", 0.0) as emu:
        yield emu


@pytest.mark.parametrize("n", [10, 25])
def test_secured_rows_are_at_the_minimum(emulator, n):
    rows = run_secured(emulator, n, concurrency=8, repeats=2)
    assert [(r.mode, r.workload) for r in rows] == list(WORKLOADS)
    for row in rows:
        where = f"{row.mode} N={n} {row.workload}: {row.log}"
        assert row.errors == [] and row.requests == row.minimum and row.reported == row.requests, where
    resync = {r.mode: r for r in rows if r.workload == "re-sync"}
    assert resync["fingerprints"].log == "POST token 1, GET 1" and resync["no fingerprints"].writes == n


def test_the_minimum_counts_the_fingerprint_variable():
    assert minimum("no fingerprints", "re-sync", 100) == (1 + 1 + 100, 100)
    assert minimum("fingerprints", "first sync", 100) == (1 + 1 + 101, 101)
    assert minimum("fingerprints", "re-sync", 100) == (1 + 2, 0)  # 101 variables listed: two pages
    assert minimum("fingerprints", "one changed", 1000) == (1 + 11 + 2, 2)
    assert minimum("fingerprints", "10% changed", 25) == (1 + 1 + 3 + 1, 4)


def test_only_the_secured_rows_render(capsys):
    assert main(["--only", "secured", "--sizes", "10", "--latency", "0", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "| 10 | on | re-sync | 2 | 2 | 0 |" in out and "**no**" not in out
    assert "## Sync: requests and wall time" not in out
