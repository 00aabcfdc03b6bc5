"""Variables in all three scopes: create, read, update, delete, validation and not-found answers."""

from __future__ import annotations

import http.client
import json

import httpx
import pytest

from bbvars.emulator import Emulator

from .helpers import REPO_VARS, WORKSPACE_VARS, client, encode, env_vars


def production(emu: Emulator) -> str:
    return next(e["uuid"] for e in emu.environments("acme", "api") if e["name"] == "Production")


def test_create_answers_201_with_location_and_body(emu: Emulator, api: httpx.Client) -> None:
    answer = api.post(REPO_VARS, json={"key": "DB_HOST", "value": "db.internal"})
    assert answer.status_code == 201
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body == {
        "type": "pipeline_variable",
        "uuid": body["uuid"],
        "key": "DB_HOST",
        "value": "db.internal",
        "secured": False,
    }
    assert body["uuid"].startswith("{") and body["uuid"].endswith("}")
    assert answer.headers["location"] == f"{emu.api_url}{REPO_VARS}/{encode(body['uuid'])}"
    assert api.get(answer.headers["location"]).json() == body
    assert emu.variables("acme", "api") == [
        {"uuid": body["uuid"], "key": "DB_HOST", "value": "db.internal", "secured": False}
    ]


def test_secured_value_never_comes_back_but_is_kept(emu: Emulator, api: httpx.Client) -> None:
    created = api.post(REPO_VARS, json={"key": "TOKEN", "value": "hunter2", "secured": True})
    assert created.status_code == 201
    assert "value" not in created.json() and created.json()["secured"] is True
    path = f"{REPO_VARS}/{encode(created.json()['uuid'])}"
    assert "value" not in api.get(path).json()
    assert "value" not in api.get(REPO_VARS).json()["values"][0]
    updated = api.put(path, json={"value": "hunter3"})
    assert updated.status_code == 200 and "value" not in updated.json()
    assert "hunter" not in api.get(REPO_VARS).text
    assert emu.variables("acme", "api")[0]["value"] == "hunter3"


def test_a_secured_variable_cannot_be_made_plain(emu: Emulator, api: httpx.Client) -> None:
    # Atlassian: a secured variable "can only get a new value or be deleted". The emulator refuses strictly.
    uuid = emu.seed_variable("acme", "TOKEN", "hunter2", secured=True, repository="api")
    path = f"{REPO_VARS}/{encode(uuid)}"
    for body in ({"key": "TOKEN", "value": "plain-now", "secured": False}, {"secured": False}):
        answer = api.put(path, json=body)
        assert answer.status_code == 400
        assert answer.json() == {"type": "error", "error": {
            "message": "A secured variable cannot be made unsecured: delete it and create it again."}}
    assert emu.variables("acme", "api")[0] == {"uuid": uuid, "key": "TOKEN", "value": "hunter2", "secured": True}
    assert api.put(path, json={"key": "TOKEN", "value": "new", "secured": True}).status_code == 200
    plain = emu.seed_variable("acme", "PLAIN", "p", repository="api")
    assert api.put(f"{REPO_VARS}/{encode(plain)}", json={"value": "p", "secured": True}).status_code == 200


