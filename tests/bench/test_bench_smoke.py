"""The benchmark's machinery at N=10 (and 25, for partial pages) with no latency: bbvars sends exactly the minimum
in every scope and workload, and the baseline more. No timing is asserted: speed is what the benchmark shows."""

from __future__ import annotations

import pytest

from bench.baseline import predicted_requests
from bench.emulator_process import start_emulator
from bench.run import SCOPES, WORKLOADS, change_tenth, main, make_variables, minimum_requests, run_scope


@pytest.fixture(scope="module")
def emulator():
    # The benchmark's default: the emulator in a child process, driven through the wrapper.
    with start_emulator("process", 0.0) as emu:
        yield emu


@pytest.mark.parametrize("n", [10, 25])
def test_bbvars_sends_the_minimum_and_the_baseline_more(emulator, n):
    for scope in SCOPES:
        rows = run_scope(emulator, scope, n, concurrency=8, baseline_full_max=n, sample=3, repeats=2)
        assert [r.workload for r in rows] == list(WORKLOADS)
        for row in rows:
            where = f"{scope} N={n} {row.workload}: {row.log}"
            assert row.errors == [], where
            assert row.requests == row.minimum, where  # the emulator's log
            assert row.reported == row.requests, where  # SyncResult.requests agrees with it
            assert not row.baseline_estimated
            assert row.baseline_requests == row.baseline_predicted, where  # the model used above full-run sizes
            assert row.baseline_requests > row.requests, where


def test_minimum_counts_token_pages_environment_and_writes():
    assert minimum_requests("repository", 0, 10) == 12  # token, one (empty) page, 10 creates
    assert minimum_requests("workspace", 1000, 0) == 11  # token, 10 pages
    assert minimum_requests("deployment", 1000, 100) == 112  # + environment lookup, + 100 updates
    assert minimum_requests("repository", 101, 0) == 3


def test_baseline_model_pages_at_ten():
    first = make_variables(25)
    # token + (1 + 1 + ... pages of a growing list, then a POST each)
    assert predicted_requests([], first, deployment=False) == 1 + sum(max(1, -(-i // 10)) for i in range(25)) + 25
    # found on page i // 10 + 1, nothing written
    assert predicted_requests(first, first, deployment=True) == 2 + sum(i // 10 + 1 for i in range(25))
    changed = change_tenth(first)
    assert predicted_requests(first, changed, deployment=False) == 1 + sum(i // 10 + 1 for i in range(25)) + 3


def test_the_report_renders_end_to_end(capsys):
    code = main(["--sizes", "10", "--latency", "0", "--baseline-full-max", "5", "--no-startup", "--no-memory",
                 "--no-cli", "--emulator", "process"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| deployment | 10 | 10% changed | 4 | 4 |" in out
    assert "≈" in out  # N=10 above --baseline-full-max 5: the baseline estimated from a measured sample
    assert "**no**" not in out
