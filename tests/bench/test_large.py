"""The benchmark's large-run rows at a small scale with no latency: past the hourly budget, run + re-run with
--max-requests send exactly the minimum, and the 429 wall ends in the clean stop. No timing is asserted."""

from __future__ import annotations

import pytest
from bench.emulator_process import start_emulator
from bench.large import run_large


@pytest.fixture(scope="module")
def emulator():
    with start_emulator("in-process", 0.0) as emu:
        yield emu


def test_past_the_hourly_budget_run_and_rerun_send_the_minimum(emulator, fast_retry):
    capped, wall = run_large(emulator, repositories=2, n=30, hourly=40)
    assert capped.errors == [] and capped.stop == "request budget" and capped.first == 40
    assert capped.total == capped.minimum == (1 + 2 + 37) + (1 + 2 + 23)
    assert wall.errors == [] and wall.stop == "rate limit"
    # The wall's refused requests: those in flight (8 at most) and one write's retries, not every write's.
    assert wall.first - (1 + 40) <= 8 + fast_retry.attempts - 1
    assert capped.baseline > 4 * 40  # the peer needs hours of budget for the same job