def test_duplicate_key_is_409_and_keys_are_case_sensitive(emu: Emulator, api: httpx.Client) -> None:
    assert api.post(REPO_VARS, json={"key": "NAME", "value": "1"}).status_code == 201
    answer = api.post(REPO_VARS, json={"key": "NAME", "value": "2"})
    assert answer.status_code == 409
    assert answer.json() == {"type": "error", "error": {"message": "A variable with the key provided already exists."}}
    assert api.post(REPO_VARS, json={"key": "name", "value": "3"}).status_code == 201
    assert [(v["key"], v["value"]) for v in emu.variables("acme", "api")] == [("NAME", "1"), ("name", "3")]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b'{"value": "v"}',
        b'{"key": "K"}',
        b'{"key": "K", "value": 5}',
        b'{"key": "K", "value": "v", "secured": "yes"}',
        b'{"key": "1ABC", "value": "v"}',
        b'{"key": "WITH-HYPHEN", "value": "v"}',
        b'{"key": "", "value": "v"}',
    ],
)
def test_invalid_create_bodies_are_400(emu: Emulator, api: httpx.Client, body: bytes) -> None:
    answer = api.post(REPO_VARS, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"
    assert emu.variables("acme", "api") == []


def test_put_and_delete_with_percent_encoded_braces(emu: Emulator, api: httpx.Client) -> None:
    uuid = emu.seed_variable("acme", "REGION", "eu-west-1", repository="api")
    path = f"{REPO_VARS}/{encode(uuid)}"
    answer = api.put(path, json={"key": "REGION", "value": "us-east-1", "secured": False})
    assert answer.status_code == 200
    assert answer.json() == {
        "type": "pipeline_variable",
        "uuid": uuid,
        "key": "REGION",
        "value": "us-east-1",
        "secured": False,
    }
    deleted = api.delete(path)
    assert deleted.status_code == 204
    assert deleted.content == b"" and "content-type" not in deleted.headers
    assert emu.variables("acme", "api") == []
    assert api.get(path).status_code == 404


def test_literal_braces_work_too(emu: Emulator, api: httpx.Client) -> None:
    uuid = emu.seed_variable("acme", "K", "v", repository="api")
    # http.client sends the target exactly as given, braces unencoded.
    connection = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=5)
    try:
        connection.request("GET", f"/2.0{REPO_VARS}/{uuid}", headers={"Authorization": api.headers["authorization"]})
        answer = connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["key"] == "K"
    finally:
        connection.close()


def test_put_renames_and_a_colliding_rename_is_409(emu: Emulator, api: httpx.Client) -> None:
    first = emu.seed_variable("acme", "A", "1", repository="api")
    emu.seed_variable("acme", "B", "2", repository="api")
    assert api.put(f"{REPO_VARS}/{encode(first)}", json={"key": "C"}).json()["key"] == "C"
    assert api.put(f"{REPO_VARS}/{encode(first)}", json={"key": "B"}).status_code == 409
    assert api.put(f"{REPO_VARS}/{encode(first)}", json={"key": "9x"}).status_code == 400
    assert [v["key"] for v in emu.variables("acme", "api")] == ["C", "B"]


def test_put_can_secure_a_variable(emu: Emulator, api: httpx.Client) -> None:
    uuid = emu.seed_variable("acme", "K", "v", repository="api")
    answer = api.put(f"{REPO_VARS}/{encode(uuid)}", json={"secured": True})
    assert answer.json() == {"type": "pipeline_variable", "uuid": uuid, "key": "K", "secured": True}
    assert emu.variables("acme", "api")[0]["value"] == "v"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_uuid_without_braces_is_400(emu: Emulator, api: httpx.Client, method: str) -> None:
    uuid = emu.seed_variable("acme", "K", "v", repository="api")
    answer = api.request(method, f"{REPO_VARS}/{uuid.strip('{}')}", json={"value": "x"})
    assert answer.status_code == 400
    assert answer.json()["type"] == "error"
    assert emu.variables("acme", "api")[0]["value"] == "v"


def test_environment_uuid_without_braces_is_400(emu: Emulator, api: httpx.Client) -> None:
    answer = api.get(f"/repositories/acme/api/deployments_config/environments/{production(emu).strip('{}')}/variables")
    assert answer.status_code == 400


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/workspaces/nope/pipelines-config/variables", "nope"),
        ("/repositories/nope/api/pipelines_config/variables", "nope"),
        ("/repositories/acme/nope/pipelines_config/variables", "acme/nope"),
        ("/repositories/acme/api/deployments_config/environments/%7Bmissing%7D/variables", "{missing}"),
        (f"{REPO_VARS}/%7Bmissing%7D", "{missing}"),
        (f"{WORKSPACE_VARS}/%7Bmissing%7D", "{missing}"),
    ],
)
def test_unknown_things_are_404_naming_them(api: httpx.Client, path: str, named: str) -> None:
    answer = api.get(path)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["type"] == "error"
    assert named in answer.json()["error"]["message"]


