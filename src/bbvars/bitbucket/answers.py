"""What Bitbucket's answers mean: error texts, statuses as exceptions, token answers, listing records.
No I/O here: every function takes an answer already read (within its size cap)."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from bbvars.auth import Hints, Token
from bbvars.errors import ApiError, ConflictError, NotFoundError, setting
from bbvars.models import Target

WRITE_SCOPE = "pipeline:variable"
SIZE_WORDS = re.compile(r"size limit|\bcharacters\b", re.I)
SIZE_HINT = ("a target's variables may hold 120,000 characters in all (names and values): move some to another "
             "target (a repository, environment or workspace), or shorten them")
TOKEN_URL_HINT = (f"{setting('token_url')} must be the token endpoint itself "
                  "(https://bitbucket.org/site/oauth2/access_token)")


def error_message(response: httpx.Response, redact: Callable[[str], str] | None = None) -> str:
    """Bitbucket's own words, from either error shape, on one line; never the request, which may hold a value.
    Known secrets are masked (`redact`) before the text is cut short, so a cut never leaves part of one."""
    text = _error_text(response)
    return " ".join((redact(text) if redact else text).split())[:300]


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))
        if isinstance(error, str):
            return f"{error}: {body.get('error_description', '')}".strip(": ")
    return response.reason_phrase


SCOPES_SHOWN = 12  # a server's list is cut here: a message names scopes, it does not repeat an answer


def scope_names(raw: object) -> list[str]:
    """Scope names from a 403's detail, which some answers give as a list and others as one string ("a b" or
    "a, b"): a string is never told one character at a time."""
    if isinstance(raw, str):
        names = raw.replace(",", " ").split()
    elif isinstance(raw, (list, tuple)):
        names = [str(name).strip() for name in raw if isinstance(name, (str, int, float))]
    else:
        return []
    return [name[:80] for name in names if name][:SCOPES_SHOWN]


def scope_detail(response: httpx.Response) -> tuple[list[str], list[str]]:
    try:
        detail = response.json()["error"]["detail"]
        return scope_names(detail.get("granted")), scope_names(detail.get("required"))
    except (ValueError, KeyError, TypeError, AttributeError):
        return [], []


def check(response: httpx.Response, what: str, not_found: str, redact: Callable[[str], str] | None,
          hints: Hints | None = None) -> httpx.Response:
    """The answer if it is a success; otherwise the exception that says what it means (the fix in the words of the
    credential kind in use: `hints`)."""
    hints = hints or Hints()
    status = response.status_code
    if status < 300:
        return response
    if status < 400:
        # Redirects are never followed (they could carry the token elsewhere): a 3xx is not a success.
        raise ApiError(
            f"Bitbucket answered a redirect (HTTP {status}) {what}, which bbvars does not follow: check the API "
            f"URL ({setting('api_url')})",
            status,
            fatal=True,
        )
    message = error_message(response, redact)
    if status == 401:
        raise ApiError(f"Bitbucket refused the credentials {what} (401: {message}): {hints.refused}", 401, fatal=True)
    if status == 403:
        granted, required = scope_detail(response)
        if required:
            raise ApiError(
                f"the credentials lack the scope {', '.join(required)} {what} (granted: "
                f"{', '.join(granted) or 'none'}): {hints.grant}",
                403,
                fatal=True,
            )
        raise ApiError(f"Bitbucket denied access {what} (403: {message}): {hints.denied}", 403, fatal=True)
    if status == 404:
        raise NotFoundError(f"{not_found} (404: {message})", 404)
    if status == 409:
        raise ConflictError(f"conflict {what} (409: {message})", 409)
    # "check the key and value" does not fit a refusal of the target's total size, which no single key causes.
    hint = SIZE_HINT if SIZE_WORDS.search(message) else "check the key and value; --debug (DEBUG) logs the requests"
    # Bitbucket's words in parentheses, as for the statuses above: what follows `): ` is the fix, kept whole when a
    # line is shortened.
    raise ApiError(f"Bitbucket answered HTTP {status} {what} ({message}): {hint}", status)


def json_object(response: httpx.Response) -> dict:
    """A write's answer body; the write succeeded whatever it holds, so an unreadable body is no error."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def not_found_text(target: Target) -> str:
    if target.scope == "workspace":
        return (f"workspace {target.workspace} not found: check the workspace slug, and that the consumer's account "
                "is a member")
    return (f"repository {target.workspace}/{target.repository} not found: check the workspace and repository slugs, "
            "and that the consumer's account can see it")


def malformed(what: str, endpoint: str, problem: str) -> ApiError:
    """A listing bbvars cannot act on safely; nothing is written after it."""
    return ApiError(f"Bitbucket's answer {what} {problem}, so nothing was changed (from {endpoint}): check "
                    f"{setting('api_url')} points at Bitbucket's API, and re-run", fatal=True)


def usable_text(value: object) -> bool:
    return isinstance(value, str) and value.strip() != ""


