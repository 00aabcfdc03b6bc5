"""The emulator's hourly request budget: per credential, 429 text/plain without Retry-After once spent, freed as the
rolling hour moves on, and the access-token headers turning NearLimit with less than 20% left."""

from __future__ import annotations

import httpx
import pytest

from bbvars.emulator import Emulator
from bbvars.emulator.ratelimit import parse_rate

from .helpers import REPO_VARS, WORKSPACE_VARS, bearer, client, fetch_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(emu: Emulator) -> Clock:
    emu.budget.clock = clock = Clock()
    return clock


def test_the_hour_budget_is_per_credential_and_the_429_is_bitbuckets(emu: Emulator, clock: Clock,
                                                                      anon: httpx.Client) -> None:
    emu.hourly_limit = 3
    emu.add_access_token("access-1")
    token = fetch_token(emu)  # the token endpoint is not the API: not counted
    answers = [anon.get(REPO_VARS, headers=bearer(token)).status_code for _ in range(4)]
    assert answers == [200, 200, 200, 429]
    limited = anon.get(WORKSPACE_VARS, headers=bearer(token))
    assert limited.status_code == 429 and limited.headers["content-type"].startswith("text/plain")
    assert "retry-after" not in limited.headers and limited.text == "Rate limit for this resource has been exceeded"
    # Another token of the same consumer shares its budget; an access token has its own.
    assert anon.get(REPO_VARS, headers=bearer(fetch_token(emu))).status_code == 429
    assert anon.get(REPO_VARS, headers=bearer("access-1")).status_code == 200
    # Refused requests were not counted: an hour after the first three, the budget is whole again.
    clock.now += 3600
    assert [anon.get(REPO_VARS, headers=bearer(token)).status_code for _ in range(4)] == [200, 200, 200, 429]


def test_the_rolling_hour_frees_requests_as_they_age(emu: Emulator, clock: Clock, anon: httpx.Client) -> None:
    emu.hourly_limit = 2
    token = fetch_token(emu)
    assert anon.get(REPO_VARS, headers=bearer(token)).status_code == 200
    clock.now += 1800
    assert anon.get(REPO_VARS, headers=bearer(token)).status_code == 200
    assert anon.get(REPO_VARS, headers=bearer(token)).status_code == 429
    clock.now += 1800  # the first request is an hour old: one is free again, not two
    assert [anon.get(REPO_VARS, headers=bearer(token)).status_code for _ in range(2)] == [200, 429]


def test_access_token_headers_count_down_to_the_wall(emu: Emulator, clock: Clock, anon: httpx.Client) -> None:
    emu.hourly_limit = 10
    emu.add_access_token("access-1")
    near = []
    for _ in range(11):
        answer = anon.get(REPO_VARS, headers=bearer("access-1"))
        assert answer.headers["X-RateLimit-Limit"] == "10"
        near.append((answer.status_code, answer.headers["X-RateLimit-NearLimit"]))
    # Less than 20% left from the 8th request on; the 11th is over the budget.
    assert near == [(200, "false")] * 7 + [(200, "true")] * 3 + [(429, "true")]


def test_no_limit_by_default(emu: Emulator, api: httpx.Client) -> None:
    assert emu.hourly_limit is None
    assert all(api.get(REPO_VARS).status_code == 200 for _ in range(30))


def test_parse_rate() -> None:
    assert parse_rate("1000/h") == parse_rate("1000") == 1000
    for bad in ("abc", "0/h", "10/m", "-1"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_the_cli_flag(tmp_path) -> None:
    from tests.support import clean_env, run_cli

    bad = run_cli(["emulator", "--rate-limit", "10/min"], env=clean_env())
    assert bad.code == 2 and "--rate-limit takes requests per hour" in bad.stderr


def test_the_served_emulator_takes_the_flag() -> None:
    import re
    import signal
    import subprocess
    import sys

    from tests.support import clean_env

    proc = subprocess.Popen([sys.executable, "-m", "bbvars", "emulator", "--port", "0", "--rate-limit", "2/h"],
                            env=clean_env(), stderr=subprocess.PIPE, text=True)
    try:
        match = re.search(r"API (\S+)\s+token (\S+)", proc.stderr.readline())
        assert match
        with client() as web:
            token = web.post(match.group(2), auth=("demo-client", "demo-secret"),
                             data={"grant_type": "client_credentials"}).json()["access_token"]
            codes = [web.get(match.group(1) + REPO_VARS, headers=bearer(token)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_pass_time_ages_every_request(emu: Emulator, anon: httpx.Client) -> None:
    emu.hourly_limit = 1
    token = fetch_token(emu)
    assert [anon.get(REPO_VARS, headers=bearer(token)).status_code for _ in range(2)] == [200, 429]
    emu.pass_time(3600)
    assert anon.get(REPO_VARS, headers=bearer(token)).status_code == 200
