"""A manifest: many targets and the sources that feed them, in one YAML or JSON file. Read and checked whole before
the first request, into plain values (the engine's Jobs). Every error names the manifest and the place in it, as
pre-commit's clientlib does: `bbvars.yml: targets[2] (web): ...`.

The per-target settings are the SETTINGS rows marked `per_target`: a row added there is accepted in `defaults:` and
in every target, and appears in the JSON Schema (manifest_schema.py)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Any

from bbvars.errors import InputError
from bbvars.models import Job, Target
from bbvars.request.documents import (
    Entry,
    Number,
    build_variables,
    check_variables,
    final_key,
    kind_name,
    load_mapping,
    parse_document,
    read_limited,
    refuse_credentials,
    render_value,
    shown,
)
from bbvars.request.manifest_values import mapping, names, place, setting_value, slug, text_value, unknown_keys
from bbvars.request.run import policy_of
from bbvars.request.settings import SETTINGS, Setting, Settings, surface_overrides
from bbvars.request.sources import ANYWHERE, Host, Unreadable, read_regular

VERSION = 1
STDIN = "-"
STDIN_LABEL = "the manifest on standard input"
TOP_KEYS = ("version", "workspace", "sources", "defaults", "targets")
SOURCE_KEYS = ("file",)
PLACE_KEYS = ("name", "workspace", "repository", "environment", "from", "include", "exclude", "variables")
MAX_TARGETS = 1000  # Bitbucket allows about 1,000 requests an hour: more targets than that cannot be one run
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/-]*\Z")  # no comma: TARGETS is a comma-separated list


def per_target_settings() -> dict[str, Setting]:
    return {s.name: s for s in SETTINGS if s.per_target}


@dataclass(frozen=True)
class Source:
    name: str
    file: str  # as written; "-" is standard input
    path: Path | None  # the file, relative to the manifest's directory; None for standard input

    @property
    def label(self) -> str:
        return f"sources.{self.name} ({'standard input' if self.path is None else shown(self.file, 200)})"


@dataclass(frozen=True)
class TargetSpec:
    """One entry of `targets:`, checked: where it writes, what it takes from which sources, its settings."""

    index: int
    name: str | None
    target: Target
    sources: tuple[str, ...]
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    variables: tuple[tuple[str, str], ...]  # literal KEY: value, rendered as text
    settings: dict  # the per-target settings: defaults, then the target's own

    @property
    def label(self) -> str:
        t = self.target
        place = (self.name or (f"{t.repository}/{t.environment}" if t.environment else t.repository)
                 or f"workspace {t.workspace}")
        return f"targets[{self.index}] ({place})"


@dataclass(frozen=True)
class Manifest:
    shown: str  # the path as messages name it
    sources: dict[str, Source]
    targets: tuple[TargetSpec, ...]

    def error(self, where: str, message: str) -> InputError:
        return InputError(f"{self.shown}: {where}: {message}")

    def select(self, names: Sequence[str]) -> list[TargetSpec]:
        """The targets named (in the manifest's order), or all of them."""
        if not names:
            return list(self.targets)
        known = {spec.name for spec in self.targets if spec.name}
        unknown = [name for name in dict.fromkeys(names) if name not in known]
        if unknown:
            listed = ", ".join(sorted(known)) or "none: give targets a name: to choose them"
            raise InputError(f"{self.shown}: no target named {', '.join(map(repr, unknown))} (the named targets: "
                             f"{listed})")
        return [spec for spec in self.targets if spec.name in names]


# -- reading and checking the manifest itself ---------------------------------------------------------------------


def read(path: str, stdin: IO | None = None, default_workspace: str | None = None,
         host: Host | None = None) -> Manifest:
    """The manifest at `path` ("-": standard input), checked whole; its sources are not read yet. With `host`, the
    manifest itself must be inside the host's tree (a CI setting names it); a path typed on the command line is
    the person's own choice, but still a regular file."""
    label = STDIN_LABEL if path == STDIN else shown(path, 200)
    if path == STDIN:
        stream = stdin if stdin is not None else sys.stdin
        text = read_limited(stream.buffer if hasattr(stream, "buffer") else stream, label)
        base = Path.cwd()
    else:
        if host is not None:
            host.check_inside(path, f"the manifest {label}")
        try:
            text = read_regular(path, label)
        except Unreadable as exc:
            raise InputError(f"cannot read the manifest {label}: {exc}") from None
        base = Path(path).parent
    return parse(load_mapping(text, label), label, base, default_workspace)


def parse(document: dict, label: str, base: Path, default_workspace: str | None = None) -> Manifest:
    """A loaded manifest document into checked values."""
    bare = Manifest(label, {}, ())
    unknown_keys(bare, "the top level", document, TOP_KEYS)
    version = document.get("version")
    if not (isinstance(version, Number) and version.number == VERSION):
        raise bare.error("version", f"must be {VERSION} (the format this bbvars reads), got "
                                    f"{'nothing' if version is None else shown(str(version), 20)}")
    workspace = document.get("workspace", default_workspace)
    if workspace is not None:
        text_value(bare, "workspace", workspace)
        slug(bare, "workspace", workspace)
    sources = parse_sources(bare, document.get("sources", {}), base)
    manifest = Manifest(label, sources, ())
    defaults = document.get("defaults", {})
    mapping(manifest, "defaults", defaults)
    unknown_keys(manifest, "defaults", defaults, tuple(per_target_settings()))
    default_settings = {name: setting_value(manifest, f"defaults.{name}", per_target_settings()[name], value)
                        for name, value in defaults.items()}
    targets = document.get("targets")
    if not isinstance(targets, list) or not targets:
        raise manifest.error("targets", "must be a list of one target or more")
    if len(targets) > MAX_TARGETS:
        raise manifest.error("targets", f"has {len(targets):,} targets, more than {MAX_TARGETS:,}: split the manifest "
                                        "(Bitbucket allows about 1,000 requests an hour)")
    specs = tuple(parse_target(manifest, index, entry, workspace, default_settings)
                  for index, entry in enumerate(targets))
    manifest = Manifest(label, sources, specs)
    refuse_repeats(manifest)
    unused = sorted(set(sources) - {name for spec in specs for name in spec.sources})
    if unused:
        raise manifest.error(f"sources.{unused[0]}", "is used by no target: remove it, or name it in a target's from")
    return manifest


def parse_sources(manifest: Manifest, sources: Any, base: Path) -> dict[str, Source]:
    mapping(manifest, "sources", sources)
    parsed: dict[str, Source] = {}
    for name, spec in sources.items():
        where = f"sources.{shown(str(name), 40)}"
        if not isinstance(name, str) or not NAME_PATTERN.match(name):
            raise manifest.error(where, "a source's name is letters, digits and - _ . : / (quote it in YAML)")
        mapping(manifest, where, spec)
        unknown_keys(manifest, where, spec, SOURCE_KEYS)
        if "file" not in spec:
            raise manifest.error(where, "needs file: the path of a document as --file reads (JSON, YAML, .env, "
                                        "`terraform output -json`), relative to the manifest (\"-\": standard "
                                        "input)")
        file = text_value(manifest, f"{where}.file", spec["file"])
        parsed[name] = Source(name, file, None if file == STDIN else base / file)
    readers = [name for name, source in parsed.items() if source.path is None]
    if readers and manifest.shown == STDIN_LABEL:
        raise manifest.error(f"sources.{readers[0]}", "reads standard input, which the manifest itself was read from: "
                                                      "give the manifest as a file")
    if len(readers) > 1:
        raise manifest.error(f"sources.{readers[1]}", f"reads standard input, as sources.{readers[0]} does: only one "
                                                      "source can")
    return parsed


def parse_target(manifest: Manifest, index: int, entry: Any, workspace: str | None,
                 defaults: dict) -> TargetSpec:
    where = f"targets[{index}]"
    mapping(manifest, where, entry)
    settings = per_target_settings()
    unknown_keys(manifest, where, entry, PLACE_KEYS + tuple(settings))
    name = entry.get("name")
    if name is not None:
        text_value(manifest, f"{where}.name", name)
        if not NAME_PATTERN.match(name):
            raise manifest.error(f"{where}.name", f"{shown(name)!r} is not a name: use letters, digits and - _ . : /")
    target_workspace = entry.get("workspace", workspace)
    repository, environment = entry.get("repository"), entry.get("environment")
    for key, value in (("workspace", target_workspace), ("repository", repository), ("environment", environment)):
        if value is not None:
            text_value(manifest, f"{where}.{key}", value)
    if target_workspace is None:
        raise manifest.error(where, "no workspace: set workspace at the top of the manifest or in the target")
    slug(manifest, f"{where}.workspace", target_workspace)
    slug(manifest, f"{where}.repository", repository)
    place(manifest, f"{where}.environment", environment)
    if environment is not None:
        if repository is None:
            raise manifest.error(where, "environment needs repository: deployment environments belong to one")
        if not environment.strip():
            raise manifest.error(f"{where}.environment", "is empty: give the environment's name, slug or uuid")
    spec = TargetSpec(index, name, Target(target_workspace, repository, environment), (), (), (), (), {})
    where = spec.label
    sources = names(manifest, f"{where}: from", entry.get("from", []))
    for source in sources:
        if source not in manifest.sources:
            declared = ", ".join(manifest.sources) or "none"
            raise manifest.error(where, f"from names {shown(source)!r}, which is not in sources (declared: "
                                        f"{declared})")
    include = names(manifest, f"{where}: include", entry.get("include", []))
    exclude = names(manifest, f"{where}: exclude", entry.get("exclude", []))
    if (include or exclude) and not sources:
        raise manifest.error(where, "include and exclude choose keys of the sources in from, and there is no from")
    variables = literal_variables(manifest, where, entry.get("variables", {}))
    if not sources and not variables:
        raise manifest.error(where, "gives no variables: add from (sources) or variables")
    own = {key: setting_value(manifest, f"{where}: {key}", settings[key], value)
           for key, value in entry.items() if key in settings}
    return replace(spec, sources=tuple(dict.fromkeys(sources)), include=include, exclude=exclude,
                   variables=variables, settings={**defaults, **own})


def literal_variables(manifest: Manifest, where: str, variables: Any) -> tuple[tuple[str, str], ...]:
    mapping(manifest, f"{where}: variables", variables)
    rendered = []
    for key, value in variables.items():
        if not isinstance(key, str):
            raise manifest.error(f"{where}: variables", f"the key {shown(str(key), 40)!r} is read as "
                                                        f"{kind_name(key)}, not text: quote it")
        try:
            rendered.append((key, render_value(key, value, "variables")))
        except InputError as exc:
            raise manifest.error(where, str(exc)) from None
    return tuple(rendered)


def refuse_repeats(manifest: Manifest) -> None:
    """Each name once, and each place once: two entries writing one place would each prune the other's keys and
    could give one key twice."""
    names: dict[str, TargetSpec] = {}
    places: dict[tuple, TargetSpec] = {}
    for spec in manifest.targets:
        if spec.name is not None:
            if spec.name in names:
                raise manifest.error(spec.label, f"has the name of {names[spec.name].label}: names must differ")
            names[spec.name] = spec
        t = spec.target
        # Slugs and environment names compare without case, as Bitbucket (and the environment lookup) does.
        place = (t.workspace.lower(), (t.repository or "").lower(), (t.environment or "").strip().lower())
        if place in places:
            raise manifest.error(spec.label, f"writes {t.describe()}, as {places[place].label} does: give each "
                                             "place once, with all its sources and variables")
        places[place] = spec


# -- the variables of each target -----------------------------------------------------------------------------------


def read_sources(manifest: Manifest, specs: Sequence[TargetSpec], stdin: IO | None = None,
                 host: Host = ANYWHERE) -> dict[str, list[Entry]]:
    """Each source the chosen targets use, read and parsed once: regular files inside the host's tree only."""
    entries: dict[str, list[Entry]] = {}
    for name in dict.fromkeys(name for spec in specs for name in spec.sources):
        source = manifest.sources[name]
        label = source.label
        if source.path is not None:
            why = host.outside(str(source.path))
            if why is not None:
                raise manifest.error(label, why)
        if source.path is None:
            stream = stdin if stdin is not None else sys.stdin
            if stream is None or stream.isatty():
                raise manifest.error(label, "reads standard input, and nothing is piped to it")
            text = read_limited(stream.buffer if hasattr(stream, "buffer") else stream, f"{manifest.shown}: {label}")
        else:
            try:
                text = read_regular(str(source.path), f"{manifest.shown}: {label}")
            except Unreadable as exc:
                hint = " (paths are relative to the manifest)" if exc.missing else ""
                raise manifest.error(label, f"cannot be read: {exc}{hint}") from None
        try:
            entries[name] = parse_document(text, label)
        except InputError as exc:
            raise InputError(f"{manifest.shown}: {exc}") from None
    return entries


EMPTY_SOURCE = ("holds no variables (`terraform output -json` prints {} when run away from the Terraform state, or "
                "before the first apply): run it where the Terraform state is, after the first apply")


def variables_of(manifest: Manifest, spec: TargetSpec, entries: dict[str, list[Entry]], options: dict):
    """The target's Variables: its sources' keys chosen by include/exclude (a later source overriding an earlier one),
    with prefix/upper applied, then its literal variables as written (replacing a source key that ends up the same);
    secured as `secured` says or a source marks them (a sensitive Terraform output), every key checked."""
    matched = {glob: False for glob in (*spec.include, *spec.exclude)}
    chosen: list[Entry] = []
    for name in spec.sources:
        for entry in entries[name]:
            included = not spec.include or any(fnmatchcase(entry.key, glob) for glob in spec.include)
            excluded = any(fnmatchcase(entry.key, glob) for glob in spec.exclude)
            for glob in matched:
                matched[glob] = matched[glob] or fnmatchcase(entry.key, glob)
            if included and not excluded:
                chosen.append(entry)
    if matched and not chosen and not any(entries[name] for name in spec.sources):
        # An empty input, not a pattern that misses: `terraform output -json` away from its state prints {}.
        if not options.get("allow_empty") or options.get("prune"):
            raise manifest.error(manifest.sources[spec.sources[0]].label, EMPTY_SOURCE + (
                "" if options.get("prune") else ", or set allow_empty: true to accept an empty input"))
        matched = {}
    for glob, hit in matched.items():
        if not hit:
            kind = "include" if glob in spec.include else "exclude"
            raise manifest.error(spec.label, f"{kind} {shown(glob)!r} matches no key of {', '.join(spec.sources)}")
    # A later source in `from` overrides an earlier one key by key, as a later --file does; a key any of them marks
    # sensitive stays secured whichever value wins. Keys that differ as given but meet after prefix/upper are refused.
    merged: dict[str, Entry] = {}
    for entry in chosen:
        earlier = merged.get(entry.key)
        merged[entry.key] = replace(entry, sensitive=True) if earlier is not None and earlier.sensitive else entry
    chosen = list(merged.values())
    prefix, upper = options.get("prefix", ""), options.get("upper", False)
    literal = [Entry(key, value, False, "variables") for key, value in spec.variables]
    try:
        given = {v.key: v for v in build_variables(literal)}
        sourced = build_variables(chosen, prefix=prefix, upper=upper)
    except InputError as exc:
        raise manifest.error(spec.label, str(exc).replace("(use --upper", "(use upper: true")) from None
    # A literal value replaces the source's, and stays secured if the source's was sensitive.
    sensitive = {v.key for v in sourced if v.secured}
    given = {key: replace(v, secured=True) if key in sensitive else v for key, v in given.items()}
    from_sources = [v for v in sourced if v.key not in given]
    if not from_sources and not given:
        if options.get("allow_empty") and not options.get("prune"):
            return []  # reported empty, and sent no request
        raise manifest.error(spec.label, f"gets no variables: {', '.join(spec.sources)} "
                                         f"{'has' if len(spec.sources) == 1 else 'have'} none that it chooses"
                                         + ("" if options.get("prune") else " (allow_empty: true accepts that)"))
    # `secured` names a key as the source gives it or as it is written.
    secured = set(options.get("secured", ()))
    names_of = {final_key(e.key, prefix, upper): {e.key, final_key(e.key, prefix, upper)} for e in chosen}
    names_of.update({key: {key} for key in given})
    unknown = sorted(secured - {"*"} - {name for v in (*from_sources, *given.values()) for name in names_of[v.key]})
    if unknown:
        raise manifest.error(spec.label, f"secured names {', '.join(map(shown, unknown))}, which this target does "
                                         "not write: check the spelling, include and exclude")
    variables = [replace(v, secured=v.secured or "*" in secured or bool(names_of[v.key] & secured))
                 for v in (*from_sources, *given.values())]
    try:
        check_variables(variables, Settings(allow_empty=True), lambda setting: setting.name)  # Bitbucket's total
    except InputError as exc:
        raise manifest.error(spec.label, str(exc)) from None
    return variables


def jobs(settings: Settings, stdin: IO | None = None, host: Host = ANYWHERE, confine_manifest: bool = False,
         label: Callable[[Setting], str] = lambda setting: setting.name) -> list[Job]:
    """The jobs of the manifest the settings name: only the chosen targets (`targets`), with the surface's
    per-target settings over every target's, each job's policy from the run's settings with the target's. `host`: the
    tree every source file must be in (the working directory, the clone, the workspace); with confine_manifest, the
    manifest too. `label` names the run's credentials in messages."""
    manifest = read(settings.manifest or "", stdin, settings.workspace, host if confine_manifest else None)
    chosen = manifest.select(settings.targets)
    entries = read_sources(manifest, chosen, stdin, host)
    overrides = surface_overrides(settings)
    result = []
    for spec in chosen:
        values = {**spec.settings, **overrides}
        target = spec.target
        options = replace(settings, workspace=target.workspace, repository=target.repository,
                          environment=target.environment, **values)
        variables = variables_of(manifest, spec, entries, values)
        try:
            refuse_credentials(variables, settings, label)
        except InputError as exc:
            raise manifest.error(spec.label, str(exc)) from None
        result.append(Job(target, tuple(variables), policy_of(options), spec.name))
    return result
