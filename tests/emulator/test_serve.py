"""serve(), behind `bbvars emulator`: start-up lines, working URLs, no user secret printed, clean stop."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from bbvars.emulator import Emulator, Fault, serve

from .helpers import client

SCRIPT = (
    "import sys; from bbvars.emulator import serve; "
    "sys.exit(serve('127.0.0.1', 0, 0.0, {id!r}, {secret!r}, sys.stderr))"
)


def read_banner(process: subprocess.Popen[str]) -> list[str]:
    assert process.stderr is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("seeded:"):
        line = process.stderr.readline()
        assert line, f"serve() ended early: {lines}"
        lines.append(line.rstrip("\n"))
    return lines


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_urls_not_the_secret_and_stops_on_signal(stop_signal: signal.Signals) -> None:
    secret = "user-chosen-s3cret"
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(id="ci-client", secret=secret)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        banner = read_banner(process)
        assert 3 <= len(banner) <= 5
        text = "\n".join(banner)
        assert secret not in text
        assert "BITBUCKET_CLIENT_ID=ci-client" in text and "BITBUCKET_CLIENT_SECRET: the secret" in text
        assert "acme" in text and "api" in text and "Production" in text
        api_url = re.search(r"BITBUCKET_API_URL=(\S+)", text).group(1)  # type: ignore[union-attr]
        token_url = re.search(r"BITBUCKET_TOKEN_URL=(\S+)", text).group(1)  # type: ignore[union-attr]
        assert api_url.endswith("/2.0") and token_url.endswith("/site/oauth2/access_token")
        with client() as web:
            token = web.post(token_url, auth=("ci-client", secret), data={"grant_type": "client_credentials"})
            assert token.status_code == 200
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            answer = web.get(f"{api_url}/repositories/acme/api/environments", headers=headers)
            assert [e["name"] for e in answer.json()["values"]] == ["Test", "Staging", "Production"]
        process.send_signal(stop_signal)
        out, err = process.communicate(timeout=5)
        assert process.returncode == 0
        assert (out, err) == ("", "")  # nothing more: no request logs, no traceback
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_prints_the_public_demo_secret_applies_configure_and_stops_on_event() -> None:
    out = io.StringIO()
    stop = threading.Event()
    result: list[int] = []

    def configure(emulator: Emulator) -> None:
        emulator.inject(Fault(path="^/2.0/", status=503))

    worker = threading.Thread(
        target=lambda: result.append(
            serve("127.0.0.1", 0, 0.0, "demo-client", "demo-secret", out, stop=stop, configure=configure)
        )
    )
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while "seeded:" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "BITBUCKET_CLIENT_ID=demo-client BITBUCKET_CLIENT_SECRET=demo-secret" in out.getvalue()
        api_url = re.search(r"BITBUCKET_API_URL=(\S+)", out.getvalue()).group(1)  # type: ignore[union-attr]
        with client() as web:
            assert web.get(f"{api_url}/repositories/acme/api/environments").status_code == 503
    finally:
        stop.set()
        worker.join(5)
    assert result == [0]


def test_demo_data() -> None:
    emu = Emulator.demo()
    assert [e["name"] for e in emu.environments("acme", "api")] == ["Test", "Staging", "Production"]
    assert emu.variables("acme") == emu.variables("acme", "api") == []
