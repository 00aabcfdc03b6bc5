"""The values that flow through bbvars: what to write, what exists, where."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: the credential is chosen and built by bbvars.auth
    from bbvars.auth import Credential


@dataclass(frozen=True)
class Target:
    """Where variables live: a workspace, a repository, or a repository's deployment environment."""

    workspace: str
    repository: str | None = None
    environment: str | None = None

    @property
    def scope(self) -> str:
        if self.environment is not None:
            return "deployment"
        return "repository" if self.repository is not None else "workspace"

    def describe(self) -> str:
        if self.scope == "workspace":
            return f"workspace {self.workspace}"
        if self.scope == "repository":
            return f"repository {self.workspace}/{self.repository}"
        return f"environment {self.environment} of {self.workspace}/{self.repository}"

    def as_json(self) -> dict[str, str | None]:
        return {"workspace": self.workspace, "repository": self.repository, "environment": self.environment}


@dataclass(frozen=True)
class Variable:
    """A variable as the input wants it."""

    key: str
    value: str
    secured: bool = False

    def __repr__(self) -> str:  # never show a value in a traceback or debug print
        return f"Variable(key={self.key!r}, secured={self.secured})"


@dataclass(frozen=True)
class RemoteVariable:
    """A variable as Bitbucket holds it; `value` is None when secured (never readable)."""

    uuid: str
    key: str
    value: str | None
    secured: bool

    def __repr__(self) -> str:
        return f"RemoteVariable(key={self.key!r}, uuid={self.uuid!r}, secured={self.secured})"

    @classmethod
    def from_api(cls, data: dict) -> RemoteVariable:
        return cls(
            uuid=str(data.get("uuid", "")),
            key=str(data.get("key", "")),
            value=data.get("value") if isinstance(data.get("value"), str) else None,
            secured=bool(data.get("secured", False)),
        )


@dataclass(frozen=True)
class Policy:
    """A target's own per-sync choices (a manifest target may set each): what prune may delete (keys starting with
    `prefix`, as it appears in the keys, matching none of `protect`), how many deletes refuse the whole run, and
    whether fingerprints of secured values are kept."""

    prune: bool = False
    prefix: str = ""  # as in the keys (after upper)
    upper: bool = False
    protect: tuple[str, ...] = ()
    max_deletes: int | None = None
    fingerprint: bool = False


@dataclass(frozen=True)
class Job:
    """One target of a run: where, what to write there, and the target's own policy."""

    target: Target
    variables: tuple[Variable, ...] = ()
    policy: Policy = Policy()
    name: str | None = None  # the target's name in a manifest

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", tuple(self.variables))  # a list given stays the caller's


@dataclass(frozen=True)
class RunRequest:
    """Everything a run needs, built once by a surface (bbvars.request.run) and never changed: the jobs, the
    run-wide options, and the credential chosen for the whole run (its secrets already in the run's redactor)."""

    jobs: tuple[Job, ...]
    credential: Credential = field(repr=False)
    api_url: str
    timeout: float = 30.0
    concurrency: int = 8
    dry_run: bool = False
    max_requests: int | None = None
    fingerprint_key: str | None = field(default=None, repr=False)
    manifest: bool = False  # whether the jobs are a manifest's: the result is told with headings and totals

    def __post_init__(self) -> None:
        object.__setattr__(self, "jobs", tuple(self.jobs))

    def with_jobs(self, jobs: Iterable[Job]) -> RunRequest:
        """The same run (credential, options) for other jobs: a surface that masks the credential before it reads
        the input builds the request first and adds the jobs once they are read."""
        return replace(self, jobs=tuple(jobs))

    @property
    def target(self) -> Target:
        """The one target of a single-target request (check, list, a sync without a manifest)."""
        assert len(self.jobs) == 1, "a single-target request has one job"
        return self.jobs[0].target
