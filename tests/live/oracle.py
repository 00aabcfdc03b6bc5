"""An independent look at Bitbucket for the live suite: plain httpx on the documented API, not bbvars' client, so
what the suite checks and removes does not depend on the code under test."""

from __future__ import annotations

import httpx

from tests.live.conftest import LIVE, Place

API = "https://api.bitbucket.org/2.0"
TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"


def session(kind: str) -> httpx.Client:
    api = LIVE.get("BBVARS_LIVE_API_URL") or API
    if kind == "consumer":
        answer = httpx.post(LIVE.get("BBVARS_LIVE_TOKEN_URL") or TOKEN_URL,
                            data={"grant_type": "client_credentials"},
                            auth=(LIVE["BBVARS_LIVE_CLIENT_ID"], LIVE["BBVARS_LIVE_CLIENT_SECRET"]),
                            timeout=30)
        answer.raise_for_status()
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        return httpx.Client(base_url=api, headers=headers, timeout=30)
    if kind == "api-token":
        return httpx.Client(base_url=api, auth=(LIVE["BBVARS_LIVE_EMAIL"], LIVE["BBVARS_LIVE_API_TOKEN"]),
                            timeout=30)
    return httpx.Client(base_url=api, headers={"Authorization": f"Bearer {LIVE['BBVARS_LIVE_ACCESS_TOKEN']}"},
                        timeout=30)


def collection(web: httpx.Client, place: Place, scope: str) -> str:
    if scope == "workspace":
        return f"/workspaces/{place.workspace}/pipelines-config/variables"
    if scope == "repository":
        return f"/repositories/{place.workspace}/{place.repository}/pipelines_config/variables"
    environments = web.get(f"/repositories/{place.workspace}/{place.repository}/environments", params={"pagelen": 100})
    environments.raise_for_status()
    uuid = next(e["uuid"] for e in environments.json()["values"]
                if place.environment in (e.get("name"), e.get("slug"), e.get("uuid")))
    return f"/repositories/{place.workspace}/{place.repository}/deployments_config/environments/{uuid}/variables"


def variables(web: httpx.Client, path: str) -> list[dict]:
    found, url, params = [], path, {"pagelen": 100}
    for _ in range(100):  # bounded: a scratch place holds far fewer than 10,000 variables
        page = web.get(url, params=params)
        page.raise_for_status()
        body = page.json()
        found += body.get("values", [])
        url, params = body.get("next"), None
        if not url:
            break
    return found


def remove(kind: str, place: Place, scope: str, starting: str, exactly: str | None = None) -> list[str]:
    """Delete the variables of one place whose key starts with `starting` (or is `exactly`); their keys."""
    with session(kind) as web:
        path = collection(web, place, scope)
        gone = []
        for variable in variables(web, path):
            key = variable["key"]
            if key.startswith(starting) or key == exactly:
                answer = web.delete(f"{path}/{variable['uuid']}")
                if answer.status_code not in (204, 404):
                    answer.raise_for_status()
                gone.append(key)
        return gone
