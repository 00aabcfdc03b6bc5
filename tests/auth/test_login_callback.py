"""`bbvars login`'s callback: `localhost` is both loopback addresses (a browser may pick either), a callback URL that
cannot be listened on as given is bad input, and whatever the server or the redirect says reaches the terminal
with its control characters escaped."""

from __future__ import annotations

import json
import re
import socket
from urllib.parse import quote

import httpx
import pytest

from bbvars.emulator import Fault
from tests.support import (
    LOGIN_CLIENT_ID,
    LOGIN_CLIENT_SECRET,
    LOGIN_SCOPES,
    finish,
    free_port,
    login_consumer,
    login_env,
    run_main,
    start_login,
)


def free_on_both_loopbacks() -> int:
    for _ in range(20):
        port = free_port()
        with socket.socket(socket.AF_INET6) as probe:
            try:
                probe.bind(("::1", port))
            except OSError:
                continue
        return port
    raise AssertionError("no port free on both 127.0.0.1 and ::1")


def consent_redirect(page_url: str) -> str:
    """Grant access on the consent page, over HTTP; the callback URL (with code and state) the browser is sent to."""
    with httpx.Client(trust_env=False) as web:
        page = web.get(page_url)
        form = dict(re.findall(r"name='(client_id|state)' value='([^']*)'", page.text))
        answer = web.post(page_url.split("?")[0], data={**form, "decision": "grant"})
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def test_localhost_is_listened_on_ipv6_as_well(emulator, config_home):
    """A browser that resolves localhost to ::1 reaches bbvars, not whatever else could listen there."""
    port = free_on_both_loopbacks()
    callback = f"http://localhost:{port}/callback"
    emulator.add_consumer(LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET, scopes=LOGIN_SCOPES, private=False,
                          callback_url=callback)
    proc, page, first = start_login(emulator, callback, "--timeout", "20")
    assert page, first
    location = consent_redirect(page).replace("//localhost:", "//[::1]:")
    with httpx.Client(trust_env=False) as web:
        assert web.get(location).status_code == 200
    run = finish(proc, first)
    assert run.code == 0, run.stderr
    assert (config_home / "bbvars" / "credentials.json").exists()


def test_a_port_taken_on_ipv6_loopback_is_one_line(emulator):
    with socket.socket(socket.AF_INET6) as taken:
        taken.bind(("::1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))  # free on IPv4: only ::1 is taken
        proc, page, first = start_login(emulator, f"http://localhost:{port}/callback", "--timeout", "3")
        run = finish(proc, first)
    assert page is None and run.code == 1
    assert run.stderr.strip().splitlines() == [
        f"bbvars: error: port {port} on ::1 is in use (another `bbvars login`?): stop what holds it, or give "
        "--callback-url with another port (the consumer's callback URL must be the same)"]
    assert emulator.requests == []


@pytest.mark.parametrize("url, words", [
    ("http://127.0.0.1:0/callback", "--callback-url has port 0, which no browser can be sent to"),
    ("http://localhost:0/callback", "--callback-url has port 0"),
    ("http://127.0.0.1:58976/call\nback", "--callback-url holds a line break, space or control character"),
    ("http://127.0.0.1:58976/callback\r\n", "--callback-url holds a line break"),
    ("http://127.0.0.1:589\t76/callback", "--callback-url holds a line break, space or control character"),
])
def test_a_callback_url_that_cannot_be_listened_on_as_given_is_bad_input(emulator, monkeypatch, capsys, url, words):
    run = run_main(["login", "--no-browser", "--timeout", "1", "--callback-url", url], env=login_env(emulator),
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 2 and run.stdout == ""
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"bbvars: error: {words}"), line
    assert emulator.requests == []


CONTROL = "\x1b]0;owned\x07\x1b[2J\x9b31m\u2028\x00"
ESCAPED = "\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u2028\\x00"


def test_a_redirect_s_error_reaches_the_terminal_escaped(emulator, config_home):
    callback = login_consumer(emulator)
    proc, page, first = start_login(emulator, callback, "--timeout", "20")
    state = re.search(r"state=([^&\s]+)", page).group(1)
    with httpx.Client(trust_env=False) as web:
        web.get(f"{callback}?state={state}&error={quote(CONTROL)}")
    run = finish(proc, first)
    assert run.code == 1
    assert "\x1b" not in run.stderr and "\x9b" not in run.stderr and "\u2028" not in run.stderr
    assert f"bbvars: error: Bitbucket came back without a code ({ESCAPED}): check the consumer" in run.stderr


def test_a_token_error_from_the_server_reaches_the_terminal_escaped(emulator, config_home):
    callback = login_consumer(emulator)
    emulator.inject(Fault(method="POST", path="^/site/oauth2/access_token$", status=400,
                          body=json.dumps({"error": "invalid_request", "error_description": CONTROL})))
    proc, page, first = start_login(emulator, callback, "--timeout", "20")
    location = consent_redirect(page)
    with httpx.Client(trust_env=False) as web:
        web.get(location)
    run = finish(proc, first)
    assert run.code == 1
    assert "\x1b" not in run.stderr and "\x07" not in run.stderr and "\u2028" not in run.stderr
    assert run.stderr.splitlines()[-1].startswith(
        f"bbvars: error: getting a token failed (HTTP 400: invalid_request: {ESCAPED}")
