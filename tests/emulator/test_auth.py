"""The token endpoint and how the API checks tokens and scopes."""

from __future__ import annotations

import time

import httpx
import pytest

from bbvars.emulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator

from .helpers import REPO_VARS, bearer, client, fetch_token

CLIENT_CREDENTIALS = {"grant_type": "client_credentials"}


def post_token(emu: Emulator, **kwargs: object) -> httpx.Response:
    with client() as web:
        return web.post(emu.token_url, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["scope", "scopes"])
def test_token_answer_names_the_scope_field_as_configured(emu: Emulator, field: str) -> None:
    emu.scope_field = field
    emu.token_ttl = 3600.0  # as a command-line float; still answered as whole seconds
    answer = post_token(emu, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data=CLIENT_CREDENTIALS)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"access_token", field, "expires_in", "token_type", "state"}
    assert body[field] == "pipeline pipeline:variable"
    assert body["expires_in"] == 3600 and isinstance(body["expires_in"], int)
    assert body["token_type"] == "bearer"
    assert body["state"] == "client_credentials"
    assert len(body["access_token"]) >= 32


def test_each_token_is_new(emu: Emulator) -> None:
    assert fetch_token(emu) != fetch_token(emu)


@pytest.mark.parametrize(
    "auth",
    [(DEMO_CLIENT_ID, "wrong"), ("nobody", DEMO_CLIENT_SECRET), None],
    ids=["wrong-secret", "unknown-id", "no-basic-auth"],
)
def test_bad_client_credentials_answer_unauthorized_client(emu: Emulator, auth: tuple[str, str] | None) -> None:
    answer = post_token(emu, auth=auth, data=CLIENT_CREDENTIALS)
    assert answer.status_code == 400
    assert answer.json() == {"error": "unauthorized_client", "error_description": "Invalid OAuth client credentials"}


def test_public_consumer_cannot_use_client_credentials(emu: Emulator) -> None:
    emu.add_consumer("public-one", "s3cret", private=False)
    answer = post_token(emu, auth=("public-one", "s3cret"), data=CLIENT_CREDENTIALS)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": 'Cannot use client_credentials with a consumer marked as "public". '
        "Calls for auto generated consumers should use urn:bb:oauth2:auth-code instead.",
    }


@pytest.mark.parametrize("data", [{"grant_type": "password"}, {}])
def test_other_grant_types_are_unsupported(emu: Emulator, data: dict[str, str]) -> None:
    answer = post_token(emu, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET), data=data)
    assert answer.status_code == 400
    assert answer.json()["error"] == "unsupported_grant_type"


def test_token_endpoint_only_takes_post(emu: Emulator) -> None:
    with client() as web:
        answer = web.get(emu.token_url)
    assert answer.status_code == 405


def test_missing_or_unknown_token_is_401(anon: httpx.Client) -> None:
    for headers in ({}, bearer("made-up")):
        answer = anon.get(REPO_VARS, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/json"
        assert answer.json()["type"] == "error"
        assert answer.json()["error"]["message"]


def test_only_bearer_header_is_accepted(emu: Emulator, anon: httpx.Client) -> None:
    token = fetch_token(emu)
    assert anon.get(REPO_VARS, params={"access_token": token}).status_code == 401
    assert anon.get(REPO_VARS, auth=(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)).status_code == 401
    assert anon.get(REPO_VARS, headers=bearer(token)).status_code == 200


def test_expired_tokens_answer_access_token_expired(emu: Emulator, api: httpx.Client) -> None:
    assert api.get(REPO_VARS).status_code == 200
    emu.expire_tokens()
    answer = api.get(REPO_VARS)
    assert answer.status_code == 401
    assert answer.json() == {"type": "error", "error": {"message": "Access token expired."}}
    # A new token works again.
    assert api.get(REPO_VARS, headers=bearer(fetch_token(emu))).status_code == 200


def test_tokens_expire_by_the_clock(emu: Emulator, anon: httpx.Client) -> None:
    emu.token_ttl = 1
    lasting = fetch_token(emu)
    emu.token_ttl = 0.05
    short = fetch_token(emu)
    time.sleep(0.1)
    answer = anon.get(REPO_VARS, headers=bearer(short))
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Access token expired."
    assert anon.get(REPO_VARS, headers=bearer(lasting)).status_code == 200


def test_static_access_token_never_expires(emu: Emulator, anon: httpx.Client) -> None:
    emu.add_access_token("repo-access-token")
    emu.expire_tokens()
    assert anon.get(REPO_VARS, headers=bearer("repo-access-token")).status_code == 200


def test_read_without_pipeline_scope_is_403_with_granted_and_required(emu: Emulator, anon: httpx.Client) -> None:
    emu.add_access_token("repo-only", scopes=("repository",))
    answer = anon.get(REPO_VARS, headers=bearer("repo-only"))
    assert answer.status_code == 403
    assert answer.json() == {
        "type": "error",
        "error": {
            "message": "Your credentials lack one or more required privilege scopes.",
            "detail": {"granted": ["repository"], "required": ["pipeline"]},
        },
    }


def test_write_needs_pipeline_variable_scope(emu: Emulator, anon: httpx.Client) -> None:
    emu.add_consumer("reader", "reader-secret", scopes=("pipeline",))
    headers = bearer(fetch_token(emu, "reader", "reader-secret"))
    assert anon.get(REPO_VARS, headers=headers).status_code == 200
    answer = anon.post(REPO_VARS, headers=headers, json={"key": "A", "value": "1"})
    assert answer.status_code == 403
    assert answer.json()["error"]["detail"] == {"granted": ["pipeline"], "required": ["pipeline:variable"]}
    assert emu.variables("acme", "api") == []


def test_pipeline_variable_scope_alone_also_reads(emu: Emulator, anon: httpx.Client) -> None:
    emu.add_access_token("writer", scopes=("pipeline:variable",))
    assert anon.get(REPO_VARS, headers=bearer("writer")).status_code == 200
    assert anon.post(REPO_VARS, headers=bearer("writer"), json={"key": "A", "value": "1"}).status_code == 201
