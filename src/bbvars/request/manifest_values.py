"""The manifest's values, as YAML or JSON gives them, checked and turned into typed ones; every error names the
manifest and where in it (the Manifest's `error`)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bbvars.errors import InputError
from bbvars.request.documents import Number, shown
from bbvars.request.places import check_place, check_slug
from bbvars.request.settings import Setting
from bbvars.request.values import kind_name

if TYPE_CHECKING:
    from bbvars.request.manifest import Manifest


def kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Number):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    return "a mapping" if isinstance(value, dict) else "nothing" if value is None else kind_name(value)


def mapping(manifest: Manifest, where: str, value: object) -> None:
    if not isinstance(value, dict):
        raise manifest.error(where, f"must be a mapping, but it is {kind_of(value)}")


def text_value(manifest: Manifest, where: str, value: object) -> str:
    if not isinstance(value, str) or isinstance(value, Number):
        raise manifest.error(where, f"must be text, but it is {kind_of(value)}")
    return value


def slug(manifest: Manifest, where: str, value: str | None) -> None:
    try:
        check_slug(value, where.rpartition(".")[2])
    except InputError as exc:
        raise manifest.error(where.rpartition(".")[0] or where, str(exc)) from None


def place(manifest: Manifest, where: str, value: str | None) -> None:
    """An environment's name: one line of printable text, as every place name (places.py)."""
    try:
        check_place(value, where.rpartition(".")[2])
    except InputError as exc:
        raise manifest.error(where.rpartition(".")[0] or where, str(exc)) from None


def names(manifest: Manifest, where: str, value: object) -> tuple[str, ...]:
    """One text or a list of texts."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and not isinstance(i, Number) for i in items):
        raise InputError(f"{manifest.shown}: {where} must be text or a list of texts, but it is {kind_of(value)}")
    if any(not item.strip() for item in items):
        raise InputError(f"{manifest.shown}: {where} has an empty entry")
    return tuple(items)


def unknown_keys(manifest: Manifest, where: str, value: dict, allowed: Sequence[str]) -> None:
    for key in value:
        if key not in allowed:
            text = str(key)
            close = difflib.get_close_matches(text, allowed, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise manifest.error(where, f"unknown key {shown(text, 40)!r}{hint}: it takes {', '.join(allowed)}")


def setting_value(manifest: Manifest, where: str, setting: Setting, value: object) -> object:
    """A per-target setting as the manifest writes it (YAML/JSON types) into the Settings field's type."""
    if setting.kind == "bool":
        if not isinstance(value, bool):
            raise InputError(f"{manifest.shown}: {where} must be true or false, but it is {kind_of(value)}")
        return value
    if setting.kind == "keys":
        return names(manifest, where, value)
    if setting.kind in ("int", "number"):
        whole = isinstance(value, Number) and isinstance(value.number, int)
        if not isinstance(value, Number) or (setting.kind == "int" and not whole):
            wanted = "a whole number" if setting.kind == "int" else "a number"
            raise InputError(f"{manifest.shown}: {where} must be {wanted}, but it is {kind_of(value)}")
        low, high = setting.bounds or (float("-inf"), float("inf"))
        if not low <= value.number <= high:
            raise InputError(f"{manifest.shown}: {where} must be between {low:g} and {high:g}, got {value}")
        return value.number
    if setting.kind == "choice":
        if value not in setting.choices:
            raise InputError(f"{manifest.shown}: {where} must be one of {', '.join(setting.choices)}")
        return value
    if not isinstance(value, str) or isinstance(value, Number):
        raise InputError(f"{manifest.shown}: {where} must be text, but it is {kind_of(value)}")
    return str(value)
