"""The secrets a run was given, made known to its Redactor once, the same way on every surface, before anything
(a validation error, a debug line, a CI log's mask) could show them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields

from bbvars.redaction import Redactor
from bbvars.request.settings import SECRETS, Settings

# Secrets sent as HTTP Basic credentials: a server's error may echo the header, base64(user:secret).
BASIC = (("client_id", "client_secret"), ("atlassian_account_email", "atlassian_api_token"))


def register_given(given: Settings | Mapping[str, str | None], redactor: Redactor) -> None:
    """Every secret setting (settings.SECRETS) and the Basic forms of the pairs sent that way, from settings or from
    a host's raw text (pipe variables, action inputs) before it is parsed."""
    if isinstance(given, Settings):
        values: Mapping[str, object] = {f.name: getattr(given, f.name) for f in fields(given)}
    else:
        values = given
    for user, secret in BASIC:
        redactor.add_basic(str(values.get(user) or "").strip(), _text(values.get(secret)))
    for name in SECRETS:
        redactor.add(_text(values.get(name)))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
