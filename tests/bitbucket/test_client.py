"""The HTTP client in isolation (pytest-httpx): paging, retries and their waits, what each answer means, tokens."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

import httpx
import pytest

from bbvars.bitbucket import paging, retries
from bbvars.bitbucket.client import (
    DEFAULT_RETRY,
    BitbucketClient,
    RetriedConflict,
    RetryPolicy,
    collection_path,
    error_message,
    parse_token_answer,
    segment,
)
from bbvars.errors import ApiError, ConflictError, NotFoundError, setting
from bbvars.models import Target, Variable

API = "https://api.example.test/2.0"
PATH = "repositories/acme/api/pipelines_config/variables"
URL = f"{API}/{PATH}"
QUICK = RetryPolicy(attempts=4, initial=0.001, max_wait=0.002, max_total=5)
TARGET = Target("acme", "api")


@pytest.fixture
def client():
    with BitbucketClient(API, None, retry=QUICK) as bb:
        yield bb


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """The retry waits, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(retries, "nap", lambda seconds, halt, cancel=None: recorded.append(seconds))
    return recorded


def variables(start: int, count: int) -> list[dict]:
    return [{"uuid": f"{{{i}}}", "key": f"K{i}", "value": str(i), "secured": False}
            for i in range(start, start + count)]


class Server:
    """A paged listing of `total` variables, with knobs for the ways real listings misbehave."""

    def __init__(self, total: int, *, next_links=True, size=True, serve_pagelen=None, report_pagelen=None):
        self.total, self.next_links, self.size = total, next_links, size
        self.serve_pagelen, self.report_pagelen = serve_pagelen, report_pagelen
        self.seen: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = {k: v[0] for k, v in parse_qs(request.url.query.decode()).items()}
        self.seen.append(query)
        page, pagelen = int(query.get("page", 1)), int(query.get("pagelen", 10))
        pagelen = self.serve_pagelen or pagelen
        start = (page - 1) * pagelen
        values = variables(start, max(0, min(pagelen, self.total - start)))
        body = {"page": page, "pagelen": self.report_pagelen if self.report_pagelen is not None else pagelen,
                "values": values}
        if self.size:
            body["size"] = self.total
        if self.next_links and start + pagelen < self.total:
            body["next"] = f"{URL}?page={page + 1}&pagelen={pagelen}"
        return httpx.Response(200, json=body)


def test_paging_asks_100_a_page_and_follows_next(httpx_mock, client):
    server = Server(250)
    httpx_mock.add_callback(server, is_reusable=True)
    listed = client.list_variables(PATH, TARGET)
    assert [v.key for v in listed] == [f"K{i}" for i in range(250)]
    assert server.seen == [{"pagelen": "100"}, {"page": "2", "pagelen": "100"}, {"page": "3", "pagelen": "100"}]


@pytest.mark.parametrize("total, requests", [(250, 3), (200, 3), (99, 1), (0, 1)])
def test_paging_without_next_links_uses_size_and_full_pages(httpx_mock, client, total, requests):
    for size in (True, False):
        server = Server(total, next_links=False, size=size)
        httpx_mock.add_callback(server, is_reusable=True)
        assert len(client.list_variables(PATH, TARGET)) == total
        assert len(server.seen) == requests - (1 if size and total == 200 else 0)
        httpx_mock.reset()


def test_paging_when_the_server_serves_shorter_pages_than_asked(httpx_mock, client):
    server = Server(35, next_links=False, size=False, serve_pagelen=10)
    httpx_mock.add_callback(server, is_reusable=True)
    assert len(client.list_variables(PATH, TARGET)) == 35
    assert len(server.seen) == 4


def test_paging_when_pagelen_reports_the_count_of_values(httpx_mock, client):
    server = Server(150, next_links=False, size=False, report_pagelen=0)
    httpx_mock.add_callback(server, is_reusable=True)
    assert len(client.list_variables(PATH, TARGET)) == 150
    assert len(server.seen) == 2


