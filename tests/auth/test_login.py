"""`bbvars login` / `logout` end to end over HTTP against the emulator's consent page (a real process listening on
a free loopback port), and the stored login's refresh with rotation in later commands."""

from __future__ import annotations

import json
import os
import socket
import stat
import time

import httpx

from bbvars.auth import store
from tests.support import (
    LOGIN_CLIENT_ID,
    LOGIN_CLIENT_SECRET,
    answer_consent,
    clean_env,
    finish,
    free_port,
    log_in,
    login_consumer,
    login_env,
    run_cli,
    run_in_process,
    start_login,
    stored,
    token_requests,
)


def stored_login(config_home) -> dict:
    return json.loads((config_home / "bbvars" / "credentials.json").read_text())


def secrets_of(config_home) -> list[str]:
    data = stored_login(config_home)
    return [data["access_token"], data["refresh_token"], LOGIN_CLIENT_SECRET]


def test_login_stores_the_tokens_0600_and_prints_who_and_the_scopes_never_a_token(emulator, config_home):
    run = log_in(emulator)
    assert run.code == 0, run.stderr
    assert run.json["user"] == "Demo User (demo-user)"
    assert run.json["scopes"] == "pipeline pipeline:variable account"
    assert "✔ Logged in as Demo User (demo-user), scopes: pipeline pipeline:variable account" in run.stderr
    path = config_home / "bbvars" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = stored_login(config_home)
    assert data["client_id"] == LOGIN_CLIENT_ID and data["client_secret"] == LOGIN_CLIENT_SECRET
    assert data["refresh_token"] and data["access_token"] and data["expires_at"] > time.time()
    for secret in secrets_of(config_home):
        assert secret not in run.stdout + run.stderr
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temporary file left behind
    grants = [r for r in token_requests(emulator)]
    assert len(grants) == 1  # one code exchange


def test_later_commands_use_the_stored_login_and_refresh_it_once_with_rotation(emulator, config_home):
    assert log_in(emulator).code == 0
    before = stored_login(config_home)
    emulator.expire_tokens()
    emulator.reset_requests()
    env = clean_env(BITBUCKET_API_URL=emulator.api_url)  # no credential in the environment
    run = run_cli(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--var", "B=2"], env=env)
    assert run.code == 0, run.stderr
    assert "bbvars: credential: stored login of Demo User (demo-user)" in run.stderr
    assert stored(emulator) == {"A": ("1", False), "B": ("2", False)}
    assert len(token_requests(emulator)) == 1  # one refresh for one expiry, whatever the number of requests
    after = stored_login(config_home)
    assert after["refresh_token"] != before["refresh_token"] and after["access_token"] != before["access_token"]
    assert stat.S_IMODE((config_home / "bbvars" / "credentials.json").stat().st_mode) == 0o600
    for secret in [*secrets_of(config_home), before["refresh_token"]]:
        assert secret not in run.stdout + run.stderr
    # The old refresh token was spent: Bitbucket (and the emulator) refuse it now.
    with httpx.Client(trust_env=False) as web:
        old = web.post(emulator.token_url, auth=(LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET),
                       data={"grant_type": "refresh_token", "refresh_token": before["refresh_token"]})
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant"


def test_a_token_expired_by_the_clock_is_refreshed_before_the_first_request(emulator, config_home):
    assert log_in(emulator).code == 0
    path = config_home / "bbvars" / "credentials.json"
    data = stored_login(config_home)
    store.save(path, store.Login(**{**{k: v for k, v in data.items() if k != "version"}, "expires_at": time.time() - 1}))
    emulator.reset_requests()
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=clean_env(BITBUCKET_API_URL=emulator.api_url))
    assert run.code == 0, run.stderr
    assert emulator.requests[0].path == "/site/oauth2/access_token"  # refreshed first: no 401 was needed
    assert all(r.status != 401 for r in emulator.requests)


