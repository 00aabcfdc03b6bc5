"""Each credential kind as an httpx.Auth flow, side by side (as httpx keeps BasicAuth and DigestAuth): the rest of
the code never thinks about tokens."""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass, field
from typing import Callable, Generator

import httpx

from bbvars.errors import ApiError

# A run renews at most this often: a server that keeps calling fresh tokens expired must not loop forever.
MAX_RENEWALS = 3


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    token_type: str
    expires_in: int | None
    scopes: str
    refresh_token: str | None = field(default=None, repr=False)  # authorization-code grants only

    def as_json(self) -> dict:
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "scopes": self.scopes,
        }


def token_expired(response: httpx.Response) -> bool:
    return response.status_code == 401 and "expired" in response.text.lower()


class TokenSource:
    """One token per run, fetched on first use (unless one is given); renewed only when Bitbucket says it expired."""

    def __init__(self, fetch: Callable[[], Token], initial: Token | None = None):
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token: Token | None = initial
        self.renewals = 0

    def current(self) -> Token:
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return self._token

    def renew(self, stale: str) -> str:
        with self._lock:
            if self._token is not None and self._token.access_token != stale:
                return self._token.access_token  # another request renewed it already
            if self.renewals >= MAX_RENEWALS:
                raise ApiError(
                    "Bitbucket keeps rejecting fresh tokens as expired: check the machine's clock and the token URL",
                    401,
                    fatal=True,
                )
            self.renewals += 1
            self._token = self._fetch()
            return self._token.access_token


class OAuthBearer(httpx.Auth):
    """Tokens from a TokenSource, sent only as `Authorization: Bearer`; one renewal when a token expires. An OAuth
    consumer's client-credentials grant uses it as it is."""

    requires_response_body = True  # the 401 body says whether the token expired

    def __init__(self, tokens: TokenSource):
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.current().access_token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if token_expired(response):
            request.headers["Authorization"] = f"Bearer {self.tokens.renew(token)}"
            yield request


class StoredLogin(OAuthBearer):
    """The tokens `bbvars login` stored: the same Bearer flow, but a renewal is a refresh-token grant whose rotated
    refresh token is stored at once (the TokenSource's fetch does that), and a token already expired by the clock is
    refreshed before the first request rather than after a 401."""


class StaticBearer(httpx.Auth):
    """A repository/project/workspace access token: nothing to mint or renew."""

    def __init__(self, token: str):
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def basic_header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class AtlassianApiToken(httpx.Auth):
    """An Atlassian API token: HTTP Basic with the account's email as the user name, on every call (never Bearer,
    and no token request)."""

    def __init__(self, email: str, token: str):
        self._header = basic_header(email, token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request