def test_paging_always_stops_on_an_empty_page(httpx_mock, client):
    httpx_mock.add_response(json={"values": variables(0, 100), "size": 1000, "page": 1,
                                  "next": f"{URL}?page=2&pagelen=100"})
    httpx_mock.add_response(json={"values": [], "size": 1000, "page": 2, "next": f"{URL}?page=3&pagelen=100"})
    assert len(client.list_variables(PATH, TARGET)) == 100


def test_a_next_link_to_another_host_is_not_followed(httpx_mock, client):
    httpx_mock.add_response(url=f"{URL}?pagelen=100",
                            json={"values": variables(0, 100), "size": 150, "next": "https://evil.test/steal?page=2"})
    httpx_mock.add_response(url=f"{URL}?pagelen=100&page=2", json={"values": variables(100, 50), "size": 150})
    assert len(client.list_variables(PATH, TARGET)) == 150
    assert all(r.url.host == "api.example.test" for r in httpx_mock.get_requests())


def test_paging_is_bounded_and_a_listing_cut_by_the_bound_fails(httpx_mock, client, monkeypatch):
    monkeypatch.setattr(paging, "MAX_PAGES", 5)
    served = []

    def endless(request):
        # A server that never stops paging (fresh items, a next link that advances, no size). Past a generous margin
        # it does stop (an empty page), so that an unbounded client fails this test instead of hanging it.
        served.append(request)
        if len(served) > 50:
            return httpx.Response(200, json={"values": []})
        return httpx.Response(200, json={"values": variables(len(served), 1), "page": len(served),
                                         "next": f"{URL}?page={len(served) + 1}"})

    httpx_mock.add_callback(endless, is_reusable=True)
    with pytest.raises(ApiError, match="paging did not end listing the variables of repository acme/api") as caught:
        client.list_variables(PATH, TARGET)
    assert caught.value.fatal and len(served) == 5  # never a silently truncated listing


