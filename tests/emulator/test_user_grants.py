"""The emulator's other credentials: Atlassian API tokens (Basic), access tokens and their rate-limit headers, the
consent page, and the authorization-code and refresh-token grants with rotation and expiry."""

from __future__ import annotations

import re

import httpx
import pytest

from bbvars.emulator import DEMO_USER, Emulator

from .helpers import REPO_VARS, WORKSPACE_VARS, bearer, client, fetch_token

CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: the tests read the redirect, they do not follow it


@pytest.fixture
def user_emu(emu: Emulator) -> Emulator:
    emu.add_api_token("dev@example.com", "ATATT-emulator-0001")
    emu.add_api_token("reader@example.com", "ATATT-emulator-0002", scopes=("read:pipeline:bitbucket",))
    emu.add_access_token("access-emulator-0003")
    emu.add_consumer("app", "app-secret", scopes=("pipeline", "pipeline:variable", "account"), private=False,
                     callback_url=CALLBACK)
    return emu


def test_api_tokens_are_basic_email_token_with_granular_scopes(user_emu: Emulator, anon: httpx.Client) -> None:
    assert anon.get(REPO_VARS, auth=("dev@example.com", "ATATT-emulator-0001")).status_code == 200
    assert anon.post(REPO_VARS, auth=("dev@example.com", "ATATT-emulator-0001"),
                     json={"key": "K", "value": "v", "secured": False}).status_code == 201
    for auth in [("dev-user", "ATATT-emulator-0001"), ("dev@example.com", "wrong")]:
        refused = anon.get(REPO_VARS, auth=auth)
        assert refused.status_code == 401 and refused.json()["type"] == "error"
    # An API token sent as Bearer (the classic mistake) is not accepted.
    assert anon.get(REPO_VARS, headers=bearer("ATATT-emulator-0001")).status_code == 401
    denied = anon.post(REPO_VARS, auth=("reader@example.com", "ATATT-emulator-0002"),
                       json={"key": "K2", "value": "v", "secured": False})
    assert denied.status_code == 403
    assert denied.json()["error"]["detail"] == {"granted": ["read:pipeline:bitbucket"],
                                                "required": ["admin:pipeline:bitbucket"]}


def test_rate_limit_headers_only_for_access_tokens_on_repositories(user_emu: Emulator, anon: httpx.Client) -> None:
    names = ("X-RateLimit-Limit", "X-RateLimit-Resource", "X-RateLimit-NearLimit")
    answer = anon.get(REPO_VARS, headers=bearer("access-emulator-0003"))
    assert [answer.headers.get(n) for n in names] == ["1000", "api", "false"]
    assert not set(names) & set(anon.get(WORKSPACE_VARS, headers=bearer("access-emulator-0003")).headers)
    assert not set(names) & set(anon.get(REPO_VARS, headers=bearer(fetch_token(user_emu))).headers)
    assert not set(names) & set(anon.get(REPO_VARS, auth=("dev@example.com", "ATATT-emulator-0001")).headers)
    user_emu.rate_limit = 3
    assert anon.get(REPO_VARS, headers=bearer("access-emulator-0003")).headers["X-RateLimit-NearLimit"] == "true"


def consent(emu: Emulator, web: httpx.Client, decision: str, state: str = "st-1") -> httpx.Response:
    page = web.get(emu.authorize_url, params={"client_id": "app", "response_type": "code", "state": state})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Grant access" in page.text and "Cancel" in page.text and DEMO_USER.display_name in page.text
    form = dict(re.findall(r"name='(client_id|state)' value='([^']*)'", page.text))
    return web.post(emu.authorize_url, data={**form, "decision": decision})


def test_the_consent_page_redirects_with_a_code_or_access_denied(user_emu: Emulator) -> None:
    with client() as web:
        granted = consent(user_emu, web, "grant")
        assert granted.status_code == 302
        assert re.fullmatch(re.escape(CALLBACK) + r"\?code=[\w-]+&state=st-1", granted.headers["location"])
        cancelled = consent(user_emu, web, "cancel")
        assert cancelled.status_code == 302 and "error=access_denied" in cancelled.headers["location"]
        assert cancelled.headers["location"].endswith("state=st-1")
        assert web.get(user_emu.authorize_url, params={"client_id": "nobody"}).status_code == 400


def code_from(emu: Emulator, web: httpx.Client) -> str:
    return re.search(r"code=([\w-]+)", consent(emu, web, "grant").headers["location"]).group(1)


def test_codes_and_refresh_tokens_are_single_use_rotating_and_expire(user_emu: Emulator) -> None:
    with client() as web:
        code = code_from(user_emu, web)
        token = web.post(user_emu.token_url, auth=("app", "app-secret"),
                         data={"grant_type": "authorization_code", "code": code})
        assert token.status_code == 200, token.text
        body = token.json()
        assert body["refresh_token"] and body["scope"] == "pipeline pipeline:variable account"
        me = web.get(user_emu.api_url + "/user", headers=bearer(body["access_token"]))
        assert me.json()["display_name"] == DEMO_USER.display_name
        again = web.post(user_emu.token_url, auth=("app", "app-secret"),
                         data={"grant_type": "authorization_code", "code": code})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        refreshed = web.post(user_emu.token_url, auth=("app", "app-secret"),
                             data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}).json()
        assert refreshed["refresh_token"] != body["refresh_token"]  # rotated
        spent = web.post(user_emu.token_url, auth=("app", "app-secret"),
                         data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
        assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
        # Another consumer cannot use them.
        other = web.post(user_emu.token_url, auth=("demo-client", "demo-secret"),
                         data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
        assert other.status_code == 400 and other.json()["error"] == "invalid_grant"
        user_emu.expire_refresh_tokens()
        expired = web.post(user_emu.token_url, auth=("app", "app-secret"),
                           data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
        assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_who_needs_the_account_scope(user_emu: Emulator, anon: httpx.Client) -> None:
    answer = anon.get("/user", headers=bearer(fetch_token(user_emu)))  # the demo consumer has no `account`
    assert answer.status_code == 403 and answer.json()["error"]["detail"]["required"] == ["account"]
