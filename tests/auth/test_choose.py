"""bbvars.auth.choose: one kind per run, by the documented precedence, named without its value; its secrets and
their Basic forms registered for masking."""

from __future__ import annotations

import base64
import time

import httpx
import pytest

from bbvars.auth import (
    AtlassianApiToken,
    OAuthBearer,
    StaticBearer,
    StoredLogin,
    Token,
    choose,
    describe,
    register,
    store,
)
from bbvars.errors import InputError
from bbvars.redaction import Redactor
from bbvars.request.settings import Settings

API = dict(atlassian_account_email="dev@example.com", atlassian_api_token="ATATT-choose-0001")
ACCESS = dict(access_token="access-choose-0002")
CONSUMER = dict(client_id="id", client_secret="consumer-choose-0003")


def login(path, expires_at: float | None = None) -> store.Login:
    saved = store.Login("login-id", "login-secret-0004", "access-0005", "refresh-0006",
                        time.time() + 3600 if expires_at is None else expires_at, "pipeline pipeline:variable",
                        "Ada (ada)", "http://127.0.0.1:9/site/oauth2/access_token", Settings().api_url)
    store.save(path, saved)
    return saved


@pytest.mark.parametrize("given, kind", [
    ({**API, **ACCESS, **CONSUMER}, "atlassian-api-token"),
    ({**ACCESS, **CONSUMER}, "access-token"),
    (CONSUMER, "oauth-consumer"),
])
def test_precedence(given, kind, config_home):
    login(store.credentials_path())  # present, but the environment's credentials win
    assert choose(Settings(**given)).kind == kind


def test_the_stored_login_only_when_nothing_is_set(config_home):
    with pytest.raises(InputError, match="no credentials"):
        choose(Settings())
    login(store.credentials_path())
    credential = choose(Settings())
    assert credential.kind == "stored-login" and credential.name == "stored login of Ada (ada)"
    assert describe(credential) == "credential: stored login of Ada (ada)"


def test_each_kind_builds_its_flow():
    def no_post(*args):
        raise AssertionError("no token request expected")

    auth, tokens = choose(Settings(**API)).open(no_post, lambda s: None)
    assert isinstance(auth, AtlassianApiToken) and tokens is None
    auth, tokens = choose(Settings(**ACCESS)).open(no_post, lambda s: None)
    assert isinstance(auth, StaticBearer) and tokens is None
    posted = []
    auth, tokens = choose(Settings(**CONSUMER)).open(
        lambda *a: posted.append(a) or Token("minted-0007", "bearer", 7200, "pipeline"), lambda s: None)
    assert isinstance(auth, OAuthBearer) and posted == []  # fetched on first use only
    assert tokens.current().access_token == "minted-0007"
    assert posted[0][3] == {"grant_type": "client_credentials"}


def test_an_api_token_is_basic_email_token_on_every_request():
    seen = []
    transport = httpx.MockTransport(lambda request: seen.append(request.headers["Authorization"]) or httpx.Response(200))
    auth, _ = choose(Settings(**API)).open(lambda *a: None, lambda s: None)
    with httpx.Client(auth=auth, transport=transport) as http:
        http.get("https://x/a")
        http.post("https://x/b")
    expected = "Basic " + base64.b64encode(b"dev@example.com:ATATT-choose-0001").decode()
    assert seen == [expected, expected]


def test_register_masks_secrets_and_their_basic_forms():
    redactor = Redactor()
    register(choose(Settings(**API)), redactor)
    encoded = base64.b64encode(b"dev@example.com:ATATT-choose-0001").decode()
    assert redactor(f"x ATATT-choose-0001 {encoded} y") == "x *** *** y"
    register(choose(Settings(**CONSUMER)), redactor)
    assert redactor(base64.b64encode(b"id:consumer-choose-0003").decode()) == "***"


def test_a_stored_login_refreshes_once_and_stores_the_rotated_token(config_home):
    path = store.credentials_path()
    login(path, expires_at=time.time() - 5)  # expired by the clock
    calls = []

    def post(url, client_id, secret, form):
        calls.append((url, client_id, secret, form))
        return Token(f"access-new-{len(calls)}", "bearer", 7200, "pipeline pipeline:variable", f"refresh-new-{len(calls)}")

    remembered = []
    auth, tokens = choose(Settings()).open(post, remembered.append)
    assert isinstance(auth, StoredLogin)
    assert tokens.current().access_token == "access-new-1"
    assert calls == [("http://127.0.0.1:9/site/oauth2/access_token", "login-id", "login-secret-0004",
                      {"grant_type": "refresh_token", "refresh_token": "refresh-0006"})]
    saved = store.load(path)
    assert (saved.access_token, saved.refresh_token) == ("access-new-1", "refresh-new-1") and not saved.expired()
    assert {"access-new-1", "refresh-new-1", "refresh-0006"} <= set(remembered)
    # A renewal after a 401 refreshes again, with the token stored last time.
    assert tokens.renew("access-new-1") == "access-new-2"
    assert calls[1][3]["refresh_token"] == "refresh-new-1"


def test_a_refresh_by_another_process_is_used_not_repeated(config_home):
    path = store.credentials_path()
    first = login(path)
    _auth, tokens = choose(Settings()).open(lambda *a: pytest.fail("must not refresh"), lambda s: None)
    assert tokens.current().access_token == first.access_token
    # Another bbvars process refreshed meanwhile: its token is in the file, still fresh.
    store.save(path, store.Login(**{**first.__dict__, "access_token": "access-other", "refresh_token": "refresh-other"}))
    assert tokens.renew(first.access_token) == "access-other"
