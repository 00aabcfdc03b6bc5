"""Running bbvars in-process against a faulty emulator, and the one check every reliability test ends with: the
JSON report and the emulator's final state tell the same story."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from bbvars.emulator import Emulator
from tests.support import CLIENT_SECRET, Run, env_for, run_main

WORKSPACE, REPOSITORY = "acme", "api"
VARIABLES = "/2.0/repositories/acme/api/pipelines_config/variables"
OUTCOMES = ("created", "updated", "unchanged", "failed")


def state(emu: Emulator, repository: str | None = REPOSITORY, environment: str | None = None) -> dict[str, list]:
    """{key: [(value, secured), ...]}: a list, so a duplicate would show."""
    found: dict[str, list] = {}
    for var in emu.variables(WORKSPACE, repository, environment):
        found.setdefault(var["key"], []).append((var["value"], var["secured"]))
    return found


def settle(emu: Emulator, timeout: float = 10.0) -> None:
    """Wait until the emulator has answered every request it received: a held or delayed one may land after the
    client gave up on it. Fails the test if one is still unanswered after `timeout`. (A request the emulator reset
    stays at status 0, so do not use this together with resets.)"""
    deadline = time.monotonic() + timeout
    while unanswered := [r for r in emu.requests if not r.status]:
        assert time.monotonic() < deadline, f"still unanswered after {timeout} s: {unanswered}"
        time.sleep(0.02)


@dataclass
class Sync:
    """One run: its outcome, and the state before it, for `check`."""

    run: Run
    wanted: dict[str, str]
    secured: frozenset[str]
    before: dict[str, list]
    report: dict = field(default_factory=dict)


def sync(emu: Emulator, monkeypatch, capsys, wanted: dict[str, str], *args: str, secured=(), env=None) -> Sync:
    before = state(emu)
    flags = ["sync", "-w", WORKSPACE, *([] if "-r" in args else ["-r", REPOSITORY]), *args]
    for key in secured:
        flags += ["--secured", key]
    run = run_main(flags, env=env or env_for(emu), input=json.dumps(wanted), monkeypatch=monkeypatch, capsys=capsys)
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    assert CLIENT_SECRET not in run.stdout + run.stderr
    result = Sync(run, wanted, frozenset(secured), before)
    result.report = json.loads(run.stdout)
    return result


def check(emu: Emulator, result: Sync, *, raced=()) -> dict:
    """Every input key ends in exactly one outcome, and the emulator's state is what that outcome says.

    `raced`: keys someone else changed during the run (so their state before the run proves nothing)."""
    report, after, before = result.report, state(emu), result.before
    for name in (*OUTCOMES, "deleted"):
        assert report[name] == sorted(report[name], key=(lambda f: f["key"]) if name == "failed" else None)
    failed = {f["key"]: f["error"] for f in report["failed"]}
    assert len(failed) == len(report["failed"]), "a key failed twice"
    for key in result.wanted:
        places = [name for name in OUTCOMES if key in (failed if name == "failed" else report[name])]
        assert len(places) == 1, f"{key} is reported as {places}"
    reported = set(report["created"]) | set(report["updated"]) | set(report["unchanged"])
    assert reported | (set(failed) & set(result.wanted)) == set(result.wanted)
    assert reported <= set(result.wanted), "the report names keys the input does not have"
    # Only a pruned key, which existed before, can fail without being in the input.
    assert set(failed) - set(result.wanted) <= set(before) - set(result.wanted)
    assert not set(report["deleted"]) & set(result.wanted)
    # No duplicate is ever created.
    assert all(len(v) == 1 for v in after.values()), {k: v for k, v in after.items() if len(v) > 1}
    for key, value in result.wanted.items():
        wanted = (value, key in result.secured)
        if key in failed:
            assert failed[key], f"{key} failed without a cause"
            # A write that failed may or may not have landed; nothing else may have happened to it.
            assert after.get(key) in (before.get(key), [wanted]) or key in raced, (key, after.get(key))
            continue
        assert after.get(key) == [wanted], f"{key}: reported done but the emulator holds {after.get(key)}"
        if key in report["created"] and key not in raced:
            assert key not in before, f"{key} reported created but it existed before"
        if key in report["updated"] and key not in raced:
            assert key in before, f"{key} reported updated but it did not exist before"
        if key in report["unchanged"] and key not in raced:
            assert before.get(key) == [wanted], f"{key} reported unchanged but it was {before.get(key)}"
    for key in report["deleted"]:
        assert key not in after
    for key in set(before) - set(result.wanted) - set(report["deleted"]) - set(raced):
        assert after.get(key) == before[key], f"{key} is not in the input, yet it changed"
    assert (result.run.code == 0) == (not failed), (result.run.code, failed)
    # A clean stop (a lasting rate limit, the request budget) leaves only keys not attempted, and exits 4.
    stopped = bool(failed) and all(error.startswith(("not attempted: rate limit", "not attempted: request budget"))
                                   for error in failed.values())
    assert result.run.code == (0 if not failed else 4 if stopped else 1), (result.run.code, failed)
    return report
