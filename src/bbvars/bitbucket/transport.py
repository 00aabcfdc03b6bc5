"""Transport limits in one place: a deadline for each request as a whole, a cap on every answer's size, and the
choice of proxy (never one for plain-http loopback) and of CA (httpx's, honouring SSL_CERT_FILE / SSL_CERT_DIR).

httpx's timeouts bound each socket operation, so a server that sends one byte a second is never cut. Here every
socket operation (connect, TLS handshake, each write and read) is given only what is left of the request's deadline,
which the caller sets for the current thread with `deadline()`.
"""

from __future__ import annotations

import contextlib
import os
import re
import ssl
import threading
import time
import urllib.request
import zlib
from collections.abc import Iterator
from typing import NamedTuple

import httpcore
import httpx

from bbvars.errors import ApiError
from bbvars.urls import is_loopback

# Answer size caps, in decoded bytes. A page of 100 variables under Bitbucket's 120,000-character total is well under
# 1 MiB even with every character JSON-escaped; a token answer is a few hundred bytes.
PAGE_CAP = 8 * 1024 * 1024
WRITE_CAP = 2 * 1024 * 1024
TOKEN_CAP = 64 * 1024
CHUNK = 64 * 1024  # the largest single write, so a slow reader cannot stretch one past the deadline by much

_local = threading.local()  # .deadline: time.monotonic() by which the current thread's request must be done


class AnswerTooLarge(Exception):
    def __init__(self, cap: int):
        super().__init__(f"the answer is larger than {human_size(cap)}")
        self.cap = cap


def human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):g} MiB"
    return f"{size / 1024:g} KiB" if size >= 1024 else f"{size} bytes"


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Every socket operation on this thread inside the block shares one budget of `seconds`."""
    outer = getattr(_local, "deadline", None)
    _local.deadline = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.deadline = outer


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """A nested logical request (a token fetched from inside an API request's auth flow) has its own deadlines; the
    time it takes is not charged to the request around it."""
    outer = getattr(_local, "deadline", None)
    started = time.monotonic()
    _local.deadline = None
    try:
        yield
    finally:
        _local.deadline = None if outer is None else outer + (time.monotonic() - started)


def _budget(timeout: float | None, exc: type[Exception]) -> float | None:
    end = getattr(_local, "deadline", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise exc("the request as a whole took longer than the timeout")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _budget(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        for start in range(0, len(buffer), CHUNK):
            self._stream.write(buffer[start:start + CHUNK], _budget(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, _budget(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _Stream(self._backend.connect_tcp(host, port, _budget(timeout, httpcore.ConnectTimeout), local_address,
                                                 socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):  # pragma: no cover - never used
        return _Stream(self._backend.connect_unix_socket(path, _budget(timeout, httpcore.ConnectTimeout),
                                                         socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class Proxy(NamedTuple):
    url: str  # as configured, credentials included: only ever given to httpx
    shown: str  # scheme://host:port, never the credentials
    variable: str  # the environment variable it came from


def proxy_for(url: httpx.URL) -> Proxy | None:
    """The proxy a request to `url` goes through: none for plain-http loopback (the emulator: its traffic, token
    included, must never pass through a proxy in clear); otherwise HTTPS_PROXY / HTTP_PROXY / ALL_PROXY unless
    NO_PROXY names the host, as Python's standard library reads them."""
    if url.scheme == "http" and is_loopback(url.host):
        return None
    proxies = urllib.request.getproxies()
    variable = f"{url.scheme.upper()}_PROXY" if proxies.get(url.scheme) else "ALL_PROXY"
    configured = proxies.get(url.scheme) or proxies.get("all")
    if not configured:
        return None
    host = f"[{url.host}]" if ":" in url.host else url.host
    # In the standard library since Python 3.3, though typeshed does not list it.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if bypass(f"{host}:{url.port}" if url.port else host, proxies):
        return None
    configured = configured if "://" in configured else f"http://{configured}"
    parsed = httpx.URL(configured)
    port = f":{parsed.port}" if parsed.port else ""
    proxy = Proxy(configured, f"{parsed.scheme}://{parsed.host}{port}", variable)
    if parsed.scheme not in ("http", "https"):
        raise ApiError(f"the proxy {proxy.shown} ({variable}) is not an HTTP proxy, and bbvars speaks only to HTTP "
                       "proxies: set an http:// proxy, or list the host in NO_PROXY", fatal=True)
    return proxy


class Transport(httpx.BaseTransport):
    """One connection pool per origin (scheme, host, port), each through that origin's proxy, if any."""

    def __init__(self, limits: httpx.Limits):
        self._limits = limits
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str, int | None], httpx.HTTPTransport] = {}
        self._ssl_context: ssl.SSLContext | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._route(request.url).handle_request(request)

    def _route(self, url: httpx.URL) -> httpx.HTTPTransport:
        origin = (url.scheme, url.host, url.port)
        with self._lock:
            found = self._routes.get(origin)
            if found is None:
                proxy = proxy_for(url)
                if self._ssl_context is None:
                    self._ssl_context = ssl_context()
                found = httpx.HTTPTransport(limits=self._limits, proxy=proxy.url if proxy else None,
                                            verify=self._ssl_context, trust_env=True)
                # httpx offers no public way to choose httpcore's network backend; the pool reads this attribute
                # each time it opens a connection. tests/reliability/test_hostile.py fails if that ever changes.
                found._pool._network_backend = _DeadlineBackend()
                self._routes[origin] = found
            return found

    def close(self) -> None:
        with self._lock:
            routes, self._routes = list(self._routes.values()), {}
        for transport in routes:
            transport.close()


