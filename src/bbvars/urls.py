"""Where a credential may be sent: https anywhere, plain http only to this machine. One check for every URL bbvars
sends a credential to, whether it comes from the environment or from the stored login's file."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from bbvars.errors import InputError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


USER_INFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/*[^/?#]*@")


def check_url(url: str, label: str) -> None:
    if USER_INFO.match(url):
        # A password in a URL would be printed by every message naming the URL: refused, and never shown.
        raise InputError(f"{label} holds a user name or password (user:password@host): remove it (the URL is not "
                         "shown); credentials go in their own settings")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0-65535
    except ValueError as exc:
        raise InputError(f"{label} is not a valid URL ({exc}): {url[:80]!r}") from None
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return
    if parts.scheme == "http" and parts.hostname:
        raise InputError(f"{label} uses plain http:// to {parts.hostname}, which would expose credentials: use https://")
    raise InputError(f"{label} must be an https:// URL, got {url[:80]!r}")