def test_a_listing_that_is_not_json_is_a_fatal_error(httpx_mock, client):
    httpx_mock.add_response(text="<html>sign in</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(ApiError, match=r"not JSON.*text/html.*" + re.escape(setting("api_url"))) as caught:
        client.list_variables(PATH, TARGET)
    assert caught.value.fatal


def test_an_answer_that_cannot_be_decoded_is_a_fatal_error(httpx_mock, client):
    httpx_mock.add_response(content=b"not gzip", headers={"Content-Encoding": "gzip"})
    with pytest.raises(ApiError, match="could not be read \\(DecodingError") as caught:
        client.list_variables(PATH, TARGET)
    assert caught.value.fatal


def test_secured_values_are_absent_on_read(httpx_mock, client):
    httpx_mock.add_response(json={"values": [{"uuid": "{1}", "key": "P", "secured": True},
                                             {"uuid": "{2}", "key": "V", "value": "v", "secured": False}]})
    listed = client.list_variables(PATH, TARGET)
    assert [(v.key, v.value, v.secured) for v in listed] == [("P", None, True), ("V", "v", False)]


# -- retries --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retried_statuses(httpx_mock, client, status):
    httpx_mock.add_response(status_code=status, text="Rate limit for this resource has been exceeded",
                            headers={"Content-Type": "text/plain"})
    httpx_mock.add_response(status_code=status)
    httpx_mock.add_response(json={"values": []})
    assert client.list_variables(PATH, TARGET) == []
    assert len(httpx_mock.get_requests()) == 3 and client.requests_sent == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_statuses_are_not_retried(httpx_mock, client, status):
    httpx_mock.add_response(status_code=status, json={"type": "error", "error": {"message": "no"}})
    with pytest.raises(ApiError):
        client.list_variables(PATH, TARGET)
    assert len(httpx_mock.get_requests()) == 1


def test_transport_errors_are_retried(httpx_mock, client):
    httpx_mock.add_exception(httpx.ReadError("reset"))
    httpx_mock.add_exception(httpx.RemoteProtocolError("closed"))
    httpx_mock.add_exception(httpx.ReadTimeout("slow"))
    httpx_mock.add_response(json={"values": []})
    assert client.list_variables(PATH, TARGET) == []


@pytest.mark.parametrize("status, words", [
    (429, f"rate limit was still hit listing the variables of repository acme/api after {QUICK.attempts} attempts"),
    (503, f"Bitbucket answered HTTP 503 listing the variables of repository acme/api after {QUICK.attempts} attempts"),
])
def test_exhausted_retries_are_fatal_and_bounded(httpx_mock, client, status, words):
    httpx_mock.add_response(status_code=status, is_reusable=True)
    with pytest.raises(ApiError, match=words) as caught:
        client.list_variables(PATH, TARGET)
    assert caught.value.fatal and caught.value.status == status
    assert len(httpx_mock.get_requests()) == QUICK.attempts


@pytest.mark.parametrize("exception, words", [
    (httpx.ReadTimeout("slow"),
     "did not answer listing the variables .* within the timeout after 4 attempts.*the timeout setting"),
    (httpx.ConnectError("refused"), "cannot reach Bitbucket at api.example.test"),
])
def test_exhausted_transport_errors_are_fatal(httpx_mock, client, exception, words):
    httpx_mock.add_exception(exception, is_reusable=True)
    with pytest.raises(ApiError, match=words) as caught:
        client.list_variables(PATH, TARGET)
    assert caught.value.fatal and len(httpx_mock.get_requests()) == QUICK.attempts


def test_the_default_backoff_grows_and_is_jittered(httpx_mock, waits):
    httpx_mock.add_response(status_code=429, is_reusable=True)
    measured = []
    for _ in range(2):
        waits.clear()
        with BitbucketClient(API, None) as bb, pytest.raises(ApiError):
            bb.list_variables(PATH, TARGET)
        measured.append(list(waits))
    policy = DEFAULT_RETRY
    for run in measured:
        assert len(run) == policy.attempts - 1
        for number, wait in enumerate(run):
            base = min(policy.initial * 2 ** number, policy.max_wait)
            assert base <= wait <= min(base + policy.initial, policy.max_wait)
        assert run == sorted(run)
    assert measured[0] != measured[1]


def test_waits_are_capped(httpx_mock, waits):
    httpx_mock.add_response(status_code=503, is_reusable=True)
    policy = RetryPolicy(attempts=10, initial=1, max_wait=3, max_total=1000)
    with BitbucketClient(API, None, retry=policy) as bb, pytest.raises(ApiError):
        bb.list_variables(PATH, TARGET)
    assert len(waits) == 9 and max(waits) == 3 and waits[-3:] == [3, 3, 3]


@pytest.mark.parametrize("header, wait", [("2", 2.0), ("1000", DEFAULT_RETRY.max_wait), ("0", 0.0),
                                          ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0)])
def test_retry_after_is_honoured_when_present(httpx_mock, waits, header, wait):
    httpx_mock.add_response(status_code=503, headers={"Retry-After": header})
    httpx_mock.add_response(json={"values": []})
    with BitbucketClient(API, None) as bb:
        bb.list_variables(PATH, TARGET)
    assert waits == [wait]


# -- what answers mean ----------------------------------------------------------------------------------------------


def scope_error(granted, required):
    return {"type": "error", "error": {"message": "Your credentials lack one or more required privilege scopes.",
                                       "detail": {"granted": granted, "required": required}}}


@pytest.mark.parametrize("status, body, kind, fatal, words", [
    (401, {"type": "error", "error": {"message": "Access token expired."}}, ApiError, True,
     "refused the credentials creating A \\(401: Access token expired.\\)"),
    (403, scope_error(["pipeline"], ["pipeline:variable"]), ApiError, True,
     "lack the scope pipeline:variable creating A \\(granted: pipeline\\).*Pipelines: Edit variables"),
    (403, {"type": "error", "error": {"message": "Forbidden"}}, ApiError, True, "denied access creating A"),
    (404, {"type": "error", "error": {"message": "Repository acme/api not found"}}, NotFoundError, False,
     "repository acme/api not found.*\\(404: Repository acme/api not found\\)"),
    (409, {"type": "error", "error": {"message": "A variable with the key provided already exists."}},
     ConflictError, False, "conflict creating A \\(409: A variable with the key provided already exists.\\)"),
    (400, {"type": "error", "error": {"message": "Invalid variable key."}}, ApiError, False,
     "HTTP 400 creating A \\(Invalid variable key.\\): check the key and value"),
])
def test_error_meanings(httpx_mock, client, status, body, kind, fatal, words):
    httpx_mock.add_response(status_code=status, json=body)
    with pytest.raises(kind, match=words) as caught:
        client.create_variable(PATH, Variable("A", "value"), TARGET)
    assert type(caught.value) is kind and caught.value.fatal is fatal and caught.value.status == status


