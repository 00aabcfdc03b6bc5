"""Each credential kind as an httpx.Auth flow, side by side (as httpx keeps BasicAuth and DigestAuth): the rest of
the code never thinks about tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import httpx

from bbvars.auth.store import header_safe
from bbvars.bitbucket.transport import TOKEN_CAP, paused, read_capped
from bbvars.errors import ApiError, setting

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
    """Bitbucket's own answer for an expired token, and only that: any other 401 (a revoked token, a text that
    happens to hold "expired") is no reason to mint a new one."""
    if response.status_code != 401:
        return False
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return False
    message = error.get("message") if isinstance(error, dict) else None
    return isinstance(message, str) and message.strip().rstrip(".").lower() == "access token expired"


CLOCK_HINT = ("Bitbucket refused a token it had just issued as expired: check the machine's clock and time zone "
              f"setting (a token lives 2 hours), and that {setting('token_url')} and {setting('api_url')} name the "
              "same Bitbucket")
# Filled in by str.format (expires_in, and token_url: the setting's marker).
BORN_EXPIRED = ("the token URL issued a token already expired (expires_in {expires_in} s), which the API refused: fix "
                "the token server ({token_url}) or its clock, not the credential")


def check_token(token: Token) -> Token:
    """A token answer's access token, refused before any header carries it: the settings were checked long before
    (a line break in one is refused as bad input), so a token no header can carry is the token server's doing."""
    if not header_safe(token.access_token):
        held = ("a line break" if "\n" in token.access_token or "\r" in token.access_token
                else "a space, control character or non-ASCII letter")
        raise ApiError(f"the token URL answered an access token holding {held}, which no HTTP header can carry: the "
                       f"server's answer is at fault, not a credential as pasted; check {setting('token_url')}",
                       fatal=True)
    return token


class TokenSource:
    """One token per run, fetched on first use (unless one is given); renewed only when Bitbucket says it expired."""

    def __init__(self, fetch: Callable[[], Token], initial: Token | None = None):
        self._fetch = fetch
        self._lock = threading.Lock()
        self._token: Token | None = initial
        self._minted: dict[str, tuple[float, int | None]] = {}  # token -> (when minted, its expires_in)
        self._accepted: set[str] = set()  # tokens Bitbucket has judged and let through at least once
        self.renewals = 0

    def _mint(self) -> Token:
        token = check_token(self._fetch())
        self._minted[token.access_token] = (time.monotonic(), token.expires_in)
        return token

    def accepted(self, token: str) -> None:
        with self._lock:
            self._accepted.add(token)

    def refused_at_once(self, token: str) -> bool:
        """Whether `token` was called expired on its first use, long before its lifetime was up (within the first
        half of it, or of a minute when the answer gave none): a new token would be refused the same way."""
        with self._lock:
            if token in self._accepted:
                return False
            minted, lifetime = self._minted.get(token, (float("-inf"), None))
        if lifetime is not None and lifetime <= 0:
            return True  # issued with no lifetime at all: refused "at once" however quickly it was used
        return time.monotonic() - minted < (lifetime / 2 if lifetime is not None else 60)

    def issued(self, token: str) -> bool:
        """Whether this run got `token` from the token URL (not from a file): a granted token proves the credential."""
        with self._lock:
            return token in self._minted

    def born_expired(self, token: str) -> int | None:
        """The expires_in (0 or less) of a token this run was issued already expired; None for any other."""
        with self._lock:
            lifetime = self._minted.get(token, (0.0, None))[1]
        return lifetime if lifetime is not None and lifetime <= 0 else None

    def current(self) -> Token:
        with self._lock:
            if self._token is None:
                self._token = self._mint()
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
            self._token = self._mint()
            return self._token.access_token


class OAuthBearer(httpx.Auth):
    """Tokens from a TokenSource, sent only as `Authorization: Bearer`; one renewal when a token expires. An OAuth
    consumer's client-credentials grant uses it as it is."""

    # Not requires_response_body: httpx would read every answer whole, past the size cap; only a 401's body is read
    # here, within a small cap, to see whether the token expired.

    def __init__(self, tokens: TokenSource):
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # Getting a token (or waiting for another thread to get it) is not charged to this request's deadline.
        with paused():
            token = self.tokens.current().access_token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if not self._expired(response, token):
            return
        with paused():
            token = self.tokens.renew(token)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        self._expired(response, token)

    def _expired(self, response: httpx.Response, token: str) -> bool:
        if response.status_code != 401:
            if response.status_code < 500 and response.status_code != 429:  # judged by Bitbucket, not a busy edge
                self.tokens.accepted(token)
            return False
        read_capped(response, TOKEN_CAP)
        if not token_expired(response):
            return False
        if self.tokens.refused_at_once(token):
            born = self.tokens.born_expired(token)
            hint = CLOCK_HINT if born is None else BORN_EXPIRED.format(expires_in=born, token_url=setting("token_url"))
            raise ApiError(hint, 401, fatal=True)
        return True


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


class AtlassianApiToken(httpx.BasicAuth):
    """An Atlassian API token: HTTP Basic with the account's email as the user name, on every call (never Bearer,
    and no token request). httpx's own BasicAuth, named for what it carries."""