def test_a_refused_refresh_token_says_to_log_in_again(emulator, config_home):
    assert log_in(emulator).code == 0
    emulator.expire_tokens()
    emulator.expire_refresh_tokens()
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=clean_env(BITBUCKET_API_URL=emulator.api_url))
    assert run.code == 1
    assert "run `bbvars login` again" in run.stderr.splitlines()[-1]
    for secret in secrets_of(config_home):
        assert secret not in run.stdout + run.stderr


def test_a_credential_in_the_environment_wins_over_the_stored_login(emulator, bb_env, config_home):
    assert log_in(emulator).code == 0
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=bb_env)
    assert run.code == 0 and "bbvars: credential: OAuth consumer" in run.stderr


def test_denied_consent_is_one_line_and_stores_nothing(emulator, config_home):
    callback = login_consumer(emulator)
    proc, page, first = start_login(emulator, callback)
    assert "error=access_denied" in answer_consent(page, decision="cancel")
    run = finish(proc, first)
    assert run.code == 1 and run.stdout == ""
    assert run.stderr.splitlines()[-1].startswith("bbvars: error: access was not granted in the browser")
    assert not (config_home / "bbvars" / "credentials.json").exists()


def test_a_wrong_or_missing_state_is_turned_away_and_the_login_keeps_waiting(emulator, config_home):
    """A stray request to the callback (another program, an old tab) gets 400 and is not told it logged in; the real
    callback a moment later still finds bbvars listening, and the forged code is never exchanged."""
    callback = login_consumer(emulator)
    proc, page, first = start_login(emulator, callback)
    with httpx.Client(trust_env=False) as web:
        for params in ({"code": "forged", "state": "not-the-one"}, {"code": "forged"}, {"error": "access_denied"}):
            stray = web.get(callback, params=params)
            assert stray.status_code == 400 and "logged in" not in stray.text, stray.text
    assert proc.poll() is None  # still waiting
    answer_consent(page)
    run = finish(proc, first)
    assert run.code == 0, run.stderr
    assert len(token_requests(emulator)) == 1  # the real code only: a forged one would have been a second request
    assert (config_home / "bbvars" / "credentials.json").exists()


def test_only_stray_requests_end_at_the_timeout_saying_so(emulator, config_home):
    callback = login_consumer(emulator)
    proc, _page, first = start_login(emulator, callback, "--timeout", "2")
    with httpx.Client(trust_env=False) as web:
        assert web.get(callback, params={"code": "forged", "state": "x"}).status_code == 400
    run = finish(proc, first)
    assert run.code == 1
    assert run.stderr.splitlines()[-1].startswith(
        "bbvars: error: no answer from the browser within 2 s; 1 request(s) without this login's state were turned "
        "away: run `bbvars login` again")
    assert token_requests(emulator) == [] and not (config_home / "bbvars" / "credentials.json").exists()


def test_no_answer_within_the_timeout(emulator):
    proc, _page, first = start_login(emulator, login_consumer(emulator), "--timeout", "1")
    run = finish(proc, first)
    assert run.code == 1
    assert run.stderr.splitlines()[-1].startswith("bbvars: error: no answer from the browser within 1 s")


def test_a_port_in_use_is_one_line(emulator):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc, page, first = start_login(emulator, login_consumer(emulator, port))
        run = finish(proc, first)
    assert page is None and run.code == 1
    assert run.stderr.strip().splitlines() == [
        f"bbvars: error: port {port} on 127.0.0.1 is in use (another `bbvars login`?): stop what holds it, or give "
        "--callback-url with another port (the consumer's callback URL must be the same)"]


