"""The authorization-code flow of `bbvars login`: a one-shot loopback listener for the browser's redirect, the
`state` check, the code exchange, and the stored login. Nothing here prints a token."""

from __future__ import annotations

import errno
import html
import secrets
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import bbvars.auth.store as store
from bbvars.auth.flows import StaticBearer, Token, check_token
from bbvars.auth.shield import signals_held
from bbvars.errors import BbvarsError, InputError, setting
from bbvars.urls import is_loopback

DEFAULT_CALLBACK_URL = "http://localhost:8976/callback"
DEFAULT_WAIT = 300.0  # seconds for the person to answer the consent page


@dataclass(frozen=True)
class Callback:
    host: str  # "localhost" means both loopback addresses, 127.0.0.1 and ::1
    port: int
    path: str
    url: str


def parse_callback_url(url: str) -> Callback:
    """Only loopback http: the code must reach this machine's listener and nothing else."""
    if any(char.isspace() or not char.isprintable() for char in url):
        # urlsplit would quietly drop a line break or tab: the URL bbvars listens on would not be the one given.
        raise InputError("--callback-url holds a line break, space or control character: give http://HOST:PORT/PATH "
                         "on one line")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        port, parts = None, None
    if parts is None or parts.scheme != "http" or not parts.hostname or not is_loopback(parts.hostname):
        raise InputError(f"--callback-url must be a loopback http:// URL such as {DEFAULT_CALLBACK_URL} (the browser "
                         f"hands the code to bbvars on this machine), got {url[:80]!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InputError("--callback-url takes no user, query or fragment: give http://HOST:PORT/PATH")
    if port == 0:
        raise InputError("--callback-url has port 0, which no browser can be sent to: give the port of the "
                         f"consumer's callback URL (1-65535), such as {DEFAULT_CALLBACK_URL}")
    return Callback(parts.hostname, port or 80, parts.path or "/", url)


def authorize_url(token_url: str, client_id: str, state: str) -> str:
    """The consent page lives next to the token endpoint: .../site/oauth2/authorize."""
    base = token_url.rsplit("/", 1)[0]
    return f"{base}/authorize?" + urlencode({"client_id": client_id, "response_type": "code", "state": state})


class Waiting:
    """What the listeners share: the callback and this login's state, the first answer that carries the state, and
    how many callbacks without it were turned away."""

    def __init__(self, callback: Callback, state: str):
        self.callback = callback
        self.state = state
        self.answer: dict[str, str] | None = None
        self.answered = threading.Event()
        self.lock = threading.Lock()
        self.refused = 0

    def carries_state(self, answer: dict[str, str]) -> bool:
        return secrets.compare_digest(answer.get("state", "").encode(), self.state.encode())


class _Listener(ThreadingHTTPServer):
    """One thread per connection (so a connection that sends nothing keeps no one out), none waited for at the end."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int, waiting: Waiting):
        self.waiting = waiting
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can stall on DNS; a loopback listener needs none.
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # ::1 only, never an IPv4 port
        socketserver.TCPServer.server_bind(self)

    def handle_error(self, request, client_address) -> None:
        pass  # no traceback on a browser that went away


class _Handler(BaseHTTPRequestHandler):
    server: _Listener
    timeout = 10  # seconds a connection may take to send its request

    def log_message(self, format: str, *args) -> None:
        pass  # request lines carry the code

    def do_GET(self) -> None:
        waiting = self.server.waiting
        split = urlsplit(self.path)
        if split.path != waiting.callback.path:
            self._page(404, "Not found", "This is bbvars login's callback; nothing else is here.")
            return
        answer = dict(parse_qsl(split.query, keep_blank_values=True))
        if not waiting.carries_state(answer):
            # A stray request (another program, an old tab) neither ends the login nor is told it worked: the real
            # callback may still come.
            with waiting.lock:
                waiting.refused += 1
            self._page(400, "bbvars: not this login", "This request does not carry the state of the login bbvars is "
                                                      "waiting for, so it was ignored.")
            return
        with waiting.lock:  # the first callback wins; a second one (a reload) is told it is not wanted
            first = waiting.answer is None
            if first:
                waiting.answer = answer
        if not first:
            self._page(404, "Not found", "This login has already been answered.")
        elif "code" in answer:
            self._page(200, "bbvars: logged in", "You may close this window and go back to the terminal.")
        else:
            self._page(400, "bbvars: not logged in", f"Bitbucket answered {answer.get('error', 'no code')}. Go back "
                                                     "to the terminal.")
        if first:
            waiting.answered.set()  # after the page is written: the browser always gets it

    def _page(self, status: int, title: str, text: str) -> None:
        body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
                f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


# Errors meaning "this machine has no IPv6" (no ::1 to bind), as opposed to "::1 is there but the port is taken".
NO_IPV6 = frozenset({errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT})


def listen(callback: Callback, waiting: Waiting) -> list[_Listener]:
    """A browser may resolve `localhost` to 127.0.0.1 or to ::1, so both are listened on: else another program
    could take the port on the address bbvars left free and receive the code. A machine with no IPv6 at all has no
    ::1 to take, and 127.0.0.1 alone is then enough."""
    hosts = ["127.0.0.1", "::1"] if callback.host == "localhost" else [callback.host]
    listeners: list[_Listener] = []
    try:
        for host in hosts:
            try:
                listeners.append(_Listener(host, callback.port, waiting))
            except OSError as exc:
                if host == "::1" and callback.host == "localhost" and (exc.errno in NO_IPV6 or not socket.has_ipv6):
                    continue
                raise listen_failure(host, callback.port, exc) from None
    except BaseException:
        for listener in listeners:
            listener.server_close()
        raise
    return listeners


def listen_failure(host: str, port: int, exc: OSError) -> BbvarsError:
    if exc.errno == errno.EADDRINUSE:
        return BbvarsError(f"port {port} on {host} is in use (another `bbvars login`?): stop what holds it, or give "
                           "--callback-url with another port (the consumer's callback URL must be the same)")
    return BbvarsError(f"cannot listen on {host}:{port} for the callback ({exc.strerror}): give --callback-url with "
                       "another loopback address or port")


@dataclass(frozen=True)
class Consumer:
    client_id: str
    client_secret: str
    token_url: str


def login(
    consumer: Consumer,
    callback: Callback,
    *,
    api_url: str,
    request_token: Callable[[str, str, str, dict], Token],
    who: Callable[[Token], str],
    show: Callable[[str], None],
    open_browser: Callable[[str], object] | None,
    wait: float,
    path: Path,
) -> store.Login:
    """Runs the whole flow and stores the login, for `api_url` only; every failure is one BbvarsError line."""
    store.make_dir(path.parent)  # a login that could not be stored safely is refused before the browser is sent
    store.check_dir(path.parent)
    waiting = Waiting(callback, secrets.token_urlsafe(24))
    listeners = listen(callback, waiting)  # before the browser is sent anywhere: its answer must find us listening
    for listener in listeners:
        threading.Thread(target=listener.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        url = authorize_url(consumer.token_url, consumer.client_id, waiting.state)
        show(f"Open this page in a browser to log in: {url}")
        if open_browser is not None:
            try:
                open_browser(url)
            except Exception:  # noqa: S110 - no browser here: the printed page is the way
                pass
        show(f"Waiting up to {wait:g} s for the browser to come back to {callback.url} ...")
        if not waiting.answered.wait(wait):
            stray = (f"; {waiting.refused} request(s) without this login's state were turned away" if waiting.refused
                     else "")
            raise BbvarsError(f"no answer from the browser within {wait:g} s{stray}: run `bbvars login` again "
                              f"({setting('timeout')} allows more time; the consumer's callback URL must be "
                              f"{callback.url})")
    finally:
        for listener in listeners:
            listener.shutdown()
            listener.server_close()
    answer = waiting.answer or {}
    if answer.get("error") == "access_denied":
        raise BbvarsError("access was not granted in the browser (access_denied): run `bbvars login` again and "
                          "choose Grant access")
    if "code" not in answer:
        raise BbvarsError(f"Bitbucket came back without a code ({answer.get('error', 'no error given')[:60]}): check "
                          "the consumer, then run `bbvars login` again")
    # The code is single-use: once it is sent, only the stored answer is a login (Ctrl-C waits for the save).
    with signals_held():
        token = check_token(request_token(consumer.token_url, consumer.client_id, consumer.client_secret,
                                          {"grant_type": "authorization_code", "code": answer["code"]}))
        if not token.refresh_token:
            raise BbvarsError("Bitbucket answered the code without a refresh token, so the login could not be kept: "
                              f"check {setting('token_url')}")
        login_ = store.Login(
            client_id=consumer.client_id,
            client_secret=consumer.client_secret,
            access_token=token.access_token,
            refresh_token=token.refresh_token,
            expires_at=time.time() + token.expires_in if token.expires_in is not None else None,
            scopes=token.scopes,
            user=who(token),
            token_url=consumer.token_url,
            api_url=api_url,
        )
        store.save(path, login_)
    return login_


def who_is(client, token: Token) -> str:
    """Who the token acts as, from GET /2.0/user (needs the consumer's Account: Read scope)."""
    from bbvars.errors import ApiError

    client.http.auth = StaticBearer(token.access_token)
    try:
        response = client.send("GET", "user", what="asking who logged in")
        body = response.json() if response.status_code == 200 else None
    except (ApiError, ValueError):
        body = None
    if not isinstance(body, dict) or not body.get("display_name"):
        return "an account bbvars cannot name (the consumer lacks the Account: Read scope)"
    nickname = body.get("nickname") or body.get("username")
    return plain(body["display_name"]) + (f" ({plain(nickname)})" if nickname else "")


def plain(text: object, limit: int = 80) -> str:
    """A server's name for the account as one short printable line: it is printed, stored and later shown in CI
    logs as the credential's name, so a line break or control character in it must not start a line of its own."""
    return "".join(char for char in " ".join(str(text).split()) if char.isprintable())[:limit]
