"""Transport limits alone: which proxy a URL goes through, the answer cap, and the whole-request deadline. The same
limits against a real misbehaving server are in tests/reliability/test_hostile.py."""

from __future__ import annotations

import gzip
import ssl
import types
import zlib

import httpcore
import httpx
import pytest

from bbvars.bitbucket import transport
from bbvars.bitbucket.transport import AnswerTooLarge, certificate_problem, deadline, paused, proxy_for, read_capped
from bbvars.errors import ApiError

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def env(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return lambda **values: [monkeypatch.setenv(k, v) for k, v in values.items()]


@pytest.mark.parametrize("url", ["http://127.0.0.1:7990/2.0", "http://localhost:1/x", "http://[::1]:8/2.0"])
def test_plain_http_loopback_is_never_proxied(env, url):
    env(HTTP_PROXY="http://proxy.test:3128", ALL_PROXY="http://proxy.test:3128")
    assert proxy_for(httpx.URL(url)) is None


def test_https_takes_https_proxy_then_all_proxy_and_never_shows_credentials(env):
    env(ALL_PROXY="http://u:secret-pw@all.test:8080")
    assert proxy_for(httpx.URL("https://api.bitbucket.org/2.0")) == transport.Proxy(
        "http://u:secret-pw@all.test:8080", "http://all.test:8080", "ALL_PROXY")
    env(HTTPS_PROXY="proxy.test:3128")  # no scheme: http, as curl and httpx read it
    found = proxy_for(httpx.URL("https://api.bitbucket.org/2.0"))
    assert found.shown == "http://proxy.test:3128" and found.variable == "HTTPS_PROXY"


@pytest.mark.parametrize("no_proxy, proxied", [("bitbucket.org", False), (".bitbucket.org", False), ("*", False),
                                               ("example.com", True), ("", True)])
def test_no_proxy_names_hosts_reached_directly(env, no_proxy, proxied):
    env(HTTPS_PROXY="http://proxy.test:3128", NO_PROXY=no_proxy)
    assert (proxy_for(httpx.URL("https://api.bitbucket.org/2.0")) is not None) is proxied


def test_a_socks_proxy_is_refused_by_name(env):
    env(HTTPS_PROXY="socks5://u:pw-1@socks.test:1080")
    with pytest.raises(ApiError, match=r"socks5://socks.test:1080 \(HTTPS_PROXY\) is not an HTTP proxy") as caught:
        proxy_for(httpx.URL("https://api.bitbucket.org/2.0"))
    assert "pw-1" not in str(caught.value)


def streamed(chunks: list[bytes], headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, headers=headers, stream=httpx.ByteStream(b"".join(chunks)))


def test_an_answer_within_the_cap_is_read_whole():
    response = streamed([b'{"a": 1}'])
    assert read_capped(response, 8) == b'{"a": 1}' and response.json() == {"a": 1}


def test_an_answer_over_the_cap_is_refused():
    with pytest.raises(AnswerTooLarge) as caught:
        read_capped(streamed([b"x" * 9]), 8)
    assert caught.value.cap == 8 and "larger than 8 bytes" in str(caught.value)


@pytest.mark.parametrize("encoding, compress", [("gzip", lambda data: gzip.compress(data)),
                                                ("deflate", lambda data: zlib.compress(data))])
def test_compressed_answers_are_decoded_within_the_cap(encoding, compress):
    body = b'{"values": [' + b'"spaces        ", ' * 99 + b'"end"]}'
    response = streamed([compress(body)], {"Content-Encoding": encoding})
    assert read_capped(response, len(body)) == body and len(response.json()["values"]) == 100
    with pytest.raises(AnswerTooLarge):
        read_capped(streamed([compress(body)], {"Content-Encoding": encoding}), len(body) - 1)


def test_an_answer_that_does_not_decode_as_it_says_is_a_decoding_error():
    with pytest.raises(httpx.DecodingError):
        read_capped(streamed([b"not gzip"], {"Content-Encoding": "gzip"}), 1024)


def test_an_announced_length_over_the_cap_is_refused_before_reading():
    class Unread(httpx.SyncByteStream):
        def __iter__(self):
            raise AssertionError("read although the length said it is too large")
            yield b""  # pragma: no cover

    with pytest.raises(AnswerTooLarge):
        read_capped(httpx.Response(200, headers={"Content-Length": "9000000"}, stream=Unread()), 1024)


def test_socket_operations_get_only_what_is_left_of_the_deadline(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(transport, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    assert transport._budget(30.0, httpcore.ReadTimeout) == 30.0  # no deadline: httpx's own timeout
    with deadline(5):
        assert transport._budget(30.0, httpcore.ReadTimeout) == 5.0
        now[0] += 4
        assert transport._budget(30.0, httpcore.ReadTimeout) == 1.0
        with paused():  # a token fetched meanwhile: its own deadlines, and not charged to this request
            assert transport._budget(30.0, httpcore.ReadTimeout) == 30.0
            now[0] += 10
        assert transport._budget(30.0, httpcore.ReadTimeout) == 1.0
        now[0] += 1
        with pytest.raises(httpcore.ReadTimeout, match="as a whole took longer than the timeout"):
            transport._budget(30.0, httpcore.ReadTimeout)


def test_a_certificate_failure_is_found_behind_the_errors_wrapping_it():
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    try:
        try:
            raise cause
        except ssl.SSLError as exc:
            raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from exc
    except httpx.ConnectError as wrapped:
        assert certificate_problem(wrapped) is cause
    assert certificate_problem(httpx.ConnectError("refused")) is None