def ssl_context() -> ssl.SSLContext:
    """httpx's context (the CA bundle from SSL_CERT_FILE / SSL_CERT_DIR when set, else certifi's), built once; a
    bundle that cannot be loaded is named with its fix rather than left to surface as an internal error."""
    try:
        return httpx.create_ssl_context(trust_env=True)
    except (ssl.SSLError, OSError) as exc:
        variable = next((name for name in ("SSL_CERT_FILE", "SSL_CERT_DIR") if os.environ.get(name)), None)
        if isinstance(exc, ssl.SSLError):  # "[X509: CODE] words (_ssl.c:4154)": the words
            cause = re.sub(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$", "", str(exc))
        else:
            cause = exc.strerror or str(exc)
        if variable is None:
            raise ApiError(f"cannot load certifi's CA certificates ({cause[:120]}): reinstall bbvars",
                           fatal=True) from None
        raise ApiError(f"cannot load CA certificates from {variable} ({os.environ[variable][:200]}): {cause[:120]}; "
                       f"point {variable} at a PEM file of CA certificates, or unset it", fatal=True) from None


def read_capped(response: httpx.Response, cap: int) -> bytes:
    """Read a streamed answer whole, decoded, but never more than `cap` bytes of it; AnswerTooLarge beyond. gzip and
    deflate are decoded here, never more than the cap allows at a time, so a small compressed bomb cannot expand in
    memory first; other encodings go through httpx's decoders."""
    try:
        return response.content  # already read (the auth flow reads a 401 itself)
    except httpx.ResponseNotRead:
        pass
    length = response.headers.get("Content-Length", "")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if length.isdigit() and int(length) > cap and encoding == "identity":
        response.close()
        raise AnswerTooLarge(cap)
    decoder = _decoder(encoding)
    chunks: list[bytes] = []
    size = 0
    try:
        for raw in (response.iter_raw() if decoder is not None else response.iter_bytes()):
            while raw:
                piece = decoder.decompress(raw, cap + 1 - size) if decoder is not None else raw
                raw = decoder.unconsumed_tail if decoder is not None else b""
                size += len(piece)
                if size > cap:
                    raise AnswerTooLarge(cap)
                chunks.append(piece)
        if decoder is not None:
            chunks.append(decoder.flush())
            if size + len(chunks[-1]) > cap:
                raise AnswerTooLarge(cap)
    except zlib.error as exc:
        raise httpx.DecodingError(f"the answer does not decode as {encoding}: {exc}") from None
    finally:
        response.close()
    body = b"".join(chunks)
    # What Response.read() would have stored: .content, .text and .json() work as for any read answer.
    response._content = body
    return body


def _decoder(encoding: str):
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(zlib.MAX_WBITS | 16)
    if encoding == "deflate":
        return zlib.decompressobj()
    return None  # identity, or an encoding httpx decodes (br, zstd when installed), or refuses


def certificate_problem(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a connection error, if that is what it was."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    text = str(exc)
    return ssl.SSLCertVerificationError(text) if "CERTIFICATE_VERIFY_FAILED" in text else None
