"""The emulator's data model (workspaces, repositories, environments, variables) and Bitbucket's rules for it,
without any HTTP; who may call is identity.py's.

Every public method of `State` takes the one lock and returns copies, so HTTP handler threads and test code can use
it at the same time without seeing half-made changes.
"""

from __future__ import annotations

import re
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field, replace
from typing import NamedTuple

KEY_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_SCOPES = ("pipeline", "pipeline:variable")
# Bitbucket's scopes imply lesser ones: a consumer with pipeline:variable may also read pipelines.
IMPLIED_SCOPES = {"pipeline:variable": ("pipeline:write", "pipeline"), "pipeline:write": ("pipeline",)}
# The three deployment environment types Bitbucket knows, with the rank it reports for each.
ENVIRONMENT_TYPE_RANKS = {"Test": 0, "Staging": 1, "Production": 2}
# Atlassian: "The maximum length of all combined pipeline variable names and values should not exceed 120K
# characters". Enforced per scope (a workspace, a repository, an environment), secured values included.
TOTAL_CHARACTERS = 120_000


class ApiError(Exception):
    """A rule was broken; the HTTP layer answers `status` with Bitbucket's error body."""

    status = 400

    def __init__(self, message: str, detail: str | dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


def new_uuid() -> str:
    return "{" + str(uuidlib.uuid4()) + "}"


def default_slug(name: str) -> str:
    return name.strip().lower().replace(" ", "-")


def default_environment_type(name: str) -> str:
    lowered = name.lower()
    if "prod" in lowered:
        return "Production"
    if "stag" in lowered:
        return "Staging"
    return "Test"


def grants(granted: tuple[str, ...], required: str) -> bool:
    return any(s == required or required in IMPLIED_SCOPES.get(s, ()) for s in granted)


@dataclass
class Variable:
    uuid: str
    key: str
    value: str
    secured: bool


class Variables:
    """One scope's variables (a workspace, a repository or an environment), kept in creation order.

    With a lag (State.lag > 0) every write is remembered for that long, so a listing can show the scope as it was
    `lag` seconds ago, as Bitbucket's listings can trail its writes."""

    def __init__(self) -> None:
        self._by_uuid: dict[str, Variable] = {}
        self._uuid_by_key: dict[str, str] = {}  # so a create checks for a duplicate in O(1), not O(n)
        self._characters = 0  # names and values together, for the 120,000-character total
        self._order: dict[str, int] = {}  # uuid -> creation number, to list a lagged view in creation order
        self._history: list[tuple[float, str, Variable | None]] = []  # (when, uuid, the variable before; None: new)

    def all(self) -> list[Variable]:
        return [replace(v) for v in self._by_uuid.values()]

    def window(self, start: int, stop: int, lag: float = 0.0) -> tuple[int, list[Variable]]:
        """The total count and copies of the variables in [start, stop): a page, without copying the rest; with a
        lag, of the scope as it was `lag` seconds ago."""
        if lag <= 0 or not self._history:
            return len(self._by_uuid), [replace(v) for v in list(self._by_uuid.values())[start:stop]]
        view = dict(self._by_uuid)
        horizon = time.monotonic() - lag
        for when, uuid, before in reversed(self._history):
            if when <= horizon:
                break
            if before is None:
                view.pop(uuid, None)
            else:
                view[uuid] = before
        ordered = sorted(view.values(), key=lambda v: self._order[v.uuid])
        return len(ordered), [replace(v) for v in ordered[start:stop]]

    def get(self, variable_uuid: str) -> Variable:
        found = self._by_uuid.get(variable_uuid.lower())
        if found is None:
            raise NotFound(f"Variable {variable_uuid} not found.")
        return found

    def by_key(self, key: str) -> Variable | None:
        found = self._uuid_by_key.get(key)
        return self._by_uuid[found] if found is not None else None

    def create(self, key: str, value: str, secured: bool, lag: float = 0.0,
               limit: int | None = TOTAL_CHARACTERS) -> Variable:
        check_key(key)
        if self.by_key(key) is not None:
            raise Conflict("A variable with the key provided already exists.")
        self._check_total(len(key) + len(value), limit)
        variable = Variable(new_uuid(), key, value, secured)
        self._remember(variable.uuid, None, lag)
        self._by_uuid[variable.uuid] = variable
        self._uuid_by_key[key] = variable.uuid
        self._order[variable.uuid] = len(self._order)
        self._characters += len(key) + len(value)
        return replace(variable)

    def update(self, variable_uuid: str, key: str | None, value: str | None, secured: bool | None,
               lag: float = 0.0, limit: int | None = TOTAL_CHARACTERS) -> Variable:
        variable = self.get(variable_uuid)
        if variable.secured and secured is False:
            # Atlassian: a secured variable "can only get a new value or be deleted". The real API's answer to this
            # is not documented; a 400 that says what to do instead is the strict reading (nothing is changed).
            raise BadRequest("A secured variable cannot be made unsecured: delete it and create it again.")
        new_key = key if key is not None else variable.key
        new_value = value if value is not None else variable.value
        if new_key != variable.key:
            check_key(new_key)
            if self.by_key(new_key) is not None:
                raise Conflict("A variable with the key provided already exists.")
        growth = len(new_key) + len(new_value) - len(variable.key) - len(variable.value)
        self._check_total(growth, limit)
        self._remember(variable.uuid, replace(variable), lag)
        if new_key != variable.key:
            del self._uuid_by_key[variable.key]
            self._uuid_by_key[new_key] = variable.uuid
            variable.key = new_key
        variable.value = new_value
        if secured is not None:
            variable.secured = secured
        self._characters += growth
        return replace(variable)

    def delete(self, variable_uuid: str, lag: float = 0.0) -> None:
        variable = self.get(variable_uuid)
        self._remember(variable.uuid, replace(variable), lag)
        del self._by_uuid[variable.uuid]
        del self._uuid_by_key[variable.key]
        self._characters -= len(variable.key) + len(variable.value)

    def _check_total(self, growth: int, limit: int | None) -> None:
        if limit is not None and growth > 0 and self._characters + growth > limit:
            # Bitbucket's status and wording for this are not documented: a 400, as for its other validation
            # errors, naming the limit, is the plausible answer.
            raise BadRequest(
                "Variables size limit exceeded.",
                f"The names and values of all variables here must not exceed {limit} characters in "
                f"total; this change would make them {self._characters + growth}.",
            )

    def _remember(self, uuid: str, before: Variable | None, lag: float) -> None:
        now = time.monotonic()
        if self._history:  # forget what every listing shows by now
            self._history = [h for h in self._history if h[0] > now - lag]
        if lag > 0:
            self._history.append((now, uuid, before))


def check_key(key: str) -> None:
    if not KEY_PATTERN.match(key):
        raise BadRequest(
            "Invalid variable key.",
            "Keys may contain only ASCII letters, digits and underscores and must not start with a digit.",
        )


@dataclass
class Environment:
    uuid: str
    name: str
    slug: str
    environment_type: str
    variables: Variables = field(default_factory=Variables)


@dataclass
class Repository:
    slug: str
    variables: Variables = field(default_factory=Variables)
    environments: dict[str, Environment] = field(default_factory=dict)  # by lower-case uuid, creation order


@dataclass
class Workspace:
    slug: str
    variables: Variables = field(default_factory=Variables)
    repositories: dict[str, Repository] = field(default_factory=dict)


class Scope(NamedTuple):
    """Where variables live: a workspace, or a repository in it, or an environment of that repository."""

    workspace: str
    repository: str | None = None
    environment: str | None = None  # uuid, or (from Python helpers only) name or slug


class State:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._workspaces: dict[str, Workspace] = {}
        self.lag = 0.0  # seconds listings trail writes by (the `lag` quirk)
        self.total_characters: int | None = TOTAL_CHARACTERS  # None: no limit (the benchmark's scale runs)

    # --- set-up, from Python ---

    def add_workspace(self, workspace: str) -> None:
        with self._lock:
            self._workspaces.setdefault(workspace, Workspace(workspace))

    def add_repository(self, workspace: str, repository: str) -> None:
        with self._lock:
            self.add_workspace(workspace)
            repos = self._workspaces[workspace].repositories
            repos.setdefault(repository, Repository(repository))

    def add_environment(
        self, workspace: str, repository: str, name: str, slug: str | None, environment_type: str | None
    ) -> str:
        env_type = environment_type or default_environment_type(name)
        if env_type not in ENVIRONMENT_TYPE_RANKS:
            raise ValueError(f"environment_type must be one of {', '.join(ENVIRONMENT_TYPE_RANKS)}")
        with self._lock:
            repo = self._repository(workspace, repository)
            if any(e.name == name for e in repo.environments.values()):
                raise ValueError(f"environment {name!r} already exists in {workspace}/{repository}")
            env = Environment(new_uuid(), name, slug or default_slug(name), env_type)
            repo.environments[env.uuid] = env
            return env.uuid

    # --- environments ---

    def environments(self, workspace: str, repository: str) -> list[Environment]:
        with self._lock:
            return [replace(e) for e in self._repository(workspace, repository).environments.values()]

    def environment(self, workspace: str, repository: str, ref: str) -> Environment:
        with self._lock:
            return replace(self._environment(self._repository(workspace, repository), ref))

    # --- variables ---

    def list_variables(self, scope: Scope) -> list[Variable]:
        with self._lock:
            return self._variables(scope).all()

    def variables_window(self, scope: Scope, start: int, stop: int) -> tuple[int, list[Variable]]:
        with self._lock:
            return self._variables(scope).window(start, stop, self.lag)

    def get_variable(self, scope: Scope, variable_uuid: str) -> Variable:
        with self._lock:
            return replace(self._variables(scope).get(variable_uuid))

    def create_variable(self, scope: Scope, key: str, value: str, secured: bool) -> Variable:
        with self._lock:
            return self._variables(scope).create(key, value, secured, self.lag, self.total_characters)

    def update_variable(
        self, scope: Scope, variable_uuid: str, key: str | None, value: str | None, secured: bool | None
    ) -> Variable:
        with self._lock:
            return self._variables(scope).update(variable_uuid, key, value, secured, self.lag,
                                                 self.total_characters)

    def delete_variable(self, scope: Scope, variable_uuid: str) -> None:
        with self._lock:
            self._variables(scope).delete(variable_uuid, self.lag)

    def delete_variable_by_key(self, scope: Scope, key: str) -> None:
        with self._lock:
            variables = self._variables(scope)
            found = variables.by_key(key)
            if found is None:
                raise KeyError(key)
            variables.delete(found.uuid, self.lag)

    # --- lookups; callers hold the lock ---

    def _workspace(self, workspace: str) -> Workspace:
        found = self._workspaces.get(workspace)
        if found is None:
            raise NotFound(f"Workspace {workspace} not found.")
        return found

    def _repository(self, workspace: str, repository: str) -> Repository:
        found = self._workspace(workspace).repositories.get(repository)
        if found is None:
            raise NotFound(f"Repository {workspace}/{repository} not found.")
        return found

    @staticmethod
    def _environment(repo: Repository, ref: str) -> Environment:
        found = repo.environments.get(ref.lower())
        if found is None:  # Python helpers may name the environment instead of giving its uuid.
            found = next((e for e in repo.environments.values() if ref in (e.name, e.slug)), None)
        if found is None:
            raise NotFound(f"Environment {ref} not found.")
        return found

    def _variables(self, scope: Scope) -> Variables:
        if scope.repository is None:
            if scope.environment is not None:
                raise ValueError("an environment needs its repository")
            return self._workspace(scope.workspace).variables
        repo = self._repository(scope.workspace, scope.repository)
        if scope.environment is None:
            return repo.variables
        return self._environment(repo, scope.environment).variables
