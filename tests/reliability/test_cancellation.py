"""SIGINT and SIGTERM on every surface: no new write starts, the writes in flight finish, the report printed is true
(every key once, what was not attempted `failed` with the error `cancelled`), and the exit code is 130 or 143.

Each run is a real process against an emulator with latency. The emulator holds every write (a gate) so the test
knows exactly which writes are in flight when it sends the signal; it opens the gate once the process says it got
the signal (the Terraform surface says nothing until its one error line, so there the gate opens right after the
signal and the checks are the ones that hold whatever the timing). The report is then checked against the
emulator's final state."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from bbvars.emulator import Emulator, Fault
from tests.support import CLIENT_ID, CLIENT_SECRET, ROOT, api_writes, env_for

VARIABLES = {f"KEY_{n:02d}": f"value-{n}" for n in range(12)}
CONCURRENCY = 3
COLLECTION = r"/pipelines_config/variables/?$"
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
NOTICE = "received: the writes in flight finish, no new one starts"


@pytest.fixture
def emulator():
    with Emulator(latency=0.02) as emu:
        emu.seed_demo()
        emu.add_consumer(CLIENT_ID, CLIENT_SECRET)
        yield emu


@pytest.fixture
def gate():
    opened = threading.Event()
    yield opened
    opened.set()  # whatever happens, no request stays held


def held(gate: threading.Event):
    def hold(emu: Emulator) -> None:
        assert gate.wait(timeout=30), "the test never opened the gate"
    return hold


class Output:
    """A stream of the process read line by line on a thread, so the test can wait for a line without blocking."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 30) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(text in line for line in self.lines), timeout)

    @property
    def text(self) -> str:
        self._thread.join(timeout=30)
        return "\n".join(self.lines) + ("\n" if self.lines else "")


def command_for(surface: str, emu: Emulator, tmp_path: Path) -> tuple[list[str], dict[str, str], str | None]:
    env = env_for(emu, PYTHONUNBUFFERED="1")
    document = json.dumps(VARIABLES)
    if surface == "cli":
        return (["sync", "-w", "acme", "-r", "api", "--concurrency", str(CONCURRENCY)], env, document)
    if surface == "terraform":
        query = {"workspace": "acme", "repository": "api", "variables": document, "concurrency": str(CONCURRENCY)}
        return ["terraform"], env, json.dumps(query)
    if surface == "pipe":
        env.update(WORKSPACE="acme", REPOSITORY="api", VARIABLES=document, CONCURRENCY=str(CONCURRENCY),
                   BITBUCKET_PIPE_STORAGE_DIR=str(tmp_path / "storage"))
        return ["pipe"], env, None
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    given = {"workspace": "acme", "repository": "api", "variables": document, "concurrency": str(CONCURRENCY)}
    for name, spec in inputs.items():
        env[f"INPUT_{name.upper()}"] = str(given.pop(name, spec.get("default", "")))
    for name in ("output", "summary"):
        (tmp_path / name).touch()
    env.update(GITHUB_OUTPUT=str(tmp_path / "output"), GITHUB_STEP_SUMMARY=str(tmp_path / "summary"))
    return ["action"], env, None


