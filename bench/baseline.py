"""What common tools do, over real HTTP: for each variable, look it up, then write it; one request at a time.

The lookup is the one the Ansible module (community.general.bitbucket_pipeline_variable) and similar scripts use:
there is no "get by key" in the API, so page through the variable list at the default page length (10) until the
key is found or the pages run out. This baseline is generous to itself: it fetches one token per run (Ansible fetches
one per task, i.e. per variable), keeps one keep-alive connection, follows `next` instead of asking for pages until
an empty one, and skips the write when an unsecured value is already right.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from bbvars.bitbucket.client import collection_path
from bbvars.bitbucket.client import segment as _segment
from bbvars.models import Target, Variable

DEFAULT_PAGELEN = 10  # what Bitbucket answers when no pagelen is asked for


@dataclass
class BaselineResult:
    requests: int
    seconds: float
    created: int = 0
    updated: int = 0
    unchanged: int = 0


# The paths are facts of the API, not of bbvars' strategy: the baseline shares them.
collection_url = collection_path


class Baseline:
    def __init__(self, api_url: str, token_url: str, client_id: str, client_secret: str, timeout: float = 60.0):
        self.token_url, self.client_id, self.client_secret = token_url, client_id, client_secret
        self.requests = 0
        self.http = httpx.Client(base_url=api_url.rstrip("/") + "/", timeout=timeout,
                                 headers={"Accept": "application/json"},
                                 event_hooks={"request": [self._count]})

    def _count(self, request: httpx.Request) -> None:
        self.requests += 1

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Baseline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, url: str) -> dict:
        response = self.http.get(url)
        response.raise_for_status()
        return response.json()

    def login(self) -> None:
        response = self.http.post(self.token_url, data={"grant_type": "client_credentials"},
                                  auth=(self.client_id, self.client_secret))
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def environment_uuid(self, target: Target) -> str:
        url: str | None = f"repositories/{_segment(target.workspace)}/{_segment(target.repository or '')}/environments"
        while url:
            page = self._get(url)
            for env in page.get("values", []):
                if target.environment in (env.get("name"), env.get("slug"), env.get("uuid")):
                    return env["uuid"]
            url = page.get("next")
        raise LookupError(f"no environment {target.environment}")

    def find(self, collection: str, key: str) -> dict | None:
        """Page through the list at the default page length until `key` turns up."""
        url: str | None = collection
        while url:
            page = self._get(url)
            for item in page.get("values", []):
                if item.get("key") == key:
                    return item
            url = page.get("next")
        return None

    def sync(self, target: Target, desired: list[Variable]) -> BaselineResult:
        self.requests = 0
        started = time.perf_counter()
        result = BaselineResult(0, 0.0)
        self.login()
        environment = self.environment_uuid(target) if target.scope == "deployment" else None
        collection = collection_url(target, environment)
        for variable in desired:
            body = {"key": variable.key, "value": variable.value, "secured": variable.secured}
            existing = self.find(collection, variable.key)
            if existing is None:
                self.http.post(collection, json=body).raise_for_status()
                result.created += 1
            elif existing.get("secured") or variable.secured or existing.get("value") != variable.value:
                self.http.put(f"{collection}/{_segment(existing['uuid'])}", json=body).raise_for_status()
                result.updated += 1
            else:
                result.unchanged += 1
        result.seconds = time.perf_counter() - started
        result.requests = self.requests
        return result


def predicted_requests(existing: list[Variable], desired: list[Variable], deployment: bool) -> int:
    """The requests `Baseline.sync` sends, without sending them: existing variables are listed in creation order,
    and each created one is appended (as Bitbucket and the emulator do). Checked against real runs by the tests."""
    order = [v.key for v in existing]
    values = {v.key: v for v in existing}
    position = {key: i for i, key in enumerate(order)}
    count = 1 + (1 if deployment else 0)  # token, environment list (3 environments: one page)
    for variable in desired:
        index = position.get(variable.key)
        if index is None:
            count += max(1, -(-len(order) // DEFAULT_PAGELEN)) + 1  # every page, then the POST
            position[variable.key] = len(order)
            order.append(variable.key)
            values[variable.key] = variable
        else:
            count += index // DEFAULT_PAGELEN + 1  # pages up to the one holding it
            old = values[variable.key]
            if old.secured or variable.secured or old.value != variable.value:
                count += 1
                values[variable.key] = variable
    return count
