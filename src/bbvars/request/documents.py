"""Parse input documents (flat JSON, YAML mapping, `terraform output -json`, .env) into Variables."""

from __future__ import annotations

import datetime
import json
import math
import re
from dataclasses import dataclass, replace
from typing import IO, Callable, Iterable

from bbvars.errors import InputError
from bbvars.models import Variable
from bbvars.request.settings import BY_NAME, Setting, Settings

# Bitbucket: "The maximum length of all combined pipeline variable names and values should not exceed 120K characters".
MAX_TOTAL_CHARACTERS = 120_000
# Bitbucket sets no documented limit on one document; 16 MiB is far above any real set of variables and keeps memory bounded.
MAX_INPUT_BYTES = 16 * 1024 * 1024
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


def shown(text: str, limit: int = 60) -> str:
    """Text from the input, safe inside a one-line message: as it is when printable, else quoted with escapes."""
    return text[:limit] if text.isprintable() else repr(text[:limit])


class Number(str):
    """A number as the input wrote it. Alone it is stored as written (`1.10` stays `1.10`, `007` stays `007`), as a
    value copied by hand would be; inside a list or map it is the number it stands for."""

    number: int | float

    def __new__(cls, text: str, number: int | float) -> Number:
        self = super().__new__(cls, text)
        self.number = number
        return self


def _json_number(convert):
    return lambda text: Number(text, convert(text))


def read_limited(stream: IO, source: str) -> str:
    # Read at most one byte past the limit, so an endless stream cannot exhaust memory.
    data = stream.read(MAX_INPUT_BYTES + 1)
    if isinstance(data, bytes):
        check_size(data, source)  # before decoding: a character cut at the limit is not the problem to report
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{source} is not UTF-8 text") from None
    check_size(data, source)
    return data


def check_size(text: str | bytes, source: str) -> None:
    if len(text) > MAX_INPUT_BYTES or (
        isinstance(text, str) and len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES
    ):
        raise InputError(f"{source} is larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB: split the variables")


def render_value(key: str, value: object, source: str) -> str:
    """Values as Bitbucket stores them: text. Scalars as written, lists and maps as compact JSON."""
    if value is None:
        raise InputError(f"{source}: {shown(key)} is null; give it a value or leave it out")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Number):
        if isinstance(value.number, float) and not math.isfinite(value.number):
            raise InputError(f"{source}: {shown(key)} is {value.number}, not a finite number")
        return str.__str__(value)
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(f"{source}: {shown(key)} is {value}, not a finite number")
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()  # YAML turns 2024-01-01 into a date; give the text back
    if isinstance(value, (list, dict)):
        return _compact_json(key, value, source)
    raise InputError(f"{source}: {shown(key)} has a value bbvars cannot store ({kind_name(value)})")


def _compact_json(key: str, value: list | dict, source: str) -> str:
    too_large = InputError(
        f"{source}: {shown(key)} would be larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB as JSON (YAML aliases "
        "expand): write the value out"
    )
    try:
        # Measured before encoding: YAML aliases can make a small document stand for an enormous value.
        if _json_size_floor(value, {}) > MAX_INPUT_BYTES:
            raise too_large
        text = json.dumps(_as_numbers(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_json_extra)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{source}: {shown(key)} cannot be written as JSON ({exc})") from None
    except RecursionError:
        raise InputError(f"{source}: {shown(key)} is nested too deeply") from None
    if len(text) > MAX_INPUT_BYTES:
        raise too_large
    return text


def _as_numbers(value: object, path: frozenset[int] = frozenset()) -> object:
    """Inside lists and maps, a Number is written as the JSON number it stands for."""
    if isinstance(value, Number):
        return value.number
    if isinstance(value, (list, dict)):
        if id(value) in path:
            raise ValueError("it contains itself")  # a YAML alias to an enclosing node
        inner = path | {id(value)}
        if isinstance(value, list):
            return [_as_numbers(item, inner) for item in value]
        return {key: _as_numbers(item, inner) for key, item in value.items()}
    return value


def _json_size_floor(value: object, sizes: dict[int, int]) -> int:
    """The least number of characters `value` takes as JSON, counting every repeat of a shared (aliased) part, in
    time linear in the distinct parts."""
    if isinstance(value, str):
        return len(value) + 2
    if not isinstance(value, (list, dict)):
        return 1
    if id(value) in sizes:
        return sizes[id(value)]
    sizes[id(value)] = 0  # a cycle: json.dumps refuses it
    if isinstance(value, dict):
        size = 1 + sum(len(str(k)) + 4 + _json_size_floor(v, sizes) for k, v in value.items())
    else:
        size = 1 + sum(1 + _json_size_floor(v, sizes) for v in value)
    sizes[id(value)] = size
    return size


def _json_extra(value: object) -> str:
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    raise ValueError(f"a value bbvars cannot store ({kind_name(value)})")


def kind_name(value: object) -> str:
    """A value's kind in the words of JSON and YAML, for messages (never Python's type names)."""
    kinds = ((type(None), "null (empty)"), (bool, "a boolean (true/false)"), ((int, float, Number), "a number"),
             ((datetime.date, datetime.datetime), "a date"), (str, "text"), ((set, frozenset), "a set"),
             ((list, tuple), "a list"), (dict, "a mapping"), (bytes, "binary data"))
    return next((name for kind, name in kinds if isinstance(value, kind)), "another kind")


def load_mapping(text: str, source: str) -> dict:
    check_size(text, source)
    if not text.strip():
        raise InputError(f"{source} is empty: give a JSON object, a YAML mapping or `terraform output -json`")
    try:
        document = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, source),
                              parse_int=_json_number(int), parse_float=_json_number(float))
    except ValueError as json_error:
        document = _load_yaml(text, source, json_error)
    except RecursionError:
        raise InputError(f"{source} is nested too deeply") from None
    if not isinstance(document, dict):
        kind = kind_name(document)
        raise InputError(f"{source} must be a mapping of KEY: value, but its top level is {kind}")
    return document


def _unique_keys(pairs: list[tuple[str, object]], source: str) -> dict:
    """A JSON object, refusing a key given twice (json.loads silently keeps the last), as YAML input does."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise InputError(f"{source}: key {twice!r} appears twice")
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
                    raise InputError(f"{source}: key {key!r} appears twice")
                seen.add(key)
            except TypeError:
                pass  # an unhashable key: SafeLoader refuses it below with a YAMLError
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    def construct_number(loader, node):
        build = loader.construct_yaml_int if node.tag.endswith(":int") else loader.construct_yaml_float
        return Number(node.value, build(node))

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    # Numbers and dates keep the text the user wrote: YAML 1.1 would turn 1.10 into 1.1, 0755 into 493 and
    # 2024-01-01 10:00:00 into another spelling of the time.
    Loader.add_constructor("tag:yaml.org,2002:int", construct_number)
    Loader.add_constructor("tag:yaml.org,2002:float", construct_number)
    Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))
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
        return [
            Entry(str(key), render_value(str(key), out["value"], source), out["sensitive"], source)
            for key, out in document.items()
        ]
    if looks_like_terraform(document):
        raise InputError(
            f"{source} looks like Terraform but is not `terraform output -json` "
            "(every output needs value, type and sensitive): pipe `terraform output -json` instead"
        )
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
    return key.replace("-", "_").upper() if upper else key


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


def check_variables(variables: list[Variable], settings: Settings, label: Callable[[Setting], str]) -> None:
    """What the input of one target must meet before any request: not empty (unless allow_empty; an empty input with
    prune is refused by the engine whatever allow_empty says), and within Bitbucket's total for names and values."""
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
