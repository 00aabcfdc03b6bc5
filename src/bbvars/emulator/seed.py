"""Seeding: workspaces, repositories, environments and variables added to an emulator from plain data (a parsed
seed file, or `bbvars emulator`'s flags), so any example has the targets it writes to.

    workspaces:
      acme:
        variables: {REGION: eu-west-1}           # workspace variables
        repositories:
          web:
            variables: {CDN: https://cdn.example.com}
            environments:                        # a list of names, or names mapping to their variables
              Production:
                variables:
                  OLD_FLAG: "on"
                  TOKEN: {value: t0ps3cret, secured: true}

Seeding adds: what exists (the demo's acme/api and its environments) is kept and may be named again."""

from __future__ import annotations

from typing import Any

from bbvars.emulator.emulator import Emulator


class SeedError(ValueError):
    """The seed is not what the emulator can hold; the message names where (`workspaces.acme.repositories...`)."""


def _mapping(node: object, where: str, allowed: tuple[str, ...] | None = None) -> dict:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise SeedError(f"{where} must be a mapping")
    for key in node:
        if not isinstance(key, str) or not key:
            raise SeedError(f"{where} holds a name that is not text")
        if allowed is not None and key not in allowed:
            raise SeedError(f"{where} holds {key!r}; it takes {', '.join(allowed)}")
    return node


def _variables(node: object, where: str) -> list[tuple[str, str, bool]]:
    found = []
    for key, value in _mapping(node, where).items():
        secured = False
        if isinstance(value, dict):
            _mapping(value, f"{where}.{key}", ("value", "secured"))
            secured, value = value.get("secured", False), value.get("value")
            if not isinstance(secured, bool):
                raise SeedError(f"{where}.{key}.secured must be true or false")
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise SeedError(f"{where}.{key} must be text or a number (or {{value: ..., secured: true}})")
        found.append((key, str(value), secured))
    return found


def _environments(node: object, where: str) -> dict[str, object]:
    if isinstance(node, list):
        if not all(isinstance(name, str) and name for name in node):
            raise SeedError(f"{where} must list environment names")
        return {name: None for name in node}
    return _mapping(node, where)


def apply(emulator: Emulator, seed: object, source: str = "the seed") -> None:
    """Adds what `seed` (parsed YAML/JSON, shaped as above) names; SeedError, naming `source` and the node, for
    anything it cannot hold. Nothing partial is left to guess about: the caller stops on the error."""
    top = _mapping(seed, source, ("workspaces",))
    try:
        for workspace, body in _mapping(top.get("workspaces"), f"{source}: workspaces").items():
            where = f"{source}: workspaces.{workspace}"
            body = _mapping(body, where, ("variables", "repositories"))
            emulator.add_workspace(workspace)
            for key, value, secured in _variables(body.get("variables"), f"{where}.variables"):
                _put(emulator, f"{where}.variables", workspace, key, value, secured)
            for repository, repo_body in _mapping(body.get("repositories"), f"{where}.repositories").items():
                repo_where = f"{where}.repositories.{repository}"
                repo_body = _mapping(repo_body, repo_where, ("variables", "environments"))
                emulator.add_repository(workspace, repository)
                for key, value, secured in _variables(repo_body.get("variables"), f"{repo_where}.variables"):
                    _put(emulator, f"{repo_where}.variables", workspace, key, value, secured, repository)
                environments = _environments(repo_body.get("environments"), f"{repo_where}.environments")
                for name, env_body in environments.items():
                    env_where = f"{repo_where}.environments.{name}"
                    env_body = _mapping(env_body, env_where, ("variables",))
                    known = {e["name"] for e in emulator.environments(workspace, repository)}
                    if name not in known:
                        emulator.add_environment(workspace, repository, name)
                    for key, value, secured in _variables(env_body.get("variables"), f"{env_where}.variables"):
                        _put(emulator, f"{env_where}.variables", workspace, key, value, secured, repository, name)
    except SeedError:
        raise
    except ValueError as exc:  # the emulator's own rules (an environment type, ...)
        raise SeedError(f"{source}: {exc}") from None


def _put(emulator: Emulator, where: str, workspace: str, key: str, value: str, secured: bool,
         repository: str | None = None, environment: str | None = None) -> None:
    try:
        emulator.seed_variable(workspace, key, value, secured, repository=repository, environment=environment)
    except Exception as exc:  # the state's rules: a key Bitbucket would refuse, a key given twice
        message = getattr(exc, "message", None) or str(exc)
        raise SeedError(f"{where}.{key}: {message}") from None


def from_flags(workspaces: list[str], repositories: list[str], environments: list[str],
               variables: list[str]) -> dict[str, Any]:
    """`--workspace W`, `--repository W/R`, `--environment W/R/E`, `--variable W[/R[/E]]:KEY=VALUE` as a seed."""
    seed: dict[str, Any] = {"workspaces": {}}

    def node(path: str, flag: str, parts: int, exact: bool = False) -> dict:
        names = path.split("/", 2)
        if len(names) > parts or (exact and len(names) < parts) or not all(names):
            raise SeedError(f"{flag} takes {('W', 'W/R', 'W/R/E')[parts - 1]} (workspace, repository, environment "
                            f"separated by '/'), got {path[:80]!r}")
        here = seed["workspaces"].setdefault(names[0], {})
        if len(names) > 1:
            here = here.setdefault("repositories", {}).setdefault(names[1], {})
        if len(names) > 2:
            here = here.setdefault("environments", {}).setdefault(names[2], {})
        return here

    for path in workspaces:
        node(path, "--workspace", 1)
    for flag, paths, parts in (("--repository", repositories, 2), ("--environment", environments, 3)):
        for path in paths:
            node(path, flag, parts, exact=True)
    for spec in variables:
        scope, colon, pair = spec.partition(":")
        key, equals, value = pair.partition("=")
        if not colon or not equals or not key:
            raise SeedError("--variable takes W[/R[/E]]:KEY=VALUE, e.g. acme/web/Production:API_URL=https://x")
        held = node(scope, "--variable", 3).setdefault("variables", {})
        if key in held:
            raise SeedError(f"--variable gives {key} twice in {scope}")
        held[key] = value
    return seed
