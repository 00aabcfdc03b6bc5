"""A small malicious HTTP server for the hostile-server tests: standard library only, loopback only, bounded.

Each request goes to a handler that returns what to do: answer normally (`Reply`), trickle bytes (`Trickle`), send a
body that never ends (`Endless`) or say nothing (`Silent`). Every slow or endless answer stops by itself after
`LIMIT` seconds or `MAX_BYTES` bytes, and records whether the client hung up first (`hangups`) or the server had to
stop (`self_stops`): a test asserts the client hung up, which is a bound by design, not a speed claim.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

LIMIT = 20.0  # seconds any one slow answer may last before the server gives up on it
MAX_BYTES = 64 * 1024 * 1024  # bytes any one endless answer may send before the server gives up on it


@dataclass
class Req:
    method: str
    path: str  # decoded, without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    target: str  # the request target as sent (absolute for a request sent to a proxy)


@dataclass
class Reply:
    status: int = 200
    body: Any = b""  # bytes, or anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Trickle:
    """Bytes one at a time, `every` seconds apart, forever: from the status line on (head=True) or after headers."""

    head: bool = False
    every: float = 0.2


@dataclass
class Endless:
    """A 200 whose chunked body never ends."""

    chunk: bytes = b"[" * 65536


@dataclass
class Silent:
    """Read the request, then say nothing."""


Handler = Callable[[Req], "Reply | Trickle | Endless | Silent"]


class HostileServer:
    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None):
        self.handler = handler
        self.tls = tls
        self.requests: list[Req] = []
        self.connections = 0
        self.hangups = 0  # slow or endless answers the client walked away from
        self.self_stops = 0  # slow or endless answers the server had to stop itself
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0  # slow or endless answers still going
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        # A client that hung up is noticed at the server's next write: give that a moment before stopping.
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout=10)
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests if method is None or r.method == method]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(LIMIT)
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            while not self._stop.is_set():
                request = read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                what = self.handler(request)
                if not isinstance(what, Reply):
                    self._misbehave(conn, what)
                    return
                conn.sendall(render(what))
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _misbehave(self, conn: socket.socket, what: Trickle | Endless | Silent) -> None:
        with self._lock:
            self._active += 1
        try:
            ended = self._keep_misbehaving(conn, what)
        finally:
            with self._idle:
                self._active -= 1
                if ended == "client":
                    self.hangups += 1
                elif ended == "limit":
                    self.self_stops += 1
                self._idle.notify_all()

    def _keep_misbehaving(self, conn: socket.socket, what: Trickle | Endless | Silent) -> str:
        """Until the client hangs up ("client"), the limit is reached ("limit") or the server stops ("stopped")."""
        end = time.monotonic() + LIMIT
        sent = 0
        try:
            if isinstance(what, Silent):
                conn.settimeout(0.2)
                while time.monotonic() < end and not self._stop.is_set():
                    try:
                        if conn.recv(1) == b"":
                            return "client"
                    except TimeoutError:
                        pass
            elif isinstance(what, Trickle):
                if not what.head:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n\r\n")
                head = b"HTTP/1.1 200 OK\r\nX-Slow: " if what.head else b""
                while time.monotonic() < end and not self._stop.is_set():
                    conn.sendall(head[sent:sent + 1] if sent < len(head) else b" ")
                    sent += 1
                    time.sleep(what.every)
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                frame = f"{len(what.chunk):x}\r\n".encode() + what.chunk + b"\r\n"
                while time.monotonic() < end and sent < MAX_BYTES and not self._stop.is_set():
                    conn.sendall(frame)
                    sent += len(what.chunk)
        except OSError:
            return "client"
        return "stopped" if self._stop.is_set() else "limit"


def read_request(reader) -> Req | None:
    line = reader.readline(65537)
    if not line:
        return None
    method, target, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while True:
        header = reader.readline(65537)
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0") or 0))
    split = urlsplit(target)
    return Req(method, unquote(split.path), dict(parse_qsl(split.query)), headers, body, target)


def render(reply: Reply) -> bytes:
    body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
    headers = {"Content-Type": "application/json", **reply.headers, "Content-Length": str(len(body))}
    head = f"HTTP/1.1 {reply.status} Hostile\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


# -- a Bitbucket that is honest except where a test says otherwise ---------------------------------------------------

TOKEN_PATH = "/site/oauth2/access_token"
VARIABLES = "/2.0/repositories/acme/api/pipelines_config/variables"
GOOD_TOKEN = {"access_token": "hostile-token-5d1e", "scope": "pipeline pipeline:variable", "expires_in": 7200,
              "token_type": "bearer"}


def record(uuid: str, key: str, value: str = "old") -> dict:
    return {"type": "pipeline_variable", "uuid": uuid, "key": key, "value": value, "secured": False}


def bitbucket(pages: Callable[[Req], Any] | None = None, token: Callable[[Req], Any] | None = None,
              writes: Callable[[Req], Any] | None = None) -> Handler:
    """A handler: the token endpoint, the repository variables listing (`pages` answers each GET) and writes, each
    overridable; anything else is 404."""

    def handle(request: Req):
        if request.path == TOKEN_PATH:
            return token(request) if token else Reply(body=GOOD_TOKEN)
        if request.path.startswith(VARIABLES):
            if request.method == "GET":
                return pages(request) if pages else Reply(body={"values": [], "page": 1, "size": 0})
            if writes:
                return writes(request)
            if request.method == "POST":
                body = json.loads(request.body)
                return Reply(201, {**record("{new}", body["key"], body["value"])})
            if request.method == "PUT":
                body = json.loads(request.body)
                return Reply(200, record(request.path.rsplit("/", 1)[1], body["key"], body["value"]))
            if request.method == "DELETE":
                return Reply(204, b"")
        return Reply(404, {"type": "error", "error": {"message": "Not found"}})

    return handle