@pytest.mark.parametrize("kwargs, message", [
    (dict(json={"type": "error", "error": {"message": "Bad\nthing  here"}}), "Bad thing here"),
    (dict(json={"error": "invalid_grant", "error_description": "nope"}), "invalid_grant: nope"),
    (dict(text="Rate limit exceeded\nmore"), "Rate limit exceeded"),
    (dict(text=""), "Bad Request"),
    (dict(json=[1]), "Bad Request"),
])
def test_error_message_shapes(kwargs, message):
    assert error_message(httpx.Response(400, **kwargs)) == message


def test_a_create_sent_again_after_a_reset_and_met_by_409_is_a_retried_conflict(httpx_mock, client):
    httpx_mock.add_exception(httpx.ReadError("reset"))
    httpx_mock.add_response(status_code=409, json={"type": "error", "error": {"message": "exists"}})
    with pytest.raises(RetriedConflict):
        client.create_variable(PATH, Variable("A", "v"), TARGET)


def test_a_409_after_a_429_is_an_ordinary_conflict(httpx_mock, client):
    httpx_mock.add_response(status_code=429)
    httpx_mock.add_exception(httpx.ConnectError("refused"))
    httpx_mock.add_response(status_code=409, json={"type": "error", "error": {"message": "exists"}})
    with pytest.raises(ConflictError) as caught:
        client.create_variable(PATH, Variable("A", "v"), TARGET)
    assert type(caught.value) is ConflictError


def test_writes_send_key_value_secured_and_tolerate_any_answer_body(httpx_mock, client):
    httpx_mock.add_response(method="POST", url=URL, status_code=201, text="")
    httpx_mock.add_response(method="PUT", url=f"{URL}/%7Babc%7D", json={"uuid": "{abc}", "key": "A", "secured": True})
    httpx_mock.add_response(method="DELETE", url=f"{URL}/%7Babc%7D", status_code=204)
    client.create_variable(PATH, Variable("A", "v", True), TARGET)
    updated = client.update_variable(PATH, "{abc}", Variable("A", "w", True), TARGET)
    client.delete_variable(PATH, "{abc}", "A", TARGET)
    bodies = [json.loads(r.content) if r.content else None for r in httpx_mock.get_requests()]
    assert bodies == [{"key": "A", "value": "v", "secured": True}, {"key": "A", "value": "w", "secured": True}, None]
    assert updated.value is None and updated.secured


def test_paths_keep_uuid_braces_percent_encoded():
    assert segment("{a-b}") == "%7Ba-b%7D" and segment("a/b") == "a%2Fb"
    assert collection_path(Target("acme")) == "workspaces/acme/pipelines-config/variables"
    assert collection_path(Target("acme", "api")) == "repositories/acme/api/pipelines_config/variables"
    assert collection_path(Target("{ws}", "api", "Test"), "{env}") == (
        "repositories/%7Bws%7D/api/deployments_config/environments/%7Benv%7D/variables")


def test_redirects_are_not_followed(httpx_mock, client):
    httpx_mock.add_response(status_code=302, headers={"Location": "https://elsewhere.test/"})
    with pytest.raises(ApiError):
        client.list_variables(PATH, TARGET)
    assert len(httpx_mock.get_requests()) == 1


# -- tokens ---------------------------------------------------------------------------------------------------------

TOKEN_URL = "https://bitbucket.example.test/site/oauth2/access_token"


