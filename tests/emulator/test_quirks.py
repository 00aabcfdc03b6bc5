"""Quirks of the real API the emulator can copy: listings that lag behind writes, pages without next links, and
the 120,000-character total of a scope's names and values."""

from __future__ import annotations

import types

import httpx
import pytest

from bbvars.emulator import Emulator
from bbvars.emulator import state as state_module
from bbvars.emulator.state import TOTAL_CHARACTERS

from .helpers import REPO_VARS, WORKSPACE_VARS, encode


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    """The emulator's clock, moved by the test instead of by sleeping."""
    now = [1000.0]
    monkeypatch.setattr(state_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    return now


def listed(api: httpx.Client, path: str = REPO_VARS) -> dict[str, str | None]:
    answer = api.get(path, params={"pagelen": 100})
    assert answer.status_code == 200
    return {v["key"]: v.get("value") for v in answer.json()["values"]}


def test_with_a_lag_listings_show_each_write_only_once_it_is_that_old(emu: Emulator, api: httpx.Client, clock):
    emu.seed_variable("acme", "OLD", "1", repository="api")
    emu.seed_variable("acme", "GONE", "g", repository="api")
    emu.lag = 5
    created = api.post(REPO_VARS, json={"key": "NEW", "value": "n"})
    assert created.status_code == 201
    uuid_of = {v["key"]: v["uuid"] for v in emu.variables("acme", "api")}
    assert api.put(f"{REPO_VARS}/{encode(uuid_of['OLD'])}", json={"value": "2"}).status_code == 200
    assert api.delete(f"{REPO_VARS}/{encode(uuid_of['GONE'])}").status_code == 204
    # Writes see the truth (a second create is a 409), listings the past.
    assert api.post(REPO_VARS, json={"key": "NEW", "value": "n"}).status_code == 409
    assert listed(api) == {"OLD": "1", "GONE": "g"}
    clock[0] += 4.9
    assert listed(api) == {"OLD": "1", "GONE": "g"}
    clock[0] += 0.2
    assert listed(api) == {"OLD": "2", "NEW": "n"}
    assert {v["key"]: v["value"] for v in emu.variables("acme", "api")} == {"OLD": "2", "NEW": "n"}


def test_without_a_lag_listings_show_writes_at_once(emu: Emulator, api: httpx.Client):
    assert api.post(REPO_VARS, json={"key": "NEW", "value": "n"}).status_code == 201
    assert listed(api) == {"NEW": "n"}


def test_a_lagged_listing_keeps_creation_order_and_its_size(emu: Emulator, api: httpx.Client, clock):
    for n in range(3):
        emu.seed_variable("acme", f"K{n}", "v", repository="api")
    emu.lag = 5
    middle = next(v["uuid"] for v in emu.variables("acme", "api") if v["key"] == "K1")
    assert api.delete(f"{REPO_VARS}/{encode(middle)}").status_code == 204
    answer = api.get(REPO_VARS, params={"pagelen": 2}).json()
    assert [v["key"] for v in answer["values"]] == ["K0", "K1"] and answer["size"] == 3


@pytest.mark.parametrize("spec, attribute, value", [("lag=2.5", "lag", 2.5), ("nonext", "omit_next", True),
                                                    ("nosize", "omit_size", True)])
def test_quirks_by_name(spec, attribute, value):
    assert getattr(Emulator().quirk(spec), attribute) == value


@pytest.mark.parametrize("spec", ["lag", "lag=x", "lag=-1", "nonext=1", "slow"])
def test_unknown_or_malformed_quirks_are_refused(spec):
    with pytest.raises(ValueError):
        Emulator().quirk(spec)


def test_nonext_drops_next_links(emu: Emulator, api: httpx.Client):
    for n in range(15):
        emu.seed_variable("acme", f"K{n}", "v", repository="api")
    emu.quirk("nonext")
    answer = api.get(REPO_VARS).json()
    assert "next" not in answer and answer["size"] == 15 and len(answer["values"]) == 10


def test_the_total_of_names_and_values_is_capped_at_120000_characters(emu: Emulator, api: httpx.Client):
    # "A" + 59,999 characters twice is exactly the limit; one character more is refused, as a create or an update.
    assert api.post(WORKSPACE_VARS, json={"key": "A", "value": "x" * 59_999}).status_code == 201
    assert api.post(WORKSPACE_VARS, json={"key": "B", "value": "y" * 59_999, "secured": True}).status_code == 201
    refused = api.post(WORKSPACE_VARS, json={"key": "C", "value": ""})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["message"] == "Variables size limit exceeded." and str(TOTAL_CHARACTERS) in error["detail"]
    a = next(v["uuid"] for v in emu.variables("acme") if v["key"] == "A")
    assert api.put(f"{WORKSPACE_VARS}/{encode(a)}", json={"value": "x" * 60_000}).status_code == 400
    assert api.put(f"{WORKSPACE_VARS}/{encode(a)}", json={"value": "short"}).status_code == 200  # shrinking is fine
    assert api.post(WORKSPACE_VARS, json={"key": "C", "value": "z" * 100}).status_code == 201
    # Each scope has its own total.
    assert api.post(REPO_VARS, json={"key": "A", "value": "x" * 100_000}).status_code == 201


def test_deleting_frees_room_under_the_total(emu: Emulator, api: httpx.Client):
    assert api.post(REPO_VARS, json={"key": "BIG", "value": "x" * 119_997}).status_code == 201
    assert api.post(REPO_VARS, json={"key": "MORE", "value": "y"}).status_code == 400
    big = emu.variables("acme", "api")[0]["uuid"]
    assert api.delete(f"{REPO_VARS}/{encode(big)}").status_code == 204
    assert api.post(REPO_VARS, json={"key": "MORE", "value": "y"}).status_code == 201


def test_the_total_can_be_lifted_for_scale_runs(emu: Emulator, api: httpx.Client):
    emu.total_characters = None
    assert api.post(REPO_VARS, json={"key": "BIG", "value": "x" * 200_000}).status_code == 201