def variable_records(items: list[dict], what: str, endpoint: str) -> list[dict]:
    """Listed variables, each with a uuid and a key (a write to a URL built from a missing uuid would hit the
    collection itself)."""
    for number, item in enumerate(items, 1):
        for field in ("uuid", "key"):
            if not usable_text(item.get(field)):
                raise malformed(what, endpoint, f"holds a variable without a {field} (record {number})")
    return items


# -- token ------------------------------------------------------------------------------------------------------------


def scopes_text(raw: object) -> str:
    """Bitbucket says `scope` (a space-separated string); older answers `scopes`; some a list: one string."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, (list, tuple)):
        return " ".join(str(s) for s in raw if isinstance(s, str))
    return ""


def parse_token_answer(response: httpx.Response, redact: Callable[[str], str] | None = None,
                       grant: str = "client_credentials") -> Token:
    status = response.status_code
    if status == 200:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "access_token" not in body:
            raise ApiError(f"the token URL answered 200 without an access_token: {TOKEN_URL_HINT}", fatal=True)
        token = body["access_token"]
        if not usable_text(token):
            # Its kind, never its value: whatever it is, it may still be a secret.
            kind = ("null" if token is None else "empty" if isinstance(token, str)
                    else "a number" if isinstance(token, (int, float)) else "a list" if isinstance(token, list)
                    else "an object")
            raise ApiError(f"the token URL answered 200 with no usable access_token ({kind}): {TOKEN_URL_HINT}",
                           fatal=True)
        scopes = scopes_text(body["scope"] if "scope" in body else body.get("scopes"))
        expires = body.get("expires_in")
        refresh = body.get("refresh_token")  # authorization-code and refresh-token grants only
        return Token(token, str(body.get("token_type", "bearer")),
                     expires if isinstance(expires, int) and not isinstance(expires, bool) else None, scopes,
                     refresh if usable_text(refresh) else None)
    if 300 <= status < 400:
        where = httpx.URL(response.headers["Location"]).host if response.headers.get("Location") else "elsewhere"
        raise ApiError(f"the token URL answered a redirect (HTTP {status} to {where or 'a relative address'}), which "
                       f"bbvars does not follow: {TOKEN_URL_HINT}", status, fatal=True)
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    if error == "unauthorized_client" or error == "invalid_client" or status == 401:
        raise ApiError(
            "Bitbucket rejected the OAuth client id or secret (unauthorized_client): check the consumer's Key and "
            f"Secret ({setting('client_id')} and {setting('client_secret')})",
            status,
            fatal=True,
        )
    if error == "invalid_grant" and grant == "refresh_token":
        raise ApiError(
            "Bitbucket refused the stored login's refresh token (invalid_grant: it expires after 3 months unused, "
            "and the consumer may have been changed or access revoked): run `bbvars login` again",
            status,
            fatal=True,
        )
    if error == "invalid_grant" and grant == "authorization_code":
        raise ApiError(
            "Bitbucket refused the authorization code (invalid_grant: it is single-use and short-lived, and the "
            "consumer's callback URL must match): run `bbvars login` again",
            status,
            fatal=True,
        )
    if error == "invalid_grant" and "public" in description.lower():
        raise ApiError(
            "the OAuth consumer is public, and client credentials need a private one: edit the consumer in "
            "Bitbucket (Workspace settings > OAuth consumers) and tick 'This is a private consumer' (or, to act as "
            f"yourself after `bbvars login`, unset {setting('client_id')} and {setting('client_secret')})",
            status,
            fatal=True,
        )
    if status == 404:
        raise ApiError(f"the token URL answered 404: check {setting('token_url')}", 404, fatal=True)
    detail = f"{error}: {description}" if error else error_message(response, redact)
    detail = redact(detail) if redact else detail  # before it is cut short
    raise ApiError(f"getting a token failed (HTTP {status}: {detail[:200]}): check the OAuth consumer",
                   status, fatal=True)


# -- rate limit --------------------------------------------------------------------------------------------------


def rate_limit(response: httpx.Response) -> tuple[int | None, bool] | None:
    """(X-RateLimit-Limit, X-RateLimit-NearLimit) when the answer carries them (access tokens on /2.0/repositories/*
    only; an OAuth consumer's answers never do), else None. An unreadable limit is None, not a guess."""
    near = response.headers.get("X-RateLimit-NearLimit")
    limit = response.headers.get("X-RateLimit-Limit")
    if near is None and limit is None:
        return None
    text = (limit or "").strip()
    # At most 9 digits: a hostile header of thousands would not even convert (Python's int digit limit).
    number = int(text) if text.isdigit() and len(text) <= 9 and int(text) > 0 else None
    return number, (near or "").strip().lower() == "true"


def frees_at(response: httpx.Response, now: float) -> float | None:
    """When the server says requests are allowed again (Retry-After seconds or date, X-RateLimit-Reset epoch
    seconds), as a wall-clock time; None when it does not say (Bitbucket's 429 does not)."""
    from bbvars.bitbucket.retries import retry_after_seconds

    wait = retry_after_seconds(response.headers.get("Retry-After"), now)
    if wait is not None:
        return now + wait
    reset = response.headers.get("X-RateLimit-Reset", "").strip()
    return float(reset) if reset.isdigit() and float(reset) > now else None
