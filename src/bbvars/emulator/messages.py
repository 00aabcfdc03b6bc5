"""The emulator's HTTP messages and the knobs read on every request, shared by the API and the OAuth endpoints."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any, Protocol

AUTHORIZE_PATH = "/site/oauth2/authorize"


class Options(Protocol):
    """The knobs tests turn at run time; the Emulator provides them and they are read on every request."""

    token_ttl: float
    scope_field: str
    omit_next: bool
    omit_size: bool
    refresh_ttl: float
    rate_limit: int  # X-RateLimit-Limit sent to access tokens when no hourly_limit is set
    hourly_limit: int | None  # API requests each credential may send per rolling hour (None: no limit)
    budget: Any  # ratelimit.HourlyBudget: the requests each credential sent within the hour
    consent_user: Any  # identity.User: who "logs in" on the consent page


@dataclass
class Request:
    method: str
    path: str  # decoded
    raw_path: str  # as sent, for building links that keep the client's encoding
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # scheme://host[:port] the client used


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), "application/json", headers or {})


def error_response(status: int, message: str, detail: str | dict[str, Any] | None = None, **headers: str) -> Response:
    error: dict[str, Any] = {"message": message}
    if detail is not None:
        error["detail"] = detail
    return json_response(status, {"type": "error", "error": error}, headers)


def bearer_token(headers: dict[str, str]) -> str | None:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return credentials.strip() or None


def basic_credentials(headers: dict[str, str]) -> tuple[str | None, str | None]:
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else (None, None)
