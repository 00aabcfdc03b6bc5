"""Text and values as documents give them: reading a document within its size limit, a number as written, and a
value as Bitbucket stores it (text; lists and maps as compact JSON)."""

from __future__ import annotations

import datetime
import json
import math
import sys
from collections.abc import Iterable
from typing import IO

from bbvars.errors import InputError

# Bitbucket sets no documented limit on one document; 16 MiB is far above any real set of variables and keeps memory
# bounded.
MAX_INPUT_BYTES = 16 * 1024 * 1024


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


def too_long(text: str, source: str) -> InputError:
    """A number of more digits than Python converts (sys.get_int_max_str_digits, 4,300 by default): said as what it
    is, with the fix (its digits are not shown: the number may be a secret)."""
    digits = sum(char.isdigit() for char in text)
    return InputError(f"{source}: a number has {digits:,} digits, too long to read as a number (at most "
                      f"{sys.get_int_max_str_digits():,}): quote it to keep it as text")


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
        text = json.dumps(_as_numbers(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_json_extra)
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


def check_expansion(values: Iterable[object], source: str) -> None:
    """A document's values together within MAX_INPUT_BYTES as JSON, before any is rendered: YAML aliases let a
    short document name one large value under many keys, each alone within the per-value limit."""
    sizes: dict[int, int] = {}  # shared: a part aliased by many keys is measured once, counted at every use
    total = 0
    for value in values:
        total += _json_size_floor(value, sizes)
        if total > MAX_INPUT_BYTES:
            raise InputError(f"{source}: its values would be larger than {MAX_INPUT_BYTES // (1024 * 1024)} MiB "
                             "together as JSON (YAML aliases expand): write them out")


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
