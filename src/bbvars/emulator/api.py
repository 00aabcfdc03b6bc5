"""Bitbucket's HTTP surface over `State`: routing, auth, paging and bodies. No sockets here (see server.py)."""

from __future__ import annotations

import base64
import binascii
import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from bbvars.emulator.state import (
    ENVIRONMENT_TYPE_RANKS,
    ApiError,
    BadRequest,
    Environment,
    Forbidden,
    NotFound,
    Scope,
    State,
    TokenError,
    User,
    Variable,
    grants,
)

TOKEN_PATH = "/site/oauth2/access_token"
AUTHORIZE_PATH = "/site/oauth2/authorize"
API_PREFIX = "/2.0"
DEFAULT_PAGELEN = 10
MAX_PAGELEN = 100
READ_SCOPE = "pipeline"
WRITE_SCOPE = "pipeline:variable"
API_TOKEN_READ, API_TOKEN_WRITE = "read:pipeline:bitbucket", "admin:pipeline:bitbucket"
USER_SCOPES = {"oauth": "account", "access": "account", "api": "read:user:bitbucket"}  # what GET /2.0/user needs


class Options(Protocol):
    """The knobs tests turn at run time; the Emulator provides them and they are read on every request."""

    token_ttl: float
    scope_field: str
    omit_next: bool
    omit_size: bool
    refresh_ttl: float
    rate_limit: int  # X-RateLimit-Limit sent to access tokens
    consent_user: User  # who "logs in" on the consent page


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


def fault_response(
    status: int, body: str | bytes | None, content_type: str | None, headers: dict[str, str]
) -> Response:
    """An injected answer; the defaults copy what Bitbucket sends for that status."""
    if body is None:
        if status == 429:  # Bitbucket's rate limit answer: plain text and, notably, no Retry-After header
            body = "Rate limit for this resource has been exceeded"
        else:
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Error"
            body = json.dumps({"type": "error", "error": {"message": phrase}})
    data = body.encode() if isinstance(body, str) else body
    default_type = "text/plain" if status == 429 else "application/json"
    return Response(status, data, content_type or default_type, dict(headers))


# A route is a path pattern under /2.0 ("{name}" segments capture, "{uuid:name}" ones must be braced uuids) and,
# per method, the handler method of `Api` and whether it writes.
ROUTES: list[tuple[str, dict[str, tuple[str, bool]]]] = [
    (
        "repositories/{workspace}/{repository}/pipelines_config/variables",
        {"GET": ("list_variables", False), "POST": ("create_variable", True)},
    ),
    (
        "repositories/{workspace}/{repository}/pipelines_config/variables/{uuid:variable}",
        {"GET": ("get_variable", False), "PUT": ("update_variable", True), "DELETE": ("delete_variable", True)},
    ),
    (
        "repositories/{workspace}/{repository}/deployments_config/environments/{uuid:environment}/variables",
        {"GET": ("list_variables", False), "POST": ("create_variable", True)},
    ),
    (
        "repositories/{workspace}/{repository}/deployments_config/environments/{uuid:environment}/variables/{uuid:variable}",
        {"PUT": ("update_variable", True), "DELETE": ("delete_variable", True)},
    ),
    (
        "workspaces/{workspace}/pipelines-config/variables",
        {"GET": ("list_variables", False), "POST": ("create_variable", True)},
    ),
    (
        "workspaces/{workspace}/pipelines-config/variables/{uuid:variable}",
        {"GET": ("get_variable", False), "PUT": ("update_variable", True), "DELETE": ("delete_variable", True)},
    ),
    ("repositories/{workspace}/{repository}/environments", {"GET": ("list_environments", False)}),
    ("user", {"GET": ("get_user", False)}),
    ("repositories/{workspace}/{repository}/environments/{uuid:environment}", {"GET": ("get_environment", False)}),
]