def test_fetch_token_posts_client_credentials_with_basic_auth(httpx_mock, client):
    httpx_mock.add_response(method="POST", url=TOKEN_URL, json={
        "access_token": "tok", "scope": "pipeline pipeline:variable", "expires_in": 7200, "token_type": "bearer",
        "state": "client_credentials"})
    token = client.fetch_token(TOKEN_URL, "id", "secret")
    request = httpx_mock.get_request()
    assert request.headers["Authorization"] == httpx.BasicAuth("id", "secret")._auth_header
    assert parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"]}
    assert (token.access_token, token.scopes, token.expires_in, token.token_type) == (
        "tok", "pipeline pipeline:variable", 7200, "bearer")
    assert "tok-9f8e7d" not in repr(token)


@pytest.mark.parametrize("body, scopes, expires", [
    ({"access_token": "t", "scope": "pipeline", "expires_in": 7200}, "pipeline", 7200),
    ({"access_token": "t", "scopes": "pipeline account", "expires_in": 3600}, "pipeline account", 3600),
    ({"access_token": "t", "scopes": ["pipeline", "account"]}, "pipeline account", None),
    ({"access_token": "t", "scope": "a", "scopes": "b"}, "a", None),
    ({"access_token": "t", "expires_in": "7200"}, "", None),
])
def test_token_answers_name_scopes_scope_or_scopes(body, scopes, expires):
    token = parse_token_answer(httpx.Response(200, json=body))
    assert (token.scopes, token.expires_in) == (scopes, expires)


@pytest.mark.parametrize("status, body, words", [
    (400, {"error": "unauthorized_client", "error_description": "Invalid OAuth client credentials"},
     "rejected the OAuth client id or secret"),
    (401, {"error": "invalid_client"}, "rejected the OAuth client id or secret"),
    (400, {"error": "invalid_grant", "error_description": 'Cannot use client_credentials with a consumer marked as '
                                                          '"public".'}, "consumer is public"),
    (404, {"type": "error", "error": {"message": "Not found"}}, "token URL answered 404"),
    (200, {"token_type": "bearer"}, "200 without an access_token"),
    (200, None, "200 without an access_token"),
    (400, {"error": "unsupported_grant_type", "error_description": "nope"},
     "getting a token failed \\(HTTP 400: unsupported_grant_type: nope\\)"),
])
def test_token_errors_are_fatal_and_named(status, body, words):
    response = httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="<html>")
    with pytest.raises(ApiError, match=words) as caught:
        parse_token_answer(response)
    assert caught.value.fatal


def test_an_environment_listed_without_a_uuid_fails_naming_the_endpoint(httpx_mock, client):
    httpx_mock.add_response(json={"values": [{"name": "Test", "slug": "test"}], "size": 1})
    with pytest.raises(ApiError, match=f"listing the environments of acme/api holds an item without a uuid .*"
                                       f"GET {API}/repositories/acme/api/environments") as caught:
        client.list_environments(TARGET)
    assert caught.value.fatal


def test_no_request_goes_to_a_url_built_from_a_missing_part(httpx_mock, client):
    for call in (lambda: client.update_variable(PATH, "", Variable("A", "v"), TARGET),
                 lambda: client.delete_variable(PATH, "", "A", TARGET),
                 lambda: collection_path(Target("acme", "api", "Test"), "")):
        with pytest.raises(ValueError, match="a URL part is missing"):
            call()
    assert httpx_mock.get_requests() == []


def test_a_delete_answered_404_is_already_gone(httpx_mock, client):
    httpx_mock.add_response(method="DELETE", status_code=404, json={"type": "error", "error": {"message": "gone"}})
    with pytest.raises(NotFoundError):
        client.delete_variable(PATH, "{abc}", "A", TARGET)


def test_a_delete_sent_again_after_a_reset_and_met_by_404_was_ours(httpx_mock, client):
    # The first attempt most likely reached Bitbucket and deleted it: this run deleted it, it was not already gone.
    httpx_mock.add_exception(httpx.ReadError("reset"))
    httpx_mock.add_response(method="DELETE", status_code=404, json={"type": "error", "error": {"message": "gone"}})
    client.delete_variable(PATH, "{abc}", "A", TARGET)
    assert len(httpx_mock.get_requests()) == 2