def test_put_and_delete_of_unknown_variable_are_404(api: httpx.Client) -> None:
    assert api.put(f"{REPO_VARS}/%7Bmissing%7D", json={"value": "x"}).status_code == 404
    assert api.delete(f"{REPO_VARS}/%7Bmissing%7D").status_code == 404


def test_unknown_route_is_404_and_wrong_method_is_405(emu: Emulator, api: httpx.Client) -> None:
    assert api.get("/workspaces/acme/pipelines_config/variables").status_code == 404  # underscore: not a route
    assert api.get("/repositories/acme/api/pipelines-config/variables").status_code == 404  # hyphen: not a route
    with client() as web:
        assert web.get(f"{emu.url}/elsewhere").status_code == 404
    # There is no GET of one deployment variable.
    uuid = emu.seed_variable("acme", "K", "v", repository="api", environment="Production")
    answer = api.get(f"{env_vars(production(emu))}/{encode(uuid)}")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "PUT, DELETE"
    assert api.put(REPO_VARS, json={}).status_code == 405


def test_deployment_variables_live_in_their_environment(emu: Emulator, api: httpx.Client) -> None:
    prod = production(emu)
    created = api.post(env_vars(prod), json={"key": "URL", "value": "https://prod"})
    assert created.status_code == 201
    assert created.json()["type"] == "deployment_variable"
    assert created.headers["location"].endswith(f"{env_vars(prod)}/{encode(created.json()['uuid'])}")
    # The same key in another scope is no conflict.
    assert api.post(REPO_VARS, json={"key": "URL", "value": "https://repo"}).status_code == 201
    test_env = emu.environments("acme", "api")[0]["uuid"]
    assert api.post(env_vars(test_env), json={"key": "URL", "value": "t"}).status_code == 201
    listed = api.get(env_vars(prod)).json()["values"]
    assert [(v["type"], v["key"], v["value"]) for v in listed] == [("deployment_variable", "URL", "https://prod")]
    path = f"{env_vars(prod)}/{encode(created.json()['uuid'])}"
    assert api.put(path, json={"value": "https://prod2"}).json()["value"] == "https://prod2"
    assert emu.variables("acme", "api", "Production")[0]["value"] == "https://prod2"
    assert emu.variables("acme", "api", prod) == emu.variables("acme", "api", "Production")
    assert api.delete(path).status_code == 204
    assert emu.variables("acme", "api", "Production") == []


def test_workspace_variables(emu: Emulator, api: httpx.Client) -> None:
    created = api.post(WORKSPACE_VARS, json={"key": "ORG", "value": "acme", "secured": False})
    assert created.status_code == 201
    assert created.json()["type"] == "pipeline_variable"
    path = f"{WORKSPACE_VARS}/{encode(created.json()['uuid'])}"
    assert api.get(path).json()["value"] == "acme"
    assert api.put(path, json={"value": "acme2"}).status_code == 200
    assert emu.variables("acme") == [{"uuid": created.json()["uuid"], "key": "ORG", "value": "acme2", "secured": False}]
    assert emu.variables("acme", "api") == []
    assert api.delete(path).status_code == 204


def test_creation_order_is_kept(emu: Emulator, api: httpx.Client) -> None:
    for key in ["Z", "A", "M"]:
        api.post(REPO_VARS, json={"key": key, "value": key})
    assert [v["key"] for v in api.get(REPO_VARS).json()["values"]] == ["Z", "A", "M"]


def test_out_of_band_delete_and_seed(emu: Emulator) -> None:
    emu.seed_variable("acme", "K", "v", secured=True, repository="api", environment="Staging")
    assert emu.variables("acme", "api", "Staging")[0]["secured"] is True
    emu.delete_variable("acme", "K", repository="api", environment="Staging")
    assert emu.variables("acme", "api", "Staging") == []
    with pytest.raises(KeyError):
        emu.delete_variable("acme", "K", repository="api", environment="Staging")
