"""Socket glue: a threaded HTTP/1.1 keep-alive server that turns each request into a `Request` for a callback and
writes back the `Response` it returns, or resets the connection when it returns None. Policy lives elsewhere."""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from bbvars.emulator.api import Request, Response, error_response

Respond = Callable[[Request], "Response | None"]


class BodyError(ValueError):
    pass


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True  # stop() must not wait for a request stalled by a delay fault

    def __init__(self, host: str, port: int, respond: Respond) -> None:
        # An IPv6 literal needs an IPv6 socket; decided before binding.
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.respond = respond
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        # stop() writes to this pair to end serve() at once; serve_forever() would only notice on its next poll.
        self._wake_reader, self._wake_writer = socket.socketpair()
        super().__init__((host, port), _Handler)

    def serve(self) -> None:
        """Accept connections until wake() is called; each connection is handled on its own daemon thread."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_reader in ready:
                    return
                self._handle_request_noblock()  # type: ignore[attr-defined]  # what serve_forever() calls

    def wake(self) -> None:
        self._wake_writer.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on DNS; the emulator must start fast.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: object, client_address: object) -> None:
        # The default prints a traceback to stderr; the emulator prints nothing (it handles tokens and secrets).
        pass

    def track(self, connection: socket.socket, active: bool) -> None:
        with self._connections_lock:
            (self._connections.add if active else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """End kept-alive connections too, so a stopped emulator really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bbvars-emulator"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go in two writes; Nagle would delay keep-alive answers
    server: EmulatorServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # silence: request lines can carry tokens in query strings

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):  # the client may be gone already
            super().finish()

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except (BodyError, OSError):
            self.close_connection = True
            self._write(error_response(400, "Unreadable request body."))
            return
        split = urlsplit(self.path)
        host = self.headers.get("Host")
        request = Request(
            method=self.command,
            path=unquote(split.path),
            raw_path=split.path,
            query=dict(parse_qsl(split.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            base_url=f"http://{host}" if host else f"http://{self.server.server_name}:{self.server.server_port}",
        )
        response = self.server.respond(request)
        if response is None:
            self._reset()
        else:
            self._write(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise BodyError(length) from None
        body = self.rfile.read(size)
        if len(body) != size:
            raise BodyError("short body")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BodyError("bad chunk size") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline(3)  # the CRLF after each chunk

    def _write(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            if response.status not in (204, 304):  # these carry no body and so no framing headers
                if response.content_type:
                    self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if response.status not in (204, 304) and response.body:
                self.wfile.write(response.body)
        except OSError:  # the client gave up (e.g. timed out during a delay fault)
            self.close_connection = True

    def _reset(self) -> None:
        """Close abruptly: SO_LINGER 0 makes close() send RST, so the client sees a connection reset, not EOF."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # drop the makefile reference so close() below really closes the socket now
            self.connection.close()
        except OSError:
            pass
