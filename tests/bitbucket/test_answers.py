"""bitbucket/answers.py: what an error answer means, whatever shape its details come in."""

from __future__ import annotations

import httpx
import pytest

from bbvars.bitbucket.answers import check
from bbvars.errors import ApiError


def forbidden(granted, required) -> httpx.Response:
    body = {"type": "error", "error": {"message": "Your credentials lack one or more required privilege scopes.",
                                       "detail": {"granted": granted, "required": required}}}
    return httpx.Response(403, json=body)


@pytest.mark.parametrize("granted, required", [
    (["pipeline", "repository"], ["pipeline:variable"]),
    ("pipeline repository", "pipeline:variable"),
    ("pipeline, repository", "pipeline:variable"),
])
def test_a_missing_scope_is_named_whether_the_detail_is_a_list_or_a_string(granted, required):
    with pytest.raises(ApiError) as caught:
        check(forbidden(granted, required), "creating A", "not found", None)
    message = str(caught.value)
    assert "lack the scope pipeline:variable creating A (granted: pipeline, repository)" in message, message
    assert caught.value.fatal and caught.value.status == 403


def test_a_scope_detail_of_another_shape_falls_back_to_bitbucket_s_message():
    with pytest.raises(ApiError, match="denied access creating A \\(403: Your credentials lack"):
        check(forbidden({"x": 1}, 7), "creating A", "not found", None)
