"""Injected faults: answers, resets, delays, actions, matching and spending."""

from __future__ import annotations

import time

import httpx
import pytest

from bbvars.emulator import Emulator, Fault

from .helpers import REPO_VARS, client, encode


def statuses(emu: Emulator) -> list[int]:
    return [r.status for r in emu.requests]


def test_429_is_plain_text_without_retry_after_then_spent(emu: Emulator, api: httpx.Client) -> None:
    fault = emu.inject(Fault(status=429))
    emu.reset_requests()
    limited = api.get(REPO_VARS)
    assert limited.status_code == 429
    assert limited.headers["content-type"] == "text/plain"
    assert limited.text == "Rate limit for this resource has been exceeded"
    assert "retry-after" not in limited.headers
    assert fault.hits == 1 and fault.spent
    assert api.get(REPO_VARS).status_code == 200
    assert statuses(emu) == [429, 200]


def test_503_is_a_json_error(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(status=503))
    answer = api.get(REPO_VARS)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"type": "error", "error": {"message": "Service Unavailable"}}


def test_custom_body_type_and_headers(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(status=502, body="<html>bad gateway</html>", content_type="text/html", headers={"X-Hop": "edge"}))
    answer = api.get(REPO_VARS)
    assert (answer.status_code, answer.text) == (502, "<html>bad gateway</html>")
    assert answer.headers["content-type"] == "text/html" and answer.headers["x-hop"] == "edge"


def test_a_status_fault_skips_handling(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(method="POST", status=500))
    assert api.post(REPO_VARS, json={"key": "K", "value": "v"}).status_code == 500
    assert emu.variables("acme", "api") == []


def test_method_and_path_filters(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(method="post", path=r"/pipelines_config/variables$", status=500, times=-1))
    assert api.get(REPO_VARS).status_code == 200
    assert api.post("/workspaces/acme/pipelines-config/variables", json={"key": "K", "value": "v"}).status_code == 201
    assert api.post(REPO_VARS, json={"key": "K", "value": "v"}).status_code == 500


def test_times_and_forever_and_clear(emu: Emulator, api: httpx.Client) -> None:
    twice = emu.inject(Fault(status=500, times=2))
    forever = emu.inject(Fault(status=503, times=-1))
    assert [api.get(REPO_VARS).status_code for _ in range(5)] == [500, 500, 503, 503, 503]
    assert (twice.hits, twice.spent, forever.hits, forever.spent) == (2, True, 3, False)
    emu.clear_faults()
    assert api.get(REPO_VARS).status_code == 200


def test_faults_hit_the_token_endpoint_too(emu: Emulator) -> None:
    emu.inject(Fault(path="access_token", status=503))
    with client() as web:
        answer = web.post(emu.token_url, auth=("demo-client", "demo-secret"), data={"grant_type": "client_credentials"})
    assert answer.status_code == 503
    assert emu.requests[-1].path == "/site/oauth2/access_token" and emu.requests[-1].status == 503


def test_reset_gives_the_client_a_transport_error(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(method="POST", reset=True))
    emu.reset_requests()
    with pytest.raises(httpx.TransportError):
        api.post(REPO_VARS, json={"key": "K", "value": "v"})
    assert emu.variables("acme", "api") == []  # reset before handling
    assert api.post(REPO_VARS, json={"key": "K", "value": "v"}).status_code == 201
    assert [(r.method, r.status) for r in emu.requests] == [("POST", 0), ("POST", 201)]


def test_delay_beyond_the_client_timeout(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(delay=0.5))
    with pytest.raises(httpx.ReadTimeout):
        api.get(REPO_VARS, timeout=0.1)
    assert api.get(REPO_VARS).status_code == 200


def test_delay_alone_then_handles_normally(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(method="POST", delay=0.2))
    started = time.monotonic()
    answer = api.post(REPO_VARS, json={"key": "K", "value": "v"})
    assert time.monotonic() - started >= 0.2
    assert answer.status_code == 201


def test_action_creates_a_variable_between_list_and_create_for_a_real_409(emu: Emulator, api: httpx.Client) -> None:
    def racer(e: Emulator) -> None:
        e.seed_variable("acme", "K", "theirs", repository="api")

    emu.inject(Fault(method="POST", path="pipelines_config/variables$", action=racer))
    assert api.get(REPO_VARS).json()["values"] == []
    answer = api.post(REPO_VARS, json={"key": "K", "value": "mine"})
    assert answer.status_code == 409
    assert [v["value"] for v in emu.variables("acme", "api")] == ["theirs"]


def test_action_deletes_a_variable_before_put_for_a_real_404(emu: Emulator, api: httpx.Client) -> None:
    uuid = emu.seed_variable("acme", "K", "v", repository="api")
    emu.inject(Fault(method="PUT", action=lambda e: e.delete_variable("acme", "K", repository="api")))
    assert api.put(f"{REPO_VARS}/{encode(uuid)}", json={"value": "new"}).status_code == 404


def test_a_failing_action_answers_500(emu: Emulator, api: httpx.Client) -> None:
    def broken(e: Emulator) -> None:
        raise RuntimeError("boom")

    emu.inject(Fault(action=broken))
    answer = api.get(REPO_VARS)
    assert answer.status_code == 500 and "boom" in answer.json()["error"]["message"]


def test_first_matching_fault_in_insertion_order_applies(emu: Emulator, api: httpx.Client) -> None:
    emu.inject(Fault(path="environments", status=502))
    emu.inject(Fault(status=503))
    emu.inject(Fault(status=504))
    assert api.get(REPO_VARS).status_code == 503
    assert api.get("/repositories/acme/api/environments").status_code == 502
    assert api.get("/repositories/acme/api/environments").status_code == 504
