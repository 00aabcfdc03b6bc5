"""`check`: are these credentials good for this target? Answered in at most 5 requests (no retries, no writes):
the token request when the kind has one, the environments when one is named, one page of the variables."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import httpx

from bbvars.auth import Credential
from bbvars.bitbucket import transport
from bbvars.bitbucket.client import BitbucketClient, RetryPolicy, collection_path, segment
from bbvars.bitbucket.paging import PAGELEN
from bbvars.errors import ApiError, NotFoundError
from bbvars.models import RunRequest, Target
from bbvars.redaction import Redactor
from bbvars.sync.engine import match_environment, open_client

MAX_REQUESTS = 5
NO_RETRY = RetryPolicy(attempts=1)  # a health check reports what it meets; retries would break the request bound
# Scopes that imply others (Bitbucket's OAuth scopes; Atlassian's granular ones imply nothing).
IMPLIED = {"pipeline:variable": {"pipeline", "pipeline:write"}, "pipeline:write": {"pipeline"}}
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Resource", "X-RateLimit-NearLimit")
ORDER = ("credential", "scopes", "access", "workspace", "repository", "environment", "variables", "rate_limit",
         "round_trip")  # how checks are reported, whatever order the requests found them in


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name}: {self.detail}"


@dataclass
class CheckResult:
    credential: str  # the kind's id
    credential_name: str
    target: Target
    checks: list[Check] = field(default_factory=list)
    requests: int = 0

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def first_failure(self) -> str | None:
        return next((check.line() for check in self.checks if not check.ok), None)

    def checklist(self) -> list[str]:
        """The ✔/✖ lines every surface shows."""
        return [f"{'✔' if check.ok else '✖'} {check.line()}" for check in self.checks]

    def as_json(self) -> dict:
        return {"ok": self.ok, "credential": self.credential, "target": self.target.as_json(),
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}


class Probe:
    """GETs that keep what check reports: the answer's status and rate-limit headers, and the round-trip time."""

    def __init__(self, client: BitbucketClient):
        self.client = client
        self.times: list[float] = []
        self.rate: dict[str, str] = {}

    def get(self, path: str, what: str, not_found: str) -> httpx.Response:
        started = time.monotonic()
        response = self.client.send("GET", path, what=what, cap=transport.PAGE_CAP, params={"pagelen": PAGELEN})
        self.times.append(time.monotonic() - started)
        found = {name: response.headers[name] for name in RATE_HEADERS if name in response.headers}
        self.rate = found or self.rate
        return self.client.check(response, what, not_found)


def granted(scopes: list[str]) -> set[str]:
    return set(scopes).union(*(IMPLIED.get(s, set()) for s in scopes))


def scope_check(credential: Credential, scopes: list[str]) -> Check:
    hints = credential.hints
    have = granted(scopes)
    read, write = hints.read_scope in have, hints.write_scope in have
    shown = " ".join(scopes) or "none"
    if read and write:
        return Check("scopes", True, f"granted {shown}: reading and writing variables allowed")
    missing = [s for s, ok in ((hints.read_scope, read), (hints.write_scope, write)) if not ok]
    return Check("scopes", False, f"granted {shown}: lacks {' and '.join(missing)} ({'writing' if read else 'reading'}"
                                  f" variables needs it): {hints.grant}")


def run_check(request: RunRequest, redactor: Redactor, log: Callable[[str], None] | None = None,
              retry: RetryPolicy | None = None) -> CheckResult:
    """The request's one target (its variables, if any, are not looked at), with the request's credential."""
    credential = request.credential
    target = request.target
    result = CheckResult(credential.kind, credential.name, target)
    client, tokens = open_client(request, redactor, log, retry or NO_RETRY)

    def bound(request: httpx.Request) -> None:
        # The plan above needs at most 3; renewals of expired tokens could add more, never past the promise.
        if client.requests_sent > MAX_REQUESTS:
            raise ApiError(f"check stopped: it sends at most {MAX_REQUESTS} requests (Bitbucket kept refusing "
                           "tokens as expired)", fatal=True)

    client.http.event_hooks["request"].append(bound)  # after the client's own counting hook
    with client:
        try:
            _run(client, tokens, credential, target, result)
        finally:
            result.requests = client.requests_sent
    result.checks = sorted((replace(check, detail=redactor(check.detail)) for check in result.checks),
                           key=lambda check: ORDER.index(check.name))
    return result


