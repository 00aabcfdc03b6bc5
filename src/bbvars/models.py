"""The values that flow through bbvars: what to write, what exists, where."""

from __future__ import annotations

from dataclasses import dataclass


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