def match_route(segments: list[str]) -> tuple[dict[str, str], dict[str, tuple[str, bool]]] | None:
    """The captured segments and the method table of the route `segments` fit, or None."""
    for pattern, methods in ROUTES:
        parts = pattern.split("/")
        if len(parts) != len(segments):
            continue
        captured: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{"):
                captured[part.strip("{}")] = segment
            elif part != segment:
                break
        else:
            return captured, methods
    return None


def is_braced_uuid(segment: str) -> bool:
    return len(segment) > 2 and segment.startswith("{") and segment.endswith("}")


def variable_json(variable: Variable, kind: str) -> dict[str, Any]:
    body: dict[str, Any] = {"type": kind, "uuid": variable.uuid, "key": variable.key}
    if not variable.secured:  # Bitbucket never returns a secured value, not even in a create or update answer.
        body["value"] = variable.value
    body["secured"] = variable.secured
    return body


def environment_json(env: Environment) -> dict[str, Any]:
    return {
        "type": "deployment_environment",
        "uuid": env.uuid,
        "name": env.name,
        "slug": env.slug,
        "environment_type": {
            "type": "deployment_environment_type",
            "name": env.environment_type,
            "rank": ENVIRONMENT_TYPE_RANKS[env.environment_type],
        },
    }


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


class Api:
    def __init__(self, state: State, options: Options) -> None:
        self.state = state
        self.options = options

    def handle(self, request: Request) -> Response:
        try:
            if request.path == TOKEN_PATH:
                return self.token(request)
            if request.path == AUTHORIZE_PATH:
                return self.authorize(request)
            if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
                return self.api(request)
            raise NotFound(f"No resource at {request.path}.")
        except ApiError as error:
            return error_response(error.status, error.message, error.detail)

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return error_response(405, "Method not allowed.", Allow="POST")
        client_id, secret = basic_credentials(request.headers)
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            token, scopes, refresh = self.state.issue_token(client_id, secret, form, self.options.token_ttl,
                                                            self.options.refresh_ttl)
        except TokenError as refused:
            return json_response(400, {"error": refused.error, "error_description": refused.description})
        ttl = self.options.token_ttl
        body: dict[str, Any] = {
            "access_token": token,
            self.options.scope_field: " ".join(scopes),
            "expires_in": int(ttl) if float(ttl).is_integer() else ttl,  # Bitbucket sends whole seconds
            "token_type": "bearer",
            "state": form.get("grant_type"),
        }
        if refresh is not None:  # the authorization-code and refresh-token grants; client credentials get none
            body["refresh_token"] = refresh
        return json_response(200, body)

    # --- the authorization-code flow's consent page ---

    def authorize(self, request: Request) -> Response:
        """GET: the consent page. POST (its buttons): back to the consumer's callback URL with `code` and `state`,
        or with `error=access_denied`."""
        if request.method == "GET":
            params = request.query
        elif request.method == "POST":
            params = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            return error_response(405, "Method not allowed.", Allow="GET, POST")
        consumer = self.state.consumer(params.get("client_id"))
        if consumer is None:
            return html_page(400, "Invalid client_id", "<p>No OAuth consumer has this key.</p>")
        if params.get("response_type", "code") != "code":
            return html_page(400, "Unsupported response_type", "<p>Only <code>response_type=code</code>.</p>")
        if not consumer.callback_url:
            return html_page(400, "No callback URL", "<p>This consumer has no callback URL.</p>")
        state = params.get("state")
        if request.method == "GET":
            return consent_page(consumer.client_id, " ".join(consumer.scopes), state, self.options.consent_user)
        if params.get("decision") == "grant":
            answer = {"code": self.state.issue_code(consumer.client_id, self.options.consent_user)}
        else:
            answer = {"error": "access_denied", "error_description": "The user denied access."}
        if state is not None:
            answer["state"] = state
        return Response(302, b"", None, {"Location": with_query(consumer.callback_url, answer)})

    def api(self, request: Request) -> Response:
        # Split before decoding so an encoded "/" stays inside its segment. Trailing slashes are accepted, as
        # Bitbucket does (its own examples end collection paths with one).
        segments = [unquote(s) for s in request.raw_path.strip("/").split("/")[1:]]
        found = match_route(segments)
        if found is None:
            raise NotFound(f"No resource at {request.path}.")
        captured, methods = found
        if request.method not in methods:
            return error_response(405, "Method not allowed.", Allow=", ".join(methods))
        handler_name, writes = methods[request.method]
        bearer = bearer_token(request.headers)
        credential = self.state.authenticate(bearer, basic_credentials(request.headers))
        try:
            response = self._authorized(request, credential, captured, handler_name, writes)
        except ApiError as error:
            response = error_response(error.status, error.message, error.detail)
        if credential.kind == "access" and bearer and segments[0] == "repositories":
            # Scaled rate limits, and their headers, are for access tokens on /2.0/repositories/* only.
            count, limit = self.state.requests_with(bearer), self.options.rate_limit
            response.headers.update({"X-RateLimit-Limit": str(limit), "X-RateLimit-Resource": "api",
                                     "X-RateLimit-NearLimit": "true" if count >= 0.8 * limit else "false"})
        return response

    def _authorized(self, request: Request, credential: Any, captured: dict[str, str], handler_name: str,
                    writes: bool) -> Response:
        if handler_name == "get_user":
            required = USER_SCOPES[credential.kind]
        elif credential.kind == "api":
            required = API_TOKEN_WRITE if writes else API_TOKEN_READ
        else:
            required = WRITE_SCOPE if writes else READ_SCOPE
        if not grants(credential.scopes, required):
            raise Forbidden(
                "Your credentials lack one or more required privilege scopes.",
                {"granted": list(credential.scopes), "required": [required]},
            )
        if handler_name == "get_user":
            user = credential.user
            return json_response(200, user.as_json() if user else {"type": "app_user", "display_name": "app user"})
        params: dict[str, str] = {}
        for name, value in captured.items():
            if name.startswith("uuid:"):
                name = name[len("uuid:") :]
                if not is_braced_uuid(value):
                    raise BadRequest(f"Invalid {name} UUID {value!r}: UUIDs must be enclosed in braces {{}}.")
            params[name] = value
        handler: Callable[[Request, dict[str, str]], Response] = getattr(self, handler_name)
        return handler(request, params)

    # --- variables ---

    @staticmethod
    def _scope(params: dict[str, str]) -> tuple[Scope, str]:
        scope = Scope(params["workspace"], params.get("repository"), params.get("environment"))
        return scope, "deployment_variable" if scope.environment else "pipeline_variable"

    def list_variables(self, request: Request, params: dict[str, str]) -> Response:
        scope, kind = self._scope(params)

        def window(start: int, stop: int) -> tuple[int, list[dict[str, Any]]]:
            # Only the page is copied and rendered: listing stays O(page) however many variables a scope holds.
            total, variables = self.state.variables_window(scope, start, stop)
            return total, [variable_json(v, kind) for v in variables]

        return self._page(request, window)

    def get_variable(self, request: Request, params: dict[str, str]) -> Response:
        scope, kind = self._scope(params)
        return json_response(200, variable_json(self.state.get_variable(scope, params["variable"]), kind))

    def create_variable(self, request: Request, params: dict[str, str]) -> Response:
        scope, kind = self._scope(params)
        body = json_object(request.body)
        key, value, secured = body.get("key"), body.get("value"), body.get("secured", False)
        if not isinstance(key, str) or not isinstance(value, str):
            raise BadRequest("A variable needs a string 'key' and a string 'value'.")
        if not isinstance(secured, bool):
            raise BadRequest("'secured' must be true or false.")
        variable = self.state.create_variable(scope, key, value, secured)
        location = f"{request.base_url}{request.raw_path.rstrip('/')}/{quote(variable.uuid, safe='')}"
        return json_response(201, variable_json(variable, kind), {"Location": location})

    def update_variable(self, request: Request, params: dict[str, str]) -> Response:
        scope, kind = self._scope(params)
        body = json_object(request.body)
        key, value, secured = body.get("key"), body.get("value"), body.get("secured")
        if key is not None and not isinstance(key, str):
            raise BadRequest("'key' must be a string.")
        if value is not None and not isinstance(value, str):
            raise BadRequest("'value' must be a string.")
        if secured is not None and not isinstance(secured, bool):
            raise BadRequest("'secured' must be true or false.")
        variable = self.state.update_variable(scope, params["variable"], key, value, secured)
        return json_response(200, variable_json(variable, kind))

    def delete_variable(self, request: Request, params: dict[str, str]) -> Response:
        scope, _ = self._scope(params)
        self.state.delete_variable(scope, params["variable"])
        return Response(204, b"", None)

    # --- environments ---

    def list_environments(self, request: Request, params: dict[str, str]) -> Response:
        envs = self.state.environments(params["workspace"], params["repository"])
        rendered = [environment_json(e) for e in envs]
        return self._page(request, lambda start, stop: (len(rendered), rendered[start:stop]))

    def get_environment(self, request: Request, params: dict[str, str]) -> Response:
        env = self.state.environment(params["workspace"], params["repository"], params["environment"])
        return json_response(200, environment_json(env))

    # --- paging ---

    def _page(self, request: Request, window: Callable[[int, int], tuple[int, list[dict[str, Any]]]]) -> Response:
        """One page of a collection; window(start, stop) answers (total count, the items in [start, stop))."""
        page = int_param(request.query, "page", 1)
        if page < 1:
            raise BadRequest("Invalid page: pages start at 1.")
        pagelen = min(max(int_param(request.query, "pagelen", DEFAULT_PAGELEN), 1), MAX_PAGELEN)
        start = (page - 1) * pagelen
        total, values = window(start, start + pagelen)
        body: dict[str, Any] = {"page": page, "pagelen": pagelen}
        if not self.options.omit_size:
            body["size"] = total
        body["values"] = values

        def link(number: int) -> str:
            kept = {k: v for k, v in request.query.items() if k not in ("page", "pagelen")}
            query = {**kept, "page": str(number), "pagelen": str(pagelen)}
            return f"{request.base_url}{request.raw_path}?{urlencode(query)}"

        if start + pagelen < total and not self.options.omit_next:
            body["next"] = link(page + 1)
        if page > 1:
            body["previous"] = link(page - 1)
        return json_response(200, body)


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, urlencode(params)]))
    return urlunsplit(parts._replace(query=query))


def html_page(status: int, title: str, body: str) -> Response:
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Response(status, page.encode(), "text/html; charset=utf-8")


def consent_page(client_id: str, scopes: str, state: str | None, user: User) -> Response:
    """Bitbucket's "Grant access" page, reduced to what a test (or a person trying the emulator) needs."""
    hidden = f"<input type='hidden' name='client_id' value='{html.escape(client_id, quote=True)}'>"
    if state is not None:
        hidden += f"<input type='hidden' name='state' value='{html.escape(state, quote=True)}'>"
    body = (
        f"<p>Logged in as <b>{html.escape(user.display_name)}</b>.</p>"
        f"<p>The OAuth consumer <b>{html.escape(client_id)}</b> asks for: <code>{html.escape(scopes)}</code></p>"
        f"<form method='post' action='{AUTHORIZE_PATH}'>{hidden}"
        "<button type='submit' name='decision' value='grant' id='grant'>Grant access</button> "
        "<button type='submit' name='decision' value='cancel' id='cancel'>Cancel</button></form>"
    )
    return html_page(200, "Authorize bbvars", body)


def json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    return body


def int_param(query: dict[str, str], name: str, default: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"Invalid {name}: {raw!r} is not a number.") from None
