"""The pager alone, against a fake page source: what ends a listing, what fails it, and how many pages it asks."""

from __future__ import annotations

import pytest

from bbvars.bitbucket import paging
from bbvars.bitbucket.paging import PagingError, list_all, request_identity
from bbvars.errors import ApiError

API = "https://api.example.test/2.0"
PATH = "repositories/acme/api/pipelines_config/variables"
WHAT = "listing the variables of repository acme/api"


def items(start: int, count: int) -> list[dict]:
    return [{"uuid": f"{{{i}}}", "key": f"K{i}"} for i in range(start, start + count)]


class Pages:
    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def __call__(self, url, params):
        self.asked.append((url, params))
        return self.answer(len(self.asked), url, params)


def run(answer) -> tuple[list[dict] | ApiError, Pages]:
    pages = Pages(answer)
    try:
        return list_all(pages, PATH, API, WHAT, f"GET {API}/{PATH}"), pages
    except ApiError as exc:
        return exc, pages


def test_a_path_and_its_absolute_next_link_are_the_same_request():
    assert request_identity(API, PATH, {"pagelen": 100, "page": 2}) == request_identity(
        API, f"{API}/{PATH}?page=2&pagelen=100", None)


def test_next_links_are_followed_to_the_end():
    def answer(n, url, params):
        more = {"next": f"{API}/{PATH}?page={n + 1}"} if n < 3 else {}
        return {"values": items(100 * (n - 1), 100 if n < 3 else 5), "page": n, "size": 205, **more}

    listed, pages = run(answer)
    assert len(listed) == 205 and len(pages.asked) == 3


def test_the_same_item_on_two_pages_is_kept_once():
    # A concurrent create shifts the pages: the last item of page 1 shows again first on page 2.
    listed, _ = run(lambda n, url, params: {"values": items(0, 100) if n == 1 else items(99, 11), "page": n,
                                            "size": 110})
    assert [i["key"] for i in listed] == [f"K{i}" for i in range(110)]


@pytest.mark.parametrize("answer, words", [
    (lambda n, url, params: {"values": items(0, 100), "page": 1, "next": f"{API}/{PATH}?pagelen=100"},
     "pointed back at a page already read"),
    (lambda n, url, params: {"values": items(0, 100), "page": n, "next": f"{API}/{PATH}?page={n + 1}"},
     "page 2 repeated items already read"),
    (lambda n, url, params: {"values": items(100 * n, 100), "page": 3, "next": f"{API}/{PATH}?page=2"},
     "the next link of page 3 points at page 2"),
    (lambda n, url, params: {"values": items(100 * n, 100), "page": n, "size": 250,
                             "next": f"{API}/{PATH}?page={n + 1}"}, "4 pages read and more announced"),
])
def test_paging_that_does_not_end_fails(answer, words):
    failed, _pages = run(answer)
    assert isinstance(failed, PagingError) and failed.fatal and words in str(failed)
    assert str(failed).startswith(f"Bitbucket's paging did not end {WHAT}: ")


def test_never_more_requests_than_the_announced_size_needs_plus_one(monkeypatch):
    for size, needed in [(0, 0), (1, 1), (99, 1), (100, 1), (101, 2), (250, 3), (1000, 10)]:
        # Pages of 100 fresh items and a next link forever, whatever size says.
        failed, pages = run(lambda n, url, params: {"values": items(100 * n, 100), "page": n, "size": size,  # noqa: B023
                                                    "next": f"{API}/{PATH}?page={n + 1}"})
        assert isinstance(failed, PagingError) and len(pages.asked) == needed + 1, size


def test_the_page_bound_is_a_failure(monkeypatch):
    monkeypatch.setattr(paging, "MAX_PAGES", 4)
    failed, pages = run(lambda n, url, params: {"values": items(100 * n, 100), "page": n,
                                                "next": f"{API}/{PATH}?page={n + 1}"})
    assert isinstance(failed, PagingError) and "the limit is 4 pages" in str(failed) and len(pages.asked) == 4


@pytest.mark.parametrize("answer, words", [
    ([], "is not a page"),
    ({"values": {"a": 1}}, "holds no list of values"),
    ({"values": [1]}, "not an object (item 1 of page 1)"),
    ({"values": [{"key": "A"}]}, "without a uuid (item 1 of page 1)"),
    ({"values": [{"uuid": "", "key": "A"}]}, "without a uuid"),
])
def test_a_malformed_page_fails_naming_the_endpoint(answer, words):
    failed, _ = run(lambda n, url, params: answer)
    assert isinstance(failed, ApiError) and failed.fatal and words in str(failed)
    assert f"GET {API}/{PATH}" in str(failed) and "nothing was changed" in str(failed)