def test_bad_login_input_is_exit_2_before_any_request(emulator):
    port = free_port()
    for args, env, words in [
        (["--callback-url", f"https://127.0.0.1:{port}/cb"], login_env(emulator), "must be a loopback http:// URL"),
        (["--callback-url", "http://example.com:8976/callback"], login_env(emulator), "must be a loopback http://"),
        (["--callback-url", f"http://127.0.0.1:{port}/cb"], clean_env(BITBUCKET_TOKEN_URL=emulator.token_url),
         "login needs the OAuth consumer: set BITBUCKET_CLIENT_ID"),
        (["--timeout", "0"], login_env(emulator), "--timeout must be between 1 and 3600"),
    ]:
        run = run_in_process(["login", "--no-browser", *args], env=env)
        assert run.code == 2 and words in run.stderr and len(run.stderr.splitlines()) == 1, run.stderr
    assert emulator.requests == []


def test_logout_deletes_the_stored_login(emulator, config_home):
    assert log_in(emulator).code == 0
    run = run_in_process(["logout"], env=clean_env())
    assert run.code == 0 and run.json == {"logged_out": True, "path": str(config_home / "bbvars" / "credentials.json")}
    assert not (config_home / "bbvars" / "credentials.json").exists()
    again = run_in_process(["logout"], env=clean_env())
    assert again.code == 0 and again.json["logged_out"] is False
    # Without it, a command with no credential is bad input again.
    run = run_in_process(["sync", "-w", "acme", "--var", "A=1"], env=clean_env(BITBUCKET_API_URL=emulator.api_url))
    assert run.code == 2 and "no credentials" in run.stderr and "bbvars login" in run.stderr


def test_the_login_is_read_from_xdg_config_home_else_home(tmp_path):
    assert store.config_dir({"XDG_CONFIG_HOME": str(tmp_path), "HOME": "/nowhere"}) == tmp_path / "bbvars"
    assert store.config_dir({"XDG_CONFIG_HOME": "relative/dir", "HOME": str(tmp_path)}) == tmp_path / ".config" / "bbvars"
    assert store.config_dir({"HOME": str(tmp_path)}) == tmp_path / ".config" / "bbvars"
    assert os.environ["XDG_CONFIG_HOME"] != str(tmp_path)  # the fixture's, never the developer's


def test_a_silent_connection_does_not_hold_the_listener(emulator, config_home):
    """Something that connects to the callback port and never sends a request must not keep the real callback out
    (each connection has its own thread and a read timeout)."""
    callback = login_consumer(emulator)
    proc, page, first = start_login(emulator, callback, "--timeout", "60")
    port = int(callback.split(":")[2].split("/")[0])
    with socket.create_connection(("127.0.0.1", port)):
        answer_consent(page)  # the browser's redirect arrives while the silent connection is open
        run = finish(proc, first)
    assert run.code == 0, run.stderr


def test_two_processes_meeting_an_expired_login_refresh_it_once(emulator, config_home):
    """The refresh token rotates, so two bbvars runs must not both spend it: a lock and a re-read of the file make
    the second use the first one's new token (whether or not the two runs overlap, exactly one refresh is sent)."""
    import subprocess
    import sys

    assert log_in(emulator).code == 0
    emulator.expire_tokens()
    emulator.reset_requests()
    env = clean_env(BITBUCKET_API_URL=emulator.api_url)
    runs = [subprocess.Popen([sys.executable, "-m", "bbvars", "sync", "-w", "acme", "-r", "api", "--var", f"K{n}=v"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in range(2)]
    results = [(proc.wait(timeout=60), proc.stderr.read()) for proc in runs]
    for proc in runs:
        proc.stdout.close()
        proc.stderr.close()
    assert [code for code, _ in results] == [0, 0], results
    assert len(token_requests(emulator)) == 1
    assert set(stored(emulator)) == {"K0", "K1"}


def test_the_account_name_from_the_server_is_one_short_printable_line():
    from bbvars.auth.login import plain

    assert plain("Ada\n::stop-commands::x\r\x1b[31m") == "Ada ::stop-commands::x [31m"
    assert len(plain("x" * 500)) == 80
