"""Credentials: each kind an httpx.Auth flow (flows.py), the one function that picks the kind (choose.py), and the
stored login of `bbvars login` (store.py; login.py runs the authorization-code flow)."""

from bbvars.auth.choose import KINDS, Credential, Hints, choose, describe, register
from bbvars.auth.flows import (
    MAX_RENEWALS,
    AtlassianApiToken,
    OAuthBearer,
    StaticBearer,
    StoredLogin,
    Token,
    TokenSource,
    token_expired,
)

__all__ = [
    "KINDS",
    "MAX_RENEWALS",
    "AtlassianApiToken",
    "Credential",
    "Hints",
    "OAuthBearer",
    "StaticBearer",
    "StoredLogin",
    "Token",
    "TokenSource",
    "choose",
    "describe",
    "register",
    "token_expired",
]
