"""The emulated OAuth endpoints: the token endpoint (client_credentials, authorization_code, refresh_token) and the
consent page of the authorization-code flow at /site/oauth2/authorize."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bbvars.emulator.identity import Identities, TokenError, User
from bbvars.emulator.messages import (
    AUTHORIZE_PATH,
    Options,
    Request,
    Response,
    basic_credentials,
    error_response,
    json_response,
)


class OAuthEndpoints:
    def __init__(self, identities: Identities, options: Options) -> None:
        self.identities = identities
        self.options = options

    def token(self, request: Request) -> Response:
        if request.method != "POST":
            return error_response(405, "Method not allowed.", Allow="POST")
        client_id, secret = basic_credentials(request.headers)
        form = dict(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
        try:
            token, scopes, refresh = self.identities.issue_token(client_id, secret, form, self.options.token_ttl,
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
        consumer = self.identities.consumer(params.get("client_id"))
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
            answer = {"code": self.identities.issue_code(consumer.client_id, self.options.consent_user)}
        else:
            answer = {"error": "access_denied", "error_description": "The user denied access."}
        if state is not None:
            answer["state"] = state
        return Response(302, b"", None, {"Location": with_query(consumer.callback_url, answer)})


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


