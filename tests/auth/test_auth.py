"""Authentication flows: one token per run, renewed once when Bitbucket says it expired, sent only as Bearer."""

from __future__ import annotations

import itertools
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bbvars.auth import OAuthBearer, StaticBearer, Token, TokenSource, token_expired
from bbvars.auth import flows as auth  # the module whose clock the tests turn
from bbvars.errors import ApiError

EXPIRED = {"type": "error", "error": {"message": "Access token expired."}}


class Minter:
    def __init__(self):
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> Token:
        with self.lock:
            self.count += 1
            return Token(f"token-{self.count}", "bearer", 7200, "pipeline pipeline:variable")


class Api:
    """Accepts only the newest token; answers Bitbucket's 401 for an expired one."""

    def __init__(self, minter: Minter):
        self.minter = minter
        self.seen: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization", "")
        with self.lock:
            self.seen.append(header)
        if header == f"Bearer token-{self.minter.count}":
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401, json=EXPIRED)


def client_for(minter: Minter, api) -> tuple[httpx.Client, TokenSource]:
    tokens = TokenSource(minter)
    return httpx.Client(auth=OAuthBearer(tokens), transport=httpx.MockTransport(api)), tokens


@pytest.fixture
def hours_pass(monkeypatch):
    """Every look at the clock is three hours after the last: each token has lived past its 2 hours when refused."""
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(monotonic=itertools.count(0, 3 * 3600).__next__))


def test_one_token_per_run_fetched_on_first_use_even_from_many_threads():
    minter = Minter()
    tokens = TokenSource(minter)
    assert minter.count == 0
    with ThreadPoolExecutor(8) as pool:
        got = set(pool.map(lambda _: tokens.current().access_token, range(32)))
    assert got == {"token-1"} and minter.count == 1


def test_an_expired_token_is_renewed_once_and_the_request_sent_again(hours_pass):
    minter = Minter()
    api = Api(minter)
    http, tokens = client_for(minter, api)
    assert http.get("https://x/a").status_code == 200
    minter.count += 1  # Bitbucket now wants a newer token: the current one "expired"
    assert http.get("https://x/b").status_code == 200
    assert api.seen == ["Bearer token-1", "Bearer token-1", "Bearer token-3"]
    assert tokens.renewals == 1


def test_many_requests_meeting_an_expired_token_renew_it_once(hours_pass):
    minter = Minter()
    api = Api(minter)
    http, tokens = client_for(minter, api)
    http.get("https://x/warm")
    minter.count += 1  # expire token-1 (the next minted is token-3)
    barrier = threading.Barrier(8)

    def call(_):
        barrier.wait()
        return http.get("https://x/c").status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(call, range(8))) == [200] * 8
    assert tokens.renewals == 1 and minter.count == 3


def test_a_token_refused_as_expired_at_once_is_not_renewed_and_points_at_the_clock():
    minter = Minter()
    http, tokens = client_for(minter, lambda request: httpx.Response(401, json=EXPIRED))
    with pytest.raises(ApiError, match="just issued as expired: check the machine's clock") as caught:
        http.get("https://x/")
    assert caught.value.fatal and tokens.renewals == 0 and minter.count == 1


def test_a_renewed_token_refused_as_expired_at_once_points_at_the_clock(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    minter = Minter()
    http, tokens = client_for(minter, lambda request: httpx.Response(401, json=EXPIRED))
    tokens.current()
    now[0] += 3 * 3600  # the first token is old by now: renewed; the second is refused at once
    with pytest.raises(ApiError, match="just issued as expired"):
        http.get("https://x/")
    assert tokens.renewals == 1 and minter.count == 2


def test_a_401_that_is_not_expiry_is_not_renewed():
    minter = Minter()
    http, tokens = client_for(minter, lambda request: httpx.Response(
        401, json={"type": "error", "error": {"message": "Token is invalid or not supported for this endpoint."}}))
    assert http.get("https://x/").status_code == 401
    assert tokens.renewals == 0 and minter.count == 1


def test_renewal_is_bounded():
    minter = Minter()
    tokens = TokenSource(minter)
    for _ in range(3):  # the documented bound: three renewals a run
        tokens.renew(tokens.current().access_token)
    with pytest.raises(ApiError, match="keeps rejecting fresh tokens as expired") as caught:
        tokens.renew(tokens.current().access_token)
    assert caught.value.fatal and minter.count == 1 + 3 and tokens.renewals == 3


def test_a_stale_renewal_returns_the_token_already_renewed():
    minter = Minter()
    tokens = TokenSource(minter)
    tokens.current()
    assert tokens.renew("token-1") == "token-2"
    assert tokens.renew("token-1") == "token-2" and minter.count == 2 and tokens.renewals == 1


def test_the_token_goes_only_in_the_authorization_header():
    seen: list[httpx.Request] = []

    def api(request):
        seen.append(request)
        return httpx.Response(200)

    http, _ = client_for(Minter(), api)
    http.post("https://x/p?a=1", json={"k": "v"})
    assert seen[0].headers["Authorization"] == "Bearer token-1"
    assert b"token-1" not in seen[0].content and "token-1" not in str(seen[0].url)


def test_a_static_access_token():
    seen: list[str] = []

    def api(request):
        seen.append(request.headers["Authorization"])
        return httpx.Response(401, json=EXPIRED)

    with httpx.Client(auth=StaticBearer("repo-token"), transport=httpx.MockTransport(api)) as http:
        assert http.get("https://x/").status_code == 401
    assert seen == ["Bearer repo-token"]  # nothing to renew


def test_token_expired_reads_the_body():
    assert token_expired(httpx.Response(401, json=EXPIRED))
    assert not token_expired(httpx.Response(401, json={"error": {"message": "bad"}}))
    assert not token_expired(httpx.Response(401, json={"error": {"message": "Your plan has expired."}}))
    assert not token_expired(httpx.Response(401, text="token expired"))
    assert token_expired(httpx.Response(401, json={"type": "error", "error": {"message": "access token expired"}}))
    assert not token_expired(httpx.Response(403, json=EXPIRED))


def test_token_json_and_repr():
    token = Token("secret-token-value", "bearer", 7200, "pipeline")
    assert token.as_json() == {"access_token": "secret-token-value", "token_type": "bearer", "expires_in": 7200,
                               "scopes": "pipeline"}
    assert "secret-token-value" not in repr(token)
