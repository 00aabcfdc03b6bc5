"""Parse input documents (flat JSON, YAML mapping, `terraform output -json`, .env) into Variables."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import cast

from bbvars.errors import InputError
from bbvars.models import Variable
from bbvars.redaction import MIN_LENGTH  # shorter secrets would match by chance; the redactor skips them too
from bbvars.request.settings import BY_NAME, SECRETS, Setting, Settings

# MAX_INPUT_BYTES and read_limited are re-exported: the surfaces and the tests import them from here.
from bbvars.request.values import (  # noqa: F401
    MAX_INPUT_BYTES,
    Number,
    check_expansion,
    check_size,
    kind_name,
    read_limited,
    render_value,
    shown,
    too_long,
)

# Bitbucket: "The maximum length of all combined pipeline variable names and values should not exceed 120K characters".
MAX_TOTAL_CHARACTERS = 120_000
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
TERRAFORM_OUTPUT_FIELDS = frozenset({"value", "type", "sensitive"})


@dataclass(frozen=True)
class Entry:
    """One key/value as the input gave it, before prefix/upper are applied."""

    key: str
    value: str
    sensitive: bool
    source: str

    def __repr__(self) -> str:
        return f"Entry(key={self.key!r}, sensitive={self.sensitive}, source={self.source!r})"


def _json_number(convert, source: str):
    def number(text: str) -> Number:
        try:
            return Number(text, convert(text))
        except ValueError:  # only an integer too long for Python to read (int's digit limit) fails here
            raise too_long(text, source) from None

    return number


# What `terraform output` prints for people (not `terraform output -json`): `name = "text"`, `name = <sensitive>`,
# `name = [`, `name = {`, `name = 3`, `name = true`, `name = tolist([`, `name = <<EOT`. A .env line never needs the
# spaces around `=` that Terraform always writes.
TERRAFORM_HUMAN = re.compile(r'[A-Za-z_][A-Za-z0-9_-]* = (<sensitive>|"|\[|\{|-?[0-9]|true\Z|false\Z|null\Z|'
                             r'to(list|set|map|object|tuple)\(|<<)')


def looks_like_terraform_text(text: str) -> bool:
    """The first line that is neither blank nor a comment is one Terraform's human output would print."""
    first = next((line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
    return TERRAFORM_HUMAN.match(first) is not None


def load_mapping(text: str, source: str) -> dict:
    check_size(text, source)
    if not text.strip():
        raise InputError(f"{source} is empty: give a JSON object, a YAML mapping or `terraform output -json`")
    try:
        document = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, source),
                              parse_int=_json_number(int, source), parse_float=_json_number(float, source))
    except ValueError as json_error:
        document = _load_yaml(text, source, json_error)
    except RecursionError:
        raise InputError(f"{source} is nested too deeply") from None
    if not isinstance(document, dict):
        raise InputError(f"{source} must be a mapping of KEY: value, but its top level is {kind_name(document)}")
    return document


def _unique_keys(pairs: list[tuple[str, object]], source: str) -> dict:
    """A JSON object, refusing a key given twice (json.loads silently keeps the last), as YAML input does."""
    document = dict(pairs)
    if len(document) != len(pairs):
        counted = Counter(key for key, _ in pairs)
        twice = next(key for key, _ in pairs if counted[key] > 1)
        raise InputError(f"{source}: key {shown(twice)!r} appears twice")
    return document


