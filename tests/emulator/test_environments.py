"""Deployment environments: the list, one by uuid, and the defaults of add_environment."""

from __future__ import annotations

import httpx
import pytest

from bbvars.emulator import Emulator

from .helpers import ENVIRONMENTS, encode


def test_list_environments(emu: Emulator, api: httpx.Client) -> None:
    body = api.get(ENVIRONMENTS).json()
    assert body["size"] == 3
    summary = [
        (e["name"], e["slug"], e["environment_type"]["name"], e["environment_type"]["rank"]) for e in body["values"]
    ]
    assert summary == [
        ("Test", "test", "Test", 0),
        ("Staging", "staging", "Staging", 1),
        ("Production", "production", "Production", 2),
    ]
    first = body["values"][0]
    assert first["type"] == "deployment_environment"
    assert first["environment_type"]["type"] == "deployment_environment_type"
    assert first["uuid"] == emu.environments("acme", "api")[0]["uuid"]


def test_get_one_environment(emu: Emulator, api: httpx.Client) -> None:
    uuid = emu.add_environment("acme", "api", "EU Prod", slug="eu", environment_type="Production")
    answer = api.get(f"{ENVIRONMENTS}/{encode(uuid)}")
    assert answer.status_code == 200
    assert answer.json() == {
        "type": "deployment_environment",
        "uuid": uuid,
        "name": "EU Prod",
        "slug": "eu",
        "environment_type": {"type": "deployment_environment_type", "name": "Production", "rank": 2},
    }


def test_unknown_or_unbraced_environment(emu: Emulator, api: httpx.Client) -> None:
    assert api.get(f"{ENVIRONMENTS}/%7B00000000-0000-0000-0000-000000000000%7D").status_code == 404
    uuid = emu.environments("acme", "api")[0]["uuid"]
    assert api.get(f"{ENVIRONMENTS}/{uuid.strip('{}')}").status_code == 400
    assert api.get("/repositories/acme/nope/environments").status_code == 404


@pytest.mark.parametrize(
    ("name", "slug", "env_type"),
    [("QA Two", "qa-two", "Test"), ("staging-eu", "staging-eu", "Staging"), ("Prod EU", "prod-eu", "Production")],
)
def test_add_environment_defaults(emu: Emulator, name: str, slug: str, env_type: str) -> None:
    uuid = emu.add_environment("acme", "api", name)
    assert uuid.startswith("{") and uuid.endswith("}")
    assert {"uuid": uuid, "name": name, "slug": slug, "environment_type": env_type} in emu.environments("acme", "api")


def test_add_environment_rejects_duplicates_and_unknown_types(emu: Emulator) -> None:
    with pytest.raises(ValueError):
        emu.add_environment("acme", "api", "Production")
    with pytest.raises(ValueError):
        emu.add_environment("acme", "api", "Other", environment_type="Dev")