def _run(client: BitbucketClient, tokens, credential: Credential, target: Target, result: CheckResult) -> None:
    add = result.checks.append
    scopes: list[str] | None = None
    works = f"{credential.name}: accepted"
    granted = False  # whether the token endpoint proved the credential already (a stored token proves nothing)
    if tokens is not None:
        try:
            token = tokens.current()
        except ApiError as exc:
            add(Check("credential", False, f"{credential.name}: {exc}"))
            return
        scopes = token.scopes.split()
        granted = tokens.issued(token.access_token)
        expires = f", expires in {token.expires_in} s" if token.expires_in is not None else ""
        works = f"{credential.name}: " + ("token granted" if granted else "stored token accepted") + expires
    probe = Probe(client)
    where = "repository" if target.repository else "workspace"
    try:
        environment_uuid = None
        if target.environment:
            environment_uuid = _environment(probe, target, add)
            if environment_uuid is None:
                add(Check("credential", True, works))
                _scopes_after_read(credential, scopes, add)
                _timing(probe, add)
                return
        path = collection_path(target, environment_uuid)
        response = probe.get(path, f"listing the variables of {target.describe()}", f"{target.describe()} not found")
    except ApiError as exc:
        _api_failure(exc, credential, scopes, works, granted, where, target, add)
        _timing(probe, add)
        return
    add(Check("credential", True, works))
    _scopes_after_read(credential, scopes, add)
    if not target.environment:
        add(Check(where, True, f"{target.describe()} exists"))
    add(Check("variables", True, count(response)))
    if probe.rate:
        near = probe.rate.get("X-RateLimit-NearLimit", "").lower() == "true"
        add(Check("rate_limit", not near,
                  f"{probe.rate.get('X-RateLimit-Limit', '?')} requests an hour for resource "
                  f"{probe.rate.get('X-RateLimit-Resource', '?')}; " + ("near the limit: wait before a big sync"
                                                                       if near else "not near the limit")))
    _timing(probe, add)


def _environment(probe: Probe, target: Target, add) -> str | None:
    """The named environment's uuid; None (with the failed check added) when the repository has no such one."""
    path = f"repositories/{segment(target.workspace)}/{segment(target.repository or '')}/environments"
    response = probe.get(path, f"listing the environments of {target.workspace}/{target.repository}",
                         f"repository {target.workspace}/{target.repository} not found")
    try:
        body = response.json()
    except ValueError:
        body = None
    values = body.get("values") if isinstance(body, dict) else None
    environments = [env for env in values if isinstance(env, dict)] if isinstance(values, list) else []
    add(Check("repository", True, f"repository {target.workspace}/{target.repository} exists"))
    found = match_environment(environments, target.environment or "")
    if found is None or not isinstance(found.get("uuid"), str):
        names = ", ".join(sorted(str(env.get("name")) for env in environments)) or "none"
        size = body.get("size") if isinstance(body, dict) else None
        looked = f" (the first {len(environments)} of {size} looked at)" if isinstance(size, int) and size > len(
            environments) else ""
        problem = "is listed without a uuid" if found is not None else "not found"
        add(Check("environment", False, f"environment {target.environment!r} {problem} in {target.workspace}/"
                                        f"{target.repository}; it has: {names}{looked}"))
        return None
    add(Check("environment", True, f"environment {found.get('name')} exists ({found['uuid']})"))
    return found["uuid"]


def _scopes_after_read(credential: Credential, scopes: list[str] | None, add) -> None:
    if scopes is not None:
        add(scope_check(credential, scopes))
        return
    hints = credential.hints
    add(Check("scopes", True, f"reading works ({hints.read_scope}); writing needs {hints.write_scope}, which this "
                              "kind of credential does not report, so only a write would show it"))


def _api_failure(exc: ApiError, credential: Credential, scopes: list[str] | None, works: str, granted: bool,
                 where: str, target: Target, add) -> None:
    if exc.status == 401:
        add(Check("credential", False, f"{credential.name}: {exc}"))
        return
    if exc.status is None or exc.status == 429 or exc.status >= 500:
        # Unreachable, rate-limited or failing: a token granted in this run still proves the credential; nothing
        # else does (a stored login's token, read from its file, is proved only by the API taking it).
        add(Check("credential", granted, works if granted else
                  f"{credential.name}: not verified, Bitbucket could not be asked: {exc}"))
        add(Check(where, False, f"could not be read: {exc}"))
        return
    add(Check("credential", True, works))
    if exc.status == 403:
        if scopes is not None:
            add(scope_check(credential, scopes))
        add(Check("scopes" if scopes is None else "access", False, str(exc)))
        return
    if scopes is not None:
        add(scope_check(credential, scopes))
    # A 404 says the target does not exist (or is invisible to this credential); anything else is told as it is.
    add(Check(where, False, str(exc) if isinstance(exc, NotFoundError) else f"could not be read: {exc}"))


def _timing(probe: Probe, add) -> None:
    if probe.times:
        slowest, mean = max(probe.times) * 1000, sum(probe.times) / len(probe.times) * 1000
        timing = f"{len(probe.times)} API request(s): mean {mean:.0f} ms, slowest {slowest:.0f} ms"
        add(Check("round_trip", True, timing))


def count(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = {}
    values = body.get("values") if isinstance(body, dict) else None
    values = values if isinstance(values, list) else []
    size = body.get("size") if isinstance(body, dict) else None
    if isinstance(size, int):
        return f"{size} variable(s) in the target"
    if len(values) < PAGELEN and not (isinstance(body, dict) and body.get("next")):
        return f"{len(values)} variable(s) in the target"
    return f"at least {len(values)} variables in the target (Bitbucket did not say how many)"
