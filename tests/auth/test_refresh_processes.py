"""The stored login's refresh between real processes: a signal during it (on the main thread, or on a writer thread
when a token expires mid-run), a holder stopped with Ctrl-Z, and a Python with no fcntl. The emulator's token endpoint is made slow (a fault that delays, then answers and rotates as
Bitbucket does), so the signal lands while the refresh is in flight."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from bbvars.emulator import Fault
from tests.auth.helpers import credentials, login_env, refresh_works, write_login
from tests.auth.helpers import stored as stored_login
from tests.support import run_cli, stored, token_requests

TOKEN_PATH = "^/site/oauth2/access_token$"


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bbvars", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_token_request(emulator, proc: subprocess.Popen, deadline: float = 20.0) -> None:
    ends = time.monotonic() + deadline
    while not token_requests(emulator):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < ends, "no token request came"
        time.sleep(0.02)


LIST = ["list", "-w", "acme", "-r", "api"]
SYNC = ["sync", "-w", "acme", "-r", "api", "--var", "A=1"]


@pytest.mark.parametrize("args, signals, code", [
    (LIST, [signal.SIGINT], 130),  # Ctrl-C: KeyboardInterrupt, once the answer is saved
    (LIST, [signal.SIGTERM], -signal.SIGTERM),  # the default action (the process ends), once the answer is saved
    (["check", "-w", "acme", "-r", "api"], [signal.SIGTERM], -signal.SIGTERM),
    (SYNC, [signal.SIGINT, signal.SIGINT], 130),  # asked twice: stop now, but not between the answer and the save
])
def test_a_signal_during_a_refresh_takes_effect_after_the_new_token_is_saved(emulator, config_home, args, signals,
                                                                             code):
    before = write_login(emulator, config_home, expired=True)
    emulator.reset_requests()
    emulator.inject(Fault(method="POST", path=TOKEN_PATH, delay=1.5))
    proc = start(args, login_env(emulator))
    wait_for_token_request(emulator, proc)
    for signum in signals:
        proc.send_signal(signum)
        time.sleep(0.1)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    after = stored_login(config_home)
    # The server rotated the refresh token when it answered: the login survives only if that answer was saved.
    assert after["refresh_token"] != before["refresh_token"] and after["access_token"] != before["access_token"]
    assert refresh_works(emulator, after["refresh_token"])
    if code == 130:
        assert err.splitlines()[-1] == "bbvars: error: interrupted"


def test_a_run_waits_for_a_stopped_holder_of_the_lock_only_within_its_timeout(emulator, config_home):
    """One bbvars stopped with Ctrl-Z in the middle of a refresh holds the lock; another gives up after its timeout
    saying which process holds it, and the first, resumed, finishes its refresh."""
    write_login(emulator, config_home, expired=True)
    emulator.reset_requests()
    emulator.inject(Fault(method="POST", path=TOKEN_PATH, delay=1.0))
    env = login_env(emulator)
    holder = start(LIST, env)
    wait_for_token_request(emulator, holder)
    holder.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        run = run_cli([*LIST, "--timeout", "2"], env=env, timeout=30)
        took = time.monotonic() - started
    finally:
        holder.send_signal(signal.SIGCONT)
    _out, err = holder.communicate(timeout=30)
    lock = credentials(config_home).with_name("credentials.json.lock")
    assert run.code == 1 and took < 15
    assert run.stderr.splitlines()[-1] == (
        f"bbvars: error: another bbvars (pid {holder.pid}) holds the stored login's lock {lock} and did not let go "
        f"within 2 s (the timeout): if it is stopped (Ctrl-Z), resume it (`fg`) or end it (`kill {holder.pid}`), "
        "then re-run")
    assert holder.returncode == 0, err
    assert len(token_requests(emulator)) == 1  # the waiter never spent the refresh token


def test_without_fcntl_the_stored_login_is_still_refreshed_and_a_sync_runs(emulator, config_home):
    """No POSIX-only import on the credential path: with fcntl unimportable (as on Windows), the refresh takes
    filelock's portable lock and the sync writes."""
    before = write_login(emulator, config_home, expired=True)
    emulator.reset_requests()
    blocked = ("import sys; sys.modules['fcntl'] = None; from bbvars.surfaces.cli.main import main; "
               "sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", blocked, *SYNC], env=login_env(emulator), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert stored(emulator) == {"A": ("1", False)}
    assert len(token_requests(emulator)) == 1
    after = stored_login(config_home)
    assert after["refresh_token"] != before["refresh_token"] and refresh_works(emulator, after["refresh_token"])
    lines = proc.stderr.splitlines()
    assert lines[0] == "bbvars: credential: stored login of Demo User (demo-user)"
    assert "repository acme/api: 1 created, 0 updated, 0 unchanged, 0 deleted" in lines
    assert not any(word in proc.stderr.lower() for word in ("warning", "filelock", "soft", "fcntl")), proc.stderr
    assert not credentials(config_home).with_name("credentials.json.lock").exists()  # the portable lock's marker


WRITES = "^/2.0/repositories/acme/api/pipelines_config/variables/?$"


@pytest.mark.parametrize("signals, code", [
    ([signal.SIGINT], 130),  # Ctrl-C: the write in flight (its refresh and retry) finishes, no new one starts
    ([signal.SIGTERM], 143),  # a CI's cancellation: the same
    ([signal.SIGINT, signal.SIGINT], 130),  # asked twice: stop now, but not between the answer and the save
])
def test_a_signal_during_a_refresh_on_a_writer_thread_takes_effect_after_the_new_token_is_saved(
        emulator, config_home, signals, code):
    """A token that expires mid-run is refreshed by the write that met the 401, on one of the engine's writer threads
    (where signal handlers cannot be swapped): the signal still waits for the answer and its save."""
    before = write_login(emulator, config_home)  # valid by the clock: the run starts with it, no refresh first
    emulator.reset_requests()
    writes: list[int] = []

    def second_write_expires_tokens(emu) -> None:
        writes.append(1)
        if len(writes) == 2:
            emu.expire_tokens()

    emulator.inject(Fault(method="POST", path=WRITES, times=-1, action=second_write_expires_tokens))
    emulator.inject(Fault(method="POST", path=TOKEN_PATH, delay=1.5))
    proc = start([*SYNC, "--var", "B=2", "--var", "C=3", "--concurrency", "1"], login_env(emulator))
    wait_for_token_request(emulator, proc)
    for signum in signals:
        proc.send_signal(signum)
        time.sleep(0.1)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    # The refresh came from a write's 401 (so on a writer thread), not before the first request.
    paths = [r.path for r in emulator.requests if r.method == "POST"]
    assert paths[2] == "/site/oauth2/access_token" and paths.count(paths[0]) <= 3, paths  # C never sent
    after = stored_login(config_home)
    assert after["refresh_token"] != before["refresh_token"] and after["access_token"] != before["access_token"]
    assert refresh_works(emulator, after["refresh_token"])
    if len(signals) == 2:
        assert err.splitlines()[-1] == "bbvars: error: interrupted"
        return
    # The true report: the write in flight (B, retried with the new token) finished, C was never started.
    report = json.loads(out)
    assert report["created"] == ["A", "B"] and stored(emulator) == {"A": ("1", False), "B": ("2", False)}
    assert [failed["key"] for failed in report["failed"]] == ["C"]
