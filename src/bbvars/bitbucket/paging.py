"""The pager: every item of a paged Bitbucket collection, or a failure, never a silently partial listing.

Bitbucket pages are `{"values", "page", "pagelen", "size", "next"}`. `next` is followed as given (same host only);
when it is missing although `size` or a full page says there is more (BCLOUD-20639), the next page number is asked
for. A server that repeats a page, points `next` back, or keeps paging past what `size` announced makes the listing
fail: acting on a partial listing would create duplicates' 409s, or prune what was merely not read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from bbvars.bitbucket.answers import malformed, usable_text
from bbvars.errors import ApiError, setting

PAGELEN = 100  # Bitbucket's maximum page length: fewest list requests
MAX_PAGES = 1000  # a server that never stops paging must not keep us forever

# get(url, params) -> the decoded JSON body of one page; url is a path under the API or an absolute `next` link.
GetPage = Callable[[str, "dict[str, Any] | None"], Any]


class PagingError(ApiError):
    def __init__(self, what: str, reason: str):
        super().__init__(f"Bitbucket's paging did not end {what}: {reason}; nothing was changed: re-run later, and "
                         f"check {setting('api_url')}", fatal=True)


def list_all(get: GetPage, path: str, api_url: str, what: str, endpoint: str) -> list[dict]:
    """Every item (each an object with a uuid) of the collection at `path`, in the order listed."""
    api = urlsplit(api_url)
    items: list[dict] = []
    seen: set[str] = set()
    asked: set[tuple[str, str]] = set()
    url, page = path, 1
    params: dict[str, int] | None = {"pagelen": PAGELEN}
    announced: int | None = None  # the total `size` said, when it said one
    widest = 0  # the most values one page held: the server's real page length
    requests = 0
    while True:
        identity = request_identity(api_url, url, params)
        if identity in asked:
            raise PagingError(what, f"it pointed back at a page already read ({shown(identity)})")
        asked.add(identity)
        limit = MAX_PAGES if announced is None else min(MAX_PAGES, math.ceil(announced / max(widest, 1)) + 1)
        if requests >= limit:
            told = f"its size said {announced} items" if announced is not None else f"the limit is {MAX_PAGES} pages"
            raise PagingError(what, f"{requests} pages read and more announced, but {told}")
        data = get(url, params)
        requests += 1
        if not isinstance(data, dict):
            raise malformed(what, endpoint, "is not a page (a JSON object with values)")
        values = data.get("values")
        if not isinstance(values, list):
            raise malformed(what, endpoint, "holds no list of values")
        if not values:
            break  # always stop on an empty page
        fresh = 0
        for number, item in enumerate(values, 1):
            if not isinstance(item, dict):
                raise malformed(what, endpoint, f"holds an item that is not an object (item {number} of page {page})")
            if not usable_text(item.get("uuid")):
                raise malformed(what, endpoint, f"holds an item without a uuid (item {number} of page {page})")
            if item["uuid"] not in seen:  # one listed again by a page shifted by a concurrent write: keep it once
                seen.add(item["uuid"])
                items.append(item)
                fresh += 1
        if not fresh:
            raise PagingError(what, f"page {page} repeated items already read (the server ignores the page asked for)")
        widest = max(widest, len(values))
        size = data.get("size")
        if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
            announced = size
        page = data["page"] if isinstance(data.get("page"), int) and not isinstance(data.get("page"), bool) else page
        link = data.get("next")
        if isinstance(link, str) and urlsplit(link).netloc == api.netloc and urlsplit(link).scheme == api.scheme:
            linked = page_number(link)
            if linked is not None and linked <= page:
                raise PagingError(what, f"the next link of page {page} points at page {linked}")
            url, params, page = link, None, page + 1  # follow `next` as given, but never to another host
            continue
        # A full page is evidence of more: full by our page length, or by the server's if it gave a shorter one.
        pagelen = data.get("pagelen")
        full = PAGELEN if not isinstance(pagelen, int) or pagelen <= 0 else min(pagelen, PAGELEN)
        # `size`, when given, is the total: trust it, or a collection of exactly 100 costs an extra request.
        more = len(items) < size if isinstance(size, int) else len(values) >= full
        if not more:
            break
        url, params, page = path, {"pagelen": PAGELEN, "page": page + 1}, page + 1
    return items


def request_identity(api_url: str, url: str, params: dict[str, Any] | None) -> tuple[str, str]:
    """(path, sorted query) of a page request, whether given as a path and params or as an absolute link."""
    absolute = url if "://" in url else f"{api_url.rstrip('/')}/{url}"
    parts = urlsplit(absolute)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, str(v)) for k, v in (params or {}).items()]
    return parts.path.rstrip("/"), urlencode(sorted(query))


def shown(identity: tuple[str, str]) -> str:
    path, query = identity
    return f"{path}?{query}" if query else path


def page_number(link: str) -> int | None:
    for name, value in parse_qsl(urlsplit(link).query):
        if name == "page":
            try:
                return int(value)
            except ValueError:
                return None
    return None
