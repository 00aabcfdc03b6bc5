"""Bitbucket's HTTP surface over `State`: routing, auth, paging and bodies. No sockets here (see server.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote, urlencode

import bbvars.emulator.ratelimit as ratelimit
from bbvars.emulator.identity import Identities, Token
from bbvars.emulator.messages import (  # re-exported: the server and the Emulator take them from here
    AUTHORIZE_PATH,
    Options,
    Request,
    Response,
    basic_credentials,
    bearer_token,
    error_response,
    json_response,
)
from bbvars.emulator.oauth import OAuthEndpoints
from bbvars.emulator.state import (
    ENVIRONMENT_TYPE_RANKS,
    ApiError,
    BadRequest,
    Environment,
    Forbidden,
    NotFound,
    Scope,
    State,
    Variable,
    grants,
)

TOKEN_PATH = "/site/oauth2/access_token"
API_PREFIX = "/2.0"
DEFAULT_PAGELEN = 10
MAX_PAGELEN = 100
READ_SCOPE = "pipeline"
WRITE_SCOPE = "pipeline:variable"
API_TOKEN_READ, API_TOKEN_WRITE = "read:pipeline:bitbucket", "admin:pipeline:bitbucket"
USER_SCOPES = {"oauth": "account", "access": "account", "api": "read:user:bitbucket"}  # what GET /2.0/user needs


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


class Api:
    def __init__(self, state: State, identities: Identities, options: Options) -> None:
        self.state = state
        self.identities = identities
        self.options = options
        self.oauth = OAuthEndpoints(identities, options)

    def handle(self, request: Request) -> Response:
        try:
            if request.path == TOKEN_PATH:
                return self.oauth.token(request)
            if request.path == AUTHORIZE_PATH:
                return self.oauth.authorize(request)
            if request.path == API_PREFIX or request.path.startswith(API_PREFIX + "/"):
                return self.api(request)
            raise NotFound(f"No resource at {request.path}.")
        except ApiError as error:
            return error_response(error.status, error.message, error.detail)

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
        credential = self.identities.authenticate(bearer, basic_credentials(request.headers))
        budget, hourly = self.options.budget, self.options.hourly_limit
        # Counted when there is a budget, and always for access tokens, whose answers tell how much is left.
        counted = hourly is not None or credential.kind == "access"
        if counted and not budget.take(credential.owner, hourly):
            response = fault_response(429, None, None, {})  # the hour's budget is spent: Bitbucket's own answer
        else:
            try:
                response = self._authorized(request, credential, captured, handler_name, writes)
            except ApiError as error:
                response = error_response(error.status, error.message, error.detail)
        if credential.kind == "access" and bearer and segments[0] == "repositories":
            # Scaled rate limits, and their headers, are for access tokens on /2.0/repositories/* only.
            limit = hourly if hourly is not None else self.options.rate_limit
            response.headers.update(ratelimit.headers(budget.used(credential.owner), limit))
        return response

    def _authorized(self, request: Request, credential: Token, captured: dict[str, str], handler_name: str,
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
