"""Who may call the emulated API: OAuth consumers and the tokens they are granted (client credentials,
authorization codes, rotating refresh tokens), access tokens and Atlassian API tokens. No HTTP here."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, replace

from bbvars.emulator.state import Unauthorized

# Atlassian API tokens carry Atlassian's granular scopes; these two are what variables need (read, write).
API_TOKEN_SCOPES = ("read:pipeline:bitbucket", "admin:pipeline:bitbucket")
CODE_TTL = 600.0  # seconds an authorization code stays valid (single use)
REFRESH_TTL = 90 * 24 * 3600.0  # refresh tokens expire after 3 months unused

class TokenError(Exception):
    """The token endpoint refuses: answered 400 with the OAuth `error` and `error_description`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(error)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class User:
    display_name: str
    nickname: str
    account_id: str
    uuid: str

    def as_json(self) -> dict[str, str]:
        return {"type": "user", "display_name": self.display_name, "nickname": self.nickname,
                "account_id": self.account_id, "uuid": self.uuid}


DEMO_USER = User("Demo User", "demo-user", "557058:0d3c2f6e-demo", "{6a1f4c1e-0000-4000-8000-00000000d3m0}")


@dataclass
class Consumer:
    client_id: str
    secret: str
    scopes: tuple[str, ...]
    private: bool
    callback_url: str | None = None  # where the authorization-code flow sends the browser back


@dataclass
class Token:
    scopes: tuple[str, ...]
    expires_at: float | None  # time.monotonic() deadline; None never expires (static access tokens)
    kind: str = "oauth"  # oauth (a consumer's grant) | access (access token) | api (Atlassian API token)
    user: User | None = None  # who a user's token acts as (authorization-code grants, API tokens)
    owner: str = ""  # whose hourly request budget it spends: its consumer, its user, or the access token itself


@dataclass
class Grant:
    """An authorization code or a refresh token: single use, bound to the consumer it was issued to."""

    client_id: str
    scopes: tuple[str, ...]
    expires_at: float
    user: User

class Identities:
    """Every public method takes the one lock and returns copies."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._consumers: dict[str, Consumer] = {}
        self._tokens: dict[str, Token] = {}
        self._api_tokens: dict[tuple[str, str], Token] = {}  # (email, token) -> what it grants
        self._codes: dict[str, Grant] = {}
        self._refresh_tokens: dict[str, Grant] = {}

    # --- set-up, from Python ---

    def add_consumer(self, client_id: str, secret: str, scopes: tuple[str, ...], private: bool,
                     callback_url: str | None = None) -> None:
        with self._lock:
            self._consumers[client_id] = Consumer(client_id, secret, tuple(scopes), private, callback_url)

    def add_access_token(self, token: str, scopes: tuple[str, ...]) -> None:
        with self._lock:
            self._tokens[token] = Token(tuple(scopes), None, "access", owner=f"access token {token}")

    def add_api_token(self, email: str, token: str, scopes: tuple[str, ...], user: User) -> None:
        with self._lock:
            self._api_tokens[(email, token)] = Token(tuple(scopes), None, "api", user, owner=f"user {user.account_id}")

    def consumer(self, client_id: str | None) -> Consumer | None:
        with self._lock:
            return replace(self._consumers[client_id]) if client_id in self._consumers else None

    def issue_code(self, client_id: str, user: User) -> str:
        """An authorization code for the consumer, as the consent page grants it."""
        with self._lock:
            consumer = self._consumers[client_id]
            code = secrets.token_urlsafe(24)
            self._codes[code] = Grant(client_id, consumer.scopes, time.monotonic() + CODE_TTL, user)
            return code

    # --- tokens ---

    def issue_token(
        self, client_id: str | None, secret: str | None, form: dict[str, str], ttl: float,
        refresh_ttl: float = REFRESH_TTL,
    ) -> tuple[str, tuple[str, ...], str | None]:
        """(access token, scopes, refresh token or None) for one token request."""
        grant_type = form.get("grant_type")
        with self._lock:
            consumer = self._consumers.get(client_id or "")
            # Compare in constant time: cheap, and the emulator should not model a timing leak as acceptable.
            if consumer is None or secret is None or not secrets.compare_digest(consumer.secret, secret):
                raise TokenError("unauthorized_client", "Invalid OAuth client credentials")
            if grant_type in ("authorization_code", "refresh_token"):
                return self._user_grant(consumer, grant_type, form, ttl, refresh_ttl)
            if grant_type != "client_credentials":
                raise TokenError(
                    "unsupported_grant_type",
                    f"Unsupported grant type: {grant_type}" if grant_type else "Missing grant_type parameter",
                )
            if not consumer.private:
                raise TokenError(
                    "invalid_grant",
                    'Cannot use client_credentials with a consumer marked as "public". '
                    "Calls for auto generated consumers should use urn:bb:oauth2:auth-code instead.",
                )
            token = secrets.token_urlsafe(32)
            self._tokens[token] = Token(consumer.scopes, time.monotonic() + ttl, owner=f"consumer {consumer.client_id}")
            return token, consumer.scopes, None

    def _user_grant(self, consumer: Consumer, grant_type: str, form: dict[str, str], ttl: float,
                    refresh_ttl: float) -> tuple[str, tuple[str, ...], str]:
        """The authorization-code and refresh-token grants: each code and each refresh token works once (refresh
        tokens rotate on every use), only for the consumer it was issued to, and only until it expires."""
        if grant_type == "authorization_code":
            pool, given, what = self._codes, form.get("code", ""), "authorization code"
        else:
            pool, given, what = self._refresh_tokens, form.get("refresh_token", ""), "refresh token"
        grant = pool.get(given)
        if grant is None or grant.client_id != consumer.client_id or time.monotonic() >= grant.expires_at:
            raise TokenError("invalid_grant", f"Invalid {what}")
        del pool[given]
        token = secrets.token_urlsafe(32)
        self._tokens[token] = Token(grant.scopes, time.monotonic() + ttl, "oauth", grant.user,
                                    owner=f"consumer {consumer.client_id}")
        refresh = secrets.token_urlsafe(32)
        self._refresh_tokens[refresh] = Grant(consumer.client_id, grant.scopes, time.monotonic() + refresh_ttl,
                                              grant.user)
        return token, grant.scopes, refresh

    def minted(self) -> list[str]:
        with self._lock:
            return [token for token, record in self._tokens.items() if record.expires_at is not None]

    def expire_refresh_tokens(self) -> None:
        with self._lock:
            for grant in self._refresh_tokens.values():
                grant.expires_at = float("-inf")

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self._tokens.values():
                if token.expires_at is not None:
                    token.expires_at = float("-inf")

    def authenticate(self, token: str | None, basic: tuple[str | None, str | None] = (None, None)) -> Token:
        """What a Bearer `token`, or a Basic (email, API token), grants; Unauthorized when it is missing, unknown or
        expired. A Bearer token is tried first, as Bitbucket reads one Authorization header."""
        with self._lock:
            if token:
                found = self._tokens.get(token)
                if found is None:
                    raise Unauthorized("Token is invalid or not supported for this endpoint.")
                if found.expires_at is not None and time.monotonic() >= found.expires_at:
                    raise Unauthorized("Access token expired.")
                return replace(found)
            email, secret = basic
            if email is not None and secret is not None:
                api = self._api_tokens.get((email, secret))
                if api is None:
                    # Bitbucket does not say which half is wrong (an email given as a username is the usual one).
                    raise Unauthorized("Invalid credentials.")
                return replace(api)
        raise Unauthorized("Access denied: send a token as 'Authorization: Bearer <token>'.")