def _load_yaml(text: str, source: str, json_error: ValueError) -> object:
    import yaml  # only when the input is not JSON: keeps start-up light

    class Loader(yaml.SafeLoader):
        """Safe YAML, with duplicate keys refused (PyYAML silently keeps the last)."""

    def construct_mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base`: SafeLoader merges it below, and the mapping's own keys may override
            key = loader.construct_object(key_node, deep=deep)
            try:
                if key in seen:
                    raise InputError(f"{source}: key {shown(str(key))!r} appears twice")
                seen.add(key)
            except TypeError:
                pass  # an unhashable key: SafeLoader refuses it below with a YAMLError
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    def construct_number(loader, node):
        build = loader.construct_yaml_int if node.tag.endswith(":int") else loader.construct_yaml_float
        try:
            return Number(node.value, build(node))
        except ValueError:
            if isinstance(node.value, str) and sum(c.isdigit() for c in node.value) > sys.get_int_max_str_digits():
                raise too_long(node.value, source) from None
            raise

    def construct_omap(loader, node):
        """An ordered mapping is a mapping (bbvars keeps every mapping's order): a JSON object, a key given once."""
        pairs = {}
        for item in node.value if isinstance(node, yaml.SequenceNode) else ():
            if not isinstance(item, yaml.MappingNode) or len(item.value) != 1:
                break
            key = loader.construct_object(item.value[0][0], deep=True)
            if key in pairs:
                raise InputError(f"{source}: key {shown(str(key))!r} appears twice")
            pairs[key] = loader.construct_object(item.value[0][1], deep=True)
        else:
            return pairs
        raise InputError(f"{source}: a !!omap value is a list of one-key mappings")

    def refuse_tag(loader, node):
        # A list of pairs that may repeat a key, a set, bytes: none has a text form a person would expect.
        raise InputError(f"{source}: a value tagged !!{node.tag.rpartition(':')[2]} has no text form "
                         "Bitbucket can store: write it as a mapping, a list or text")

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    # Numbers and dates keep the text the user wrote: YAML 1.1 would turn 1.10 into 1.1, 0755 into 493 and
    # 2024-01-01 10:00:00 into another spelling of the time.
    Loader.add_constructor("tag:yaml.org,2002:int", construct_number)
    Loader.add_constructor("tag:yaml.org,2002:float", construct_number)
    Loader.add_constructor("tag:yaml.org,2002:timestamp",
                           lambda loader, node: loader.construct_scalar(cast(yaml.ScalarNode, node)))
    Loader.add_constructor("tag:yaml.org,2002:omap", construct_omap)
    for tag in ("pairs", "set", "binary"):
        Loader.add_constructor(f"tag:yaml.org,2002:{tag}", refuse_tag)
    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as yaml_error:
        looks_json = text.lstrip()[:1] in ("{", "[")
        detail = f"{json_error}" if looks_json else str(yaml_error).splitlines()[0]
        raise InputError(f"{source} is neither valid JSON nor YAML: {detail}") from None
    except RecursionError:
        raise InputError(f"{source} is nested too deeply") from None
    except (ValueError, TypeError, AttributeError, OverflowError):
        # An explicit tag that does not fit its value (`!!int hunter2`). The text is not shown: it may be a secret
        # that is not known as one yet.
        raise InputError(f"{source}: a value does not fit its YAML tag (such as !!int on text): remove the tag or "
                         "quote the value") from None


def is_terraform_output(document: dict) -> bool:
    return bool(document) and all(
        isinstance(entry, dict) and TERRAFORM_OUTPUT_FIELDS <= entry.keys() and isinstance(entry["sensitive"], bool)
        for entry in document.values()
    )


def looks_like_terraform(document: dict) -> bool:
    """Terraform documents that are not `terraform output -json` (state, `show -json`, hand-edited)."""
    if {"terraform_version", "format_version"} & document.keys():
        return True
    values = document.get("values")
    if isinstance(values, dict) and {"outputs", "root_module"} & values.keys():
        return True  # `terraform show -json`
    outputs = document.get("outputs")
    if isinstance(outputs, dict) and outputs and all(isinstance(o, dict) and "value" in o for o in outputs.values()):
        return True  # a state file
    return any(isinstance(entry, dict) and {"value", "sensitive"} <= entry.keys() for entry in document.values())


def parse_document(text: str, source: str) -> list[Entry]:
    from bbvars.request import dotenv

    if looks_like_terraform_text(text):
        # Read as .env it would store `<sensitive>` and quoted text as plain values.
        raise InputError(f"{source} looks like the text `terraform output` prints for people, which leaves out "
                         "sensitive values: pipe `terraform output -json` instead (a .env file writes KEY=value, "
                         "without spaces around =)")
    if dotenv.looks_like_dotenv(text):  # never JSON, whose first line cannot be KEY=...
        check_size(text, source)
        return [Entry(key, value, False, source) for key, value in dotenv.parse(text, source)]
    document = load_mapping(text, source)
    for key in document:
        if not isinstance(key, str):
            # YAML reads `on:`, `yes:`, `null:`, `1:` or a date as non-text; str() would invent "True" or "None".
            raise InputError(
                f"{source}: the key {str(key)[:40]!r} is read as {kind_name(key)}, not text: quote it"
            )
    if is_terraform_output(document):
        check_expansion((out["value"] for out in document.values()), source)
        return [
            Entry(str(key), render_value(str(key), out["value"], source), out["sensitive"], source)
            for key, out in document.items()
        ]
    if looks_like_terraform(document):
        raise InputError(
            f"{source} looks like Terraform but is not `terraform output -json` "
            "(every output needs value, type and sensitive): pipe `terraform output -json` instead"
        )
    check_expansion(document.values(), source)
    return [Entry(str(key), render_value(str(key), value, source), False, source) for key, value in document.items()]


def parse_pairs(pairs: Iterable[str], source: str = "--var") -> list[Entry]:
    entries = []
    for number, pair in enumerate(pairs, start=1):
        key, sep, value = pair.partition("=")
        if not sep:
            # Nothing of the argument is shown: without '=' there is no telling key from value, and
            # `--var $SECRET` or `--var KEY:secret` would put a secret in the message.
            raise InputError(f"{source} number {number} has no '=' (its text is not shown): write {source} KEY=VALUE")
        entries.append(Entry(key.strip(), value, False, source))
    return entries


def final_key(key: str, prefix: str, upper: bool) -> str:
    key = prefix + key
    # Only an ASCII key is upper-cased: str.upper() turns look-alikes into ASCII (`ſecret` -> SECRET, `ﬁle` -> FILE,
    # `ıd` -> ID), so a non-ASCII key stays as written and is refused as a variable name.
    return key.replace("-", "_").upper() if upper and key.isascii() else key


def build_variables(
    entries: Iterable[Entry], *, prefix: str = "", upper: bool = False, secured: Iterable[str] = ()
) -> list[Variable]:
    """Apply prefix/upper, check keys and collisions, decide what is secured."""
    secured = set(secured)
    secure_all = "*" in secured
    by_key: dict[str, Entry] = {}
    variables: list[Variable] = []
    for entry in entries:
        key = final_key(entry.key, prefix, upper)
        if not KEY_PATTERN.match(key):
            hint = " (use --upper to turn hyphens into underscores)" if "-" in key else ""
            raise InputError(
                f"{entry.source}: {key!r} is not a valid Bitbucket variable name: use ASCII letters, digits and "
                f"underscores, not starting with a digit{hint}"
            )
        if key in by_key:
            first = by_key[key]
            raise InputError(
                f"two inputs give the key {key}: {first.key!r} from {first.source} and {entry.key!r} from "
                f"{entry.source}"
            )
        by_key[key] = entry
        is_secured = secure_all or entry.sensitive or key in secured or entry.key in secured
        variables.append(Variable(key, entry.value, is_secured))
    unknown = sorted(secured - {"*"} - by_key.keys() - {e.key for e in by_key.values()})
    if unknown:
        raise InputError(
            f"the secured keys name {', '.join(map(shown, unknown))}, which the input does not have: check the spelling"
        )
    return variables


def merge(sources: Iterable[list[Entry]]) -> list[Entry]:
    """Later sources override earlier ones key by key (files in the order given, then --var). Overriding never
    downgrades: a key that any source marks sensitive stays secured, whichever source's value wins. Keys that
    differ as given but meet after --prefix/--upper are not an override: build_variables refuses them."""
    merged: dict[str, Entry] = {}
    for entries in sources:
        for entry in entries:
            earlier = merged.get(entry.key)
            if earlier is not None and earlier.sensitive and not entry.sensitive:
                entry = replace(entry, sensitive=True)
            merged[entry.key] = entry
    return list(merged.values())


def collect(documents: Iterable[tuple[str, str]], pairs: Iterable[str], *, prefix: str, upper: bool,
            secured: Iterable[str]) -> list[Variable]:
    """All sources -> checked Variables. documents: (source name, text), in the order they override each other."""
    sources = [parse_document(text, source) for source, text in documents]
    pair_entries = parse_pairs(pairs)
    given: dict[str, int] = {}
    for number, entry in enumerate(pair_entries, start=1):
        if entry.key in given:  # within one source a key given twice is a mistake, as in a document
            raise InputError(f"--var numbers {given[entry.key]} and {number} both give the key {shown(entry.key)}")
        given[entry.key] = number
    sources.append(pair_entries)
    return build_variables(merge(sources), prefix=prefix, upper=upper, secured=secured)


def refuse_credentials(variables: Iterable[Variable], settings: Settings, label: Callable[[Setting], str]) -> None:
    """A plain variable is readable by everyone with access to the repository: one that holds the run's own
    credential (a document that swept up an environment, a value pasted from the wrong place) is refused, naming the
    key and the setting, never the secret. A secured variable may hold it."""
    secrets = [(name, value) for name in SECRETS if (value := getattr(settings, name)) and len(value) >= MIN_LENGTH]
    for variable in variables:
        if variable.secured:
            continue
        for name, secret in secrets:
            if secret in variable.value:
                raise InputError(
                    f"the plain variable {variable.key} holds the run's credential {label(BY_NAME[name])} (its value "
                    "is not shown): remove it from the input, or mark the key secured"
                )


def check_variables(variables: list[Variable], settings: Settings, label: Callable[[Setting], str]) -> None:
    """What the input of one target must meet before any request: not empty (unless allow_empty; an empty input with
    prune is refused by the engine whatever allow_empty says), within Bitbucket's total for names and values, and no
    plain variable holding the run's own credential."""
    refuse_credentials(variables, settings, label)
    if not variables and not settings.allow_empty and not settings.prune:
        raise InputError(
            "the input has no variables (`terraform output -json` prints {} when run away from the Terraform state, "
            "or before the first apply): run it where the Terraform state is, after the first apply, or set "
            f"{label(BY_NAME['allow_empty'])} to accept an empty input"
        )
    total = sum(len(v.key) + len(v.value) for v in variables)
    if settings.fingerprint:  # the fingerprint variable counts too: a key's length + 24 per secured variable
        from bbvars.sync.fingerprints import rendered_length

        total += rendered_length(v.key for v in variables if v.secured)
    if total > MAX_TOTAL_CHARACTERS:
        raise InputError(
            f"the input's {len(variables)} variables take {total:,} characters in names and values"
            + (" (with their fingerprints)" if settings.fingerprint else "") + ", over the "
            f"{MAX_TOTAL_CHARACTERS:,} Bitbucket allows for all the variables of a target together: move some to "
            "another target (a repository, environment or workspace), or shorten them"
        )


def variables_of(settings: Settings, label: Callable[[Setting], str]) -> list[Variable]:
    """The checked variables of a surface that takes one document as a setting (pipe, action, Terraform)."""
    setting = BY_NAME["variables"]
    if settings.variables is None or not settings.variables.strip():
        raise InputError(f"{label(setting)} is not set: give the variables as JSON, YAML or `terraform output -json`")
    variables = collect([(label(setting), settings.variables)], (), prefix=settings.prefix, upper=settings.upper,
                        secured=settings.secured)
    check_variables(variables, settings, label)
    return variables
