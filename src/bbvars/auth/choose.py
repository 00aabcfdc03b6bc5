"""The one place that picks the credential kind from the settings, names it, and builds its auth flow.

Precedence, when several are set (one kind is used per run): an Atlassian API token (email + token), then an access
token, then an OAuth consumer; a stored login (`bbvars login`) only when the environment holds no credential at all."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

import bbvars.auth.store as store
from bbvars.auth.flows import AtlassianApiToken, OAuthBearer, StaticBearer, StoredLogin, Token, TokenSource
from bbvars.auth.shield import signals_held
from bbvars.errors import ApiError, BbvarsError, InputError, setting

if TYPE_CHECKING:  # only for annotations: settings must not depend on this module's imports
    from bbvars.request.settings import Settings

# post_token(token_url, client_id, client_secret, form) -> Token: the client's token request, retries included.
TokenPoster = Callable[[str, str, str, dict], Token]
Remember = Callable[[str | None], None]  # registers a secret with the run's Redactor

API_TOKEN_PREFIX = "ATATT"  # how Atlassian API tokens begin
API_TOKEN_READ, API_TOKEN_WRITE = "read:pipeline:bitbucket", "admin:pipeline:bitbucket"
OAUTH_READ, OAUTH_WRITE = "pipeline", "pipeline:variable"


@dataclass(frozen=True)
class Hints:
    """What error messages say for this kind: its scope names and the fix for a 401 or a 403."""

    read_scope: str = OAUTH_READ
    write_scope: str = OAUTH_WRITE
    grant: str = ("give the OAuth consumer the permission 'Pipelines: Edit variables' (scope pipeline:variable), "
                  "which writing variables needs")
    refused: str = "check the access token, or the OAuth consumer's key and secret"
    denied: str = ("the consumer's account needs admin rights on the repository or workspace, and the consumer the "
                   "scope pipeline:variable")
    reports_scopes: bool = True  # whether a token answer says which scopes were granted


@dataclass(frozen=True)
class Credential:
    kind: str  # stable id, for JSON: atlassian-api-token | access-token | oauth-consumer | stored-login
    name: str  # for people; never a value
    hints: Hints
    secrets: tuple[str, ...]  # raw secrets to mask
    basic: tuple[tuple[str, str], ...]  # (user, password) pairs sent as HTTP Basic, whose encoded form is masked too
    open: Callable[[TokenPoster, Remember], tuple[httpx.Auth, TokenSource | None]]
    # (what it is, secret) for the secrets no setting holds (a stored login's), which the engine refuses in a plain
    # value; a setting's secret is refused as the input is read, under each surface's own name for the setting.
    named: tuple[tuple[str, str], ...] = ()


KINDS = ("atlassian-api-token", "access-token", "oauth-consumer", "stored-login")


def choose(settings: Settings, environ: Mapping[str, str] | None = None) -> Credential:
    """The credential the run uses. `environ` locates the stored login (XDG_CONFIG_HOME, HOME)."""
    email, api_token = settings.atlassian_account_email, settings.atlassian_api_token
    if email and api_token:
        return api_token_credential(email, api_token)
    if settings.access_token:
        return access_token_credential(settings.access_token)
    if settings.client_id and settings.client_secret:
        return consumer_credential(settings.token_url, settings.client_id, settings.client_secret)
    path = store.credentials_path(environ)
    login = store.load(path)
    if login is None:
        raise InputError("no credentials: set an Atlassian API token, an access token or an OAuth consumer, or run "
                         "`bbvars login`")
    return stored_login_credential(path, login, settings.api_url, settings.timeout)


def register(credential: Credential, redactor) -> Credential:
    """Every secret of the credential, and the encoded forms of those sent as HTTP Basic, made known to the run's
    Redactor (and so masked by a CI log at once)."""
    for secret in credential.secrets:
        redactor.add(secret)
    for user, password in credential.basic:
        redactor.add_basic(user, password)
    return credential


def describe(credential: Credential) -> str:
    """The line every surface prints to say which kind is used (never its value)."""
    return f"credential: {credential.name}"


def api_token_credential(email: str, token: str) -> Credential:
    if "@" not in email:
        refused = (f"{setting('atlassian_account_email')} is not an email address: an API token needs its Atlassian "
                   "account's email as user name, not the Bitbucket username")
    else:
        refused = (f"check {setting('atlassian_account_email')} (the Atlassian account's email) and "
                   f"{setting('atlassian_api_token')} (it may "
                   "be expired or revoked, or belong to another account)")
    hints = Hints(
        read_scope=API_TOKEN_READ,
        write_scope=API_TOKEN_WRITE,
        grant=(f"the API token needs the scopes {API_TOKEN_READ} (to read) and {API_TOKEN_WRITE} (to write "
               "variables); create one with both"),
        refused=refused,
        denied=(f"the account needs admin rights on the repository or workspace, and the API token the scopes "
                f"{API_TOKEN_READ} and {API_TOKEN_WRITE}"),
        reports_scopes=False,
    )
    return Credential("atlassian-api-token", "Atlassian API token", hints, (token,), ((email, token),),
                      lambda post, remember: (AtlassianApiToken(email, token), None))


def access_token_credential(token: str) -> Credential:
    hints = Hints(
        grant=("create an access token with the permission 'Pipelines: Edit variables' (scope pipeline:variable), "
               "which writing variables needs; a token's permissions cannot be changed later"),
        refused=(f"check {setting('access_token')}: it may be expired or revoked, or belong to another repository or "
                 "workspace"),
        denied=("the access token belongs to another repository, project or workspace, or lacks the scope "
                "pipeline:variable"),
        reports_scopes=False,
    )
    return Credential("access-token", "access token", hints, (token,), (),
                      lambda post, remember: (StaticBearer(token), None))


def consumer_credential(token_url: str, client_id: str, secret: str) -> Credential:
    def open_(post: TokenPoster, remember: Remember) -> tuple[httpx.Auth, TokenSource]:
        def fetch() -> Token:
            token = post(token_url, client_id, secret, {"grant_type": "client_credentials"})
            remember(token.access_token)
            return token

        tokens = TokenSource(fetch)
        return OAuthBearer(tokens), tokens

    return Credential("oauth-consumer", "OAuth consumer", Hints(refused="check the OAuth consumer's key and secret"),
                      (secret,), ((client_id, secret),), open_)


def same_url(one: str, other: str) -> bool:
    """The same server and path, whatever the case of the host, a default port or a trailing slash."""
    def key(url: str) -> tuple:
        parts = urlsplit(url.strip())
        default = {"https": 443, "http": 80}.get(parts.scheme.lower())
        return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default, parts.path.rstrip("/")

    try:
        return key(one) == key(other)
    except ValueError:  # a port that is no number: the settings' check says so
        return False


def stored_login_credential(path: Path, login: store.Login, api_url: str, wait: float) -> Credential:
    """The stored login, for the API it was made with and no other (`api_url` is the one this run would use);
    `wait` bounds the wait for another process's refresh (the run's timeout)."""
    if not same_url(login.api_url, api_url):
        raise InputError(f"the stored login ({path}) is for the API at {login.api_url}, and this run's API URL "
                         f"({setting('api_url')}) is {api_url}: its token is sent to no other server; unset "
                         f"{setting('api_url')}, or run `bbvars login` with it set to log in to that server")
    hints = Hints(
        grant=("give the OAuth consumer the permission 'Pipelines: Edit variables' (scope pipeline:variable), then "
               "run `bbvars login` again"),
        refused=f"the stored login ({path}) was refused: run `bbvars login` again",
        denied=("the logged-in account needs admin rights on the repository or workspace, and the consumer the scope "
                "pipeline:variable"),
    )

    def open_(post: TokenPoster, remember: Remember) -> tuple[httpx.Auth, TokenSource]:
        held = {"access_token": login.access_token}

        def exchange() -> Token:
            current = store.load(path)  # re-read (and re-checked) under the lock: another process may have refreshed
            if current is None:
                raise ApiError(f"the stored login ({path}) was removed during the run: run `bbvars login`", fatal=True)
            if not same_url(current.api_url, api_url):
                raise ApiError(f"the stored login ({path}) was replaced during the run by one for {current.api_url}: "
                               "run the command again", fatal=True)
            for secret in current.secrets():
                remember(secret)
            if current.access_token != held["access_token"] and not current.expired():
                return as_token(current)  # another bbvars process refreshed it meanwhile
            token = post(current.token_url, current.client_id, current.client_secret,
                         {"grant_type": "refresh_token", "refresh_token": current.refresh_token})
            remember(token.access_token)
            remember(token.refresh_token)
            # Refresh tokens rotate on every use: the new one is stored before anything else can fail.
            store.save(path, replace(
                current,
                access_token=token.access_token,
                refresh_token=token.refresh_token or current.refresh_token,
                expires_at=time.time() + token.expires_in if token.expires_in is not None else None,
                scopes=token.scopes or current.scopes,
            ))
            return token

        def refresh() -> Token:
            try:
                with store.locked(path, wait):
                    # Ctrl-C or a CI's SIGTERM waits for the answer and its save: once the request is sent, the old
                    # refresh token is spent, and only the saved answer keeps the login.
                    with signals_held():
                        token = exchange()
            except ApiError:
                raise
            except BbvarsError as exc:  # the file or its lock: this run can go no further
                raise ApiError(str(exc), fatal=True) from None
            held["access_token"] = token.access_token
            return token

        tokens = TokenSource(refresh, None if login.expired() else as_token(login))
        return StoredLogin(tokens), tokens

    named = tuple((f"the stored login's {what} (bbvars login)", secret) for what, secret in (
        ("consumer secret", login.client_secret), ("access token", login.access_token),
        ("refresh token", login.refresh_token)))
    return Credential("stored-login", f"stored login of {login.user}", hints, login.secrets(),
                      ((login.client_id, login.client_secret),), open_, named)


def as_token(login: store.Login) -> Token:
    left = None if login.expires_at is None else max(0, int(login.expires_at - time.time()))
    return Token(login.access_token, "bearer", left, login.scopes, login.refresh_token)