def unanswered(emu: Emulator, method: str) -> list:
    return [r for r in emu.requests if r.method == method and r.path.startswith("/2.0/") and not r.status]


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def interrupt(surface: str, emu: Emulator, tmp_path: Path, gate: threading.Event, signum: int, method: str,
              in_flight: int) -> tuple[int, str, str]:
    """Run the surface, wait for `in_flight` held `method` requests, send `signum`, open the gate once the process
    has taken the signal; (exit code, stdout, stderr)."""
    args, env, stdin = command_for(surface, emu, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "bbvars", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        proc.stdin.write(stdin or "")
        proc.stdin.close()
        out, err = Output(proc.stdout), Output(proc.stderr)
        wait_until(lambda: len(unanswered(emu, method)) >= in_flight, f"{in_flight} {method} requests in flight")
        assert len(unanswered(emu, method)) == in_flight
        proc.send_signal(signum)
        if surface != "terraform":  # the others say they got it: only then may the held requests end
            told = (err if surface == "cli" else out).wait_for(f"{signal.Signals(signum).name} {NOTICE}")
            assert told, (out.text, err.text)
        gate.set()
        code = proc.wait(timeout=60)
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, out.text, err.text


def report_of(surface: str, stdout: str, stderr: str, tmp_path: Path) -> dict:
    """The JSON report each surface leaves: stdout (CLI), result.json (pipe), the `result` output (action)."""
    if surface == "cli":
        return json.loads(stdout)
    if surface == "pipe":
        return json.loads((tmp_path / "storage" / "result.json").read_text())
    text = (tmp_path / "output").read_text()
    block = text[text.index("result<<"):]
    delimiter = block.split("\n", 1)[0].removeprefix("result<<")
    return json.loads(block.split("\n", 1)[1].split("\n" + delimiter, 1)[0])


def assert_true_report(report: dict, emu: Emulator) -> None:
    """Every key exactly once; what is reported created is what the emulator holds; the rest `cancelled`."""
    failed = {f["key"]: f["error"] for f in report["failed"]}
    assert sorted([*report["created"], *report["updated"], *report["unchanged"], *failed]) == sorted(VARIABLES)
    stored = {v["key"]: v["value"] for v in emu.variables("acme", "api")}
    assert stored == {key: VARIABLES[key] for key in report["created"]}
    assert set(failed.values()) == {"cancelled"}, failed


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("surface", ["cli", "pipe", "action", "terraform"])
def test_a_signal_mid_run_finishes_the_writes_in_flight_and_reports_the_rest_cancelled(
        emulator, gate, tmp_path, surface, signum):
    emulator.inject(Fault(method="POST", path=COLLECTION, times=-1, action=held(gate)))
    code, stdout, stderr = interrupt(surface, emulator, tmp_path, gate, signum, "POST", CONCURRENCY)

    assert code == EXIT[signum], (code, stdout, stderr)
    assert "Traceback" not in stdout + stderr and "internal error" not in stdout + stderr
    writes = api_writes(emulator)
    assert all(r.status == 201 for r in writes), writes  # each write in flight finished
    stored = {v["key"] for v in emulator.variables("acme", "api")}
    assert len(stored) == len(writes)
    if surface == "terraform":
        # One line on standard error, nothing on standard output: Terraform shows the line as the diagnostic.
        assert stdout == "" and len(stderr.splitlines()) == 1, (stdout, stderr)
        assert f"{len(VARIABLES) - len(stored)} keys not written: cancelled (still done: {len(stored)} created)" \
            in stderr, stderr
        assert 1 <= len(stored) < len(VARIABLES)
        return
    # The signal was taken while exactly CONCURRENCY writes were held: those finished, no other started.
    assert len(writes) == CONCURRENCY, writes
    report = report_of(surface, stdout, stderr, tmp_path)
    assert_true_report(report, emulator)
    assert len(report["created"]) == CONCURRENCY
    if surface == "cli":
        assert stderr.splitlines()[-1].startswith("bbvars: error: repository acme/api: ") and "cancelled" in stderr
    if surface == "pipe":
        assert stdout.splitlines()[-1].startswith("✖ Sync failed (3 created, 0 updated, 0 unchanged, 0 deleted, "
                                                  "9 failed): "), stdout
    if surface == "action":
        assert stdout.splitlines()[-1].startswith("::error::Sync failed (3 created"), stdout
        summary = (tmp_path / "summary").read_text()
        assert summary.count("| created |") == 3 and summary.count("| failed |") == 9, summary


@pytest.mark.parametrize("surface", ["cli", "pipe", "action", "terraform"])
def test_a_signal_during_the_listing_writes_nothing(emulator, gate, tmp_path, surface):
    emulator.inject(Fault(method="GET", path=COLLECTION, times=1, action=held(gate)))
    code, stdout, stderr = interrupt(surface, emulator, tmp_path, gate, signal.SIGTERM, "GET", 1)

    assert code == 143, (code, stdout, stderr)
    assert api_writes(emulator) == [] and emulator.variables("acme", "api") == []
    if surface == "terraform":
        assert stdout == "" and len(stderr.splitlines()) == 1 and "cancelled" in stderr, (stdout, stderr)
        return
    report = report_of(surface, stdout, stderr, tmp_path)
    assert_true_report(report, emulator)
    assert report["created"] == [] and len(report["failed"]) == len(VARIABLES)


def test_the_engine_sends_nothing_once_cancelled(emulator):
    from bbvars.models import Variable
    from bbvars.redaction import Redactor
    from bbvars.request.settings import Settings
    from tests.support import sync_one

    cancel = threading.Event()
    cancel.set()
    settings = Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=emulator.api_url,
                        token_url=emulator.token_url, workspace="acme", repository="api")
    result = sync_one(settings, [Variable("A", "1")], Redactor(), cancel=cancel)
    assert result.failed == [{"key": "A", "error": "cancelled"}] and result.error == "cancelled"
    assert emulator.requests == []


def test_a_second_ctrl_c_stops_at_once(emulator, gate, tmp_path):
    emulator.inject(Fault(method="POST", path=COLLECTION, times=-1, action=held(gate)))
    args, env, stdin = command_for("cli", emulator, tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "bbvars", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
        out, err = Output(proc.stdout), Output(proc.stderr)
        wait_until(lambda: len(unanswered(emulator, "POST")) == CONCURRENCY, "the writes in flight")
        proc.send_signal(signal.SIGINT)
        assert err.wait_for(f"SIGINT {NOTICE}"), err.text
        proc.send_signal(signal.SIGINT)  # the writes are still held: only a hard stop can end the run now
        assert proc.wait(timeout=30) == 130
    finally:
        gate.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert out.text == "" and err.text.splitlines()[-1] == "bbvars: error: interrupted"
