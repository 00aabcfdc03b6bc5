"""The server itself: life cycle, latency, keep-alive, the request log, and silence."""

from __future__ import annotations

import http.client
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest

from bbvars.emulator import Emulator, Fault, RequestRecord

from .helpers import REPO_VARS, bearer, client, fetch_token


def test_urls_and_life_cycle() -> None:
    emu = Emulator()
    with pytest.raises(RuntimeError):
        _ = emu.url
    assert emu.start() is emu
    assert emu.url == f"http://127.0.0.1:{emu.port}" and emu.port > 0
    assert emu.api_url == emu.url + "/2.0"
    assert emu.token_url == emu.url + "/site/oauth2/access_token"
    emu.stop()
    emu.stop()  # idempotent
    with client() as web, pytest.raises(httpx.ConnectError):
        web.get(emu.api_url)


def test_stop_also_ends_kept_alive_connections(emu: Emulator, api: httpx.Client) -> None:
    assert api.get(REPO_VARS).status_code == 200  # leaves a pooled keep-alive connection
    emu.stop()
    with pytest.raises(httpx.TransportError):
        api.get(REPO_VARS)


def test_keep_alive_answers_several_requests_on_one_connection(emu: Emulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        headers = bearer(fetch_token(emu))
        for _ in range(3):
            connection.request("GET", f"/2.0{REPO_VARS}", headers=headers)
            answer = connection.getresponse()
            assert answer.version == 11 and answer.status == 200
            assert int(answer.headers["Content-Length"]) == len(answer.read())
        connection.request("DELETE", f"/2.0{REPO_VARS}/%7Bnone%7D", headers=headers)
        assert connection.getresponse().read()  # 404 body fully framed, connection still usable
        connection.request("GET", f"/2.0{REPO_VARS}", headers=headers)
        assert connection.getresponse().status == 200
    finally:
        connection.close()


def test_latency_delays_every_answer_and_requests_overlap(emu: Emulator, api: httpx.Client) -> None:
    emu.latency = 0.3
    started = time.monotonic()
    assert api.get(REPO_VARS).status_code == 200
    assert time.monotonic() - started >= 0.3

    # Each request is held (after its latency) until all six are in flight: they can only all be answered if the
    # server handles them side by side. One after another, the barrier would break and they would be answered 500.
    side_by_side = threading.Barrier(6, timeout=5)
    emu.inject(Fault(method="GET", times=6, action=lambda _: side_by_side.wait()))

    def timed_get(_: int) -> tuple[int, float]:
        started = time.monotonic()
        code = api.get(REPO_VARS).status_code
        return code, time.monotonic() - started

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(timed_get, range(6)))
    assert [code for code, _ in answers] == [200] * 6
    assert all(took >= 0.3 for _, took in answers)  # the latency applies to each of them too
    assert not side_by_side.broken


def test_constructor_latency() -> None:
    with Emulator.demo(latency=0.15) as slow, client() as web:
        started = time.monotonic()
        web.post(slow.token_url, auth=("demo-client", "demo-secret"), data={"grant_type": "client_credentials"})
        assert time.monotonic() - started >= 0.15


def test_request_log_records_everything_in_order(emu: Emulator) -> None:
    token = fetch_token(emu)
    with client(base_url=emu.api_url) as web:
        web.get(REPO_VARS, params={"page": "2", "pagelen": "5"}, headers=bearer(token))
        web.post(REPO_VARS, json={"key": "K", "value": "v"}, headers=bearer(token))
        web.get(REPO_VARS)
    assert emu.requests == [
        RequestRecord("POST", "/site/oauth2/access_token", {}, 200),
        RequestRecord("GET", f"/2.0{REPO_VARS}", {"page": "2", "pagelen": "5"}, 200),
        RequestRecord("POST", f"/2.0{REPO_VARS}", {}, 201),
        RequestRecord("GET", f"/2.0{REPO_VARS}", {}, 401),
    ]
    assert sum(r.method == "GET" for r in emu.requests) == 2
    emu.reset_requests()
    assert emu.requests == []


def test_request_log_paths_are_decoded(emu: Emulator, api: httpx.Client) -> None:
    emu.reset_requests()
    api.get(f"{REPO_VARS}/%7Babc%7D")
    assert emu.requests[0].path == f"/2.0{REPO_VARS}/{{abc}}"


def test_nothing_is_printed(emu: Emulator, capfd: pytest.CaptureFixture[str]) -> None:
    token = fetch_token(emu)
    with client(base_url=emu.api_url) as web:
        web.get(REPO_VARS, params={"access_token": token})
        web.post(REPO_VARS, content=b"{", headers=bearer(token))
        web.post(emu.token_url, auth=("demo-client", "wrong"), data={"grant_type": "client_credentials"})
    # A malformed request line goes through BaseHTTPRequestHandler's own error path.
    with closing(http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)) as raw:
        raw.putrequest("BREW", f"/2.0{REPO_VARS}?access_token={token}")
        raw.endheaders()
        raw.getresponse().read()
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
