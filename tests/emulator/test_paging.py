"""Paged lists: page/pagelen, size, next and previous links, and the omit_next/omit_size quirks."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bbvars.emulator import Emulator

from .helpers import ENVIRONMENTS, REPO_VARS, WORKSPACE_VARS


@pytest.fixture
def many(emu: Emulator) -> list[str]:
    keys = [f"VAR_{n:03d}" for n in range(250)]
    for key in keys:
        emu.seed_variable("acme", key, key.lower(), repository="api")
    return keys


def follow(api: httpx.Client, url: str, **params: Any) -> list[dict[str, Any]]:
    pages = []
    answer = api.get(url, params=params)
    while True:
        assert answer.status_code == 200
        pages.append(answer.json())
        if "next" not in pages[-1]:
            return pages
        answer = api.get(pages[-1]["next"])


def test_default_pages_of_ten_follow_next_to_the_end(api: httpx.Client, many: list[str]) -> None:
    pages = follow(api, REPO_VARS)
    assert len(pages) == 25
    assert [p["page"] for p in pages] == list(range(1, 26))
    assert all(p["pagelen"] == 10 and p["size"] == 250 for p in pages)
    assert [v["key"] for p in pages for v in p["values"]] == many
    assert "previous" not in pages[0]
    assert parse_qs(urlsplit(pages[0]["next"]).query) == {"page": ["2"], "pagelen": ["10"]}
    assert parse_qs(urlsplit(pages[-1]["previous"]).query) == {"page": ["24"], "pagelen": ["10"]}


def test_pagelen_100_gives_three_pages_and_links_keep_it(emu: Emulator, api: httpx.Client, many: list[str]) -> None:
    pages = follow(api, REPO_VARS, pagelen=100)
    assert [len(p["values"]) for p in pages] == [100, 100, 50]
    assert all(p["pagelen"] == 100 for p in pages)
    assert pages[0]["next"] == f"{emu.api_url}{REPO_VARS}?page=2&pagelen=100"
    assert [v["key"] for p in pages for v in p["values"]] == many


def test_page_past_the_end_is_empty(api: httpx.Client, many: list[str]) -> None:
    body = api.get(REPO_VARS, params={"page": 4, "pagelen": 100}).json()
    assert body["values"] == [] and body["size"] == 250 and "next" not in body


@pytest.mark.parametrize(("asked", "given"), [(1000, 100), (0, 1), (-5, 1), (37, 37)])
def test_pagelen_is_clamped_to_1_through_100(api: httpx.Client, many: list[str], asked: int, given: int) -> None:
    body = api.get(REPO_VARS, params={"pagelen": asked}).json()
    assert body["pagelen"] == given and len(body["values"]) == given


@pytest.mark.parametrize("query", [{"page": "0"}, {"page": "two"}, {"pagelen": "x"}])
def test_bad_paging_parameters_are_400(api: httpx.Client, query: dict[str, str]) -> None:
    assert api.get(REPO_VARS, params=query).status_code == 400


def test_omit_next_hides_next_but_keeps_size(emu: Emulator, api: httpx.Client, many: list[str]) -> None:
    emu.omit_next = True
    body = api.get(REPO_VARS).json()
    assert "next" not in body and body["size"] == 250 and len(body["values"]) == 10
    # Asking for the next page number still works, as a client working around BCLOUD-20639 does.
    assert api.get(REPO_VARS, params={"page": 2}).json()["values"][0]["key"] == many[10]


def test_omit_size(emu: Emulator, api: httpx.Client, many: list[str]) -> None:
    emu.omit_size = True
    body = api.get(REPO_VARS).json()
    assert "size" not in body and "next" in body


def test_links_are_built_from_the_host_header(emu: Emulator, api: httpx.Client, many: list[str]) -> None:
    body = api.get(REPO_VARS, headers={"Host": f"localhost:{emu.port}"}).json()
    assert body["next"].startswith(f"http://localhost:{emu.port}/2.0{REPO_VARS}?")


def test_every_list_is_paged(emu: Emulator, api: httpx.Client) -> None:
    for n in range(3):
        emu.seed_variable("acme", f"W{n}", "v")
        emu.add_environment("acme", "api", f"Extra {n}")
    for path in (WORKSPACE_VARS, ENVIRONMENTS):
        body = api.get(path, params={"pagelen": 2}).json()
        assert len(body["values"]) == 2 and body["size"] >= 3 and "next" in body
