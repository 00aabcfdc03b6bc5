"""The benchmark's machinery at N=10 (and 25, for partial pages) with no latency: bbvars sends exactly the minimum
in every scope and workload, and the baseline more. No timing is asserted: speed is what the benchmark shows."""

from __future__ import annotations

import math

import pytest
from bench.baseline import predicted_requests
from bench.emulator_process import start_emulator
from bench.run import (
    SCOPES,
    WORKLOADS,
    change_tenth,
    main,
    make_variables,
    minimum_requests,
    multi_minimum,
    multi_targets,
    run_multi,
    run_scope,
)


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
                 "--no-cli", "--emulator", "process", "--multi", "3x10"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "| deployment | 10 | 10% changed | 4 | 4 |" in out
    assert "≈" in out  # N=10 above --baseline-full-max 5: the baseline estimated from a measured sample
    assert "**no**" not in out
    assert "| 3 x 10 | re-sync | 5 | 5 |" in out  # a token, one environment listing, three target listings


@pytest.mark.parametrize("t, n", [(4, 10), (7, 25)])
def test_many_targets_in_one_run_send_the_minimum_and_fewer_than_separate_runs(emulator, t, n):
    rows = run_multi(emulator, t, n, concurrency=8)
    assert [r.workload for r in rows] == list(WORKLOADS)
    for row in rows:
        where = f"T={t} N={n} {row.workload}"
        assert row.errors == [], where
        assert row.requests == row.minimum, where  # 1 token + a listing per repository + one per target + writes
        # T separate runs: a token and an environment lookup each instead of one for all
        assert row.separate_requests == row.requests + (t - 1) + (t - math.ceil(t / 3)), where


def test_multi_minimum_counts_one_token_one_environment_listing_per_repository():
    targets = multi_targets("ws", 7)  # repo0..repo2: three, three and one environment
    assert multi_minimum(targets, 0, 70) == 1 + 3 + 7 + 70
    assert multi_minimum(targets, 250, 0) == 1 + 3 + 7 * 3
