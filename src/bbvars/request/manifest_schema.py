"""The manifest's JSON Schema (schema/manifest.schema.json, for editors), generated from the same settings table
as the manifest's parser: `python -m bbvars.request.manifest_schema > schema/manifest.schema.json`; a test
compares them."""

from __future__ import annotations

import json
from typing import Any

from bbvars.request.manifest import MAX_TARGETS, NAME_PATTERN, VERSION, per_target_settings
from bbvars.request.settings import Setting

# places.UNPRINTABLE, as a JSON Schema pattern: no control character, no line or paragraph separator.
ONE_LINE = "^[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]*$"


def setting_schema(setting: Setting) -> dict:
    kinds: dict[str, dict[str, Any]] = {
        "bool": {"type": "boolean"},
        "keys": {"$ref": "#/$defs/names"},
        "int": {"type": "integer"},
        "number": {"type": "number"},
        "choice": {"enum": list(setting.choices)},
    }
    schema: dict[str, Any] = {"description": setting.help, **kinds.get(setting.kind, {"type": "string"})}
    if setting.bounds and setting.kind in ("int", "number"):
        low, high = setting.bounds
        schema.update(minimum=int(low) if setting.kind == "int" else low,
                      maximum=int(high) if setting.kind == "int" else high)
    return schema


def json_schema() -> dict:
    settings = {name: setting_schema(s) for name, s in per_target_settings().items()}
    target = {
        "type": "object",
        "additionalProperties": False,
        "anyOf": [{"required": ["from"]}, {"required": ["variables"]}],
        "dependentRequired": {"environment": ["repository"], "include": ["from"], "exclude": ["from"]},
        "properties": {
            "name": {"type": "string", "pattern": "^" + NAME_PATTERN.pattern.removesuffix(r"\Z") + "$",
                     "description": "what --target (TARGETS, targets) chooses it by; unique"},
            "workspace": {"$ref": "#/$defs/slug", "description": "else the manifest's workspace"},
            "repository": {"$ref": "#/$defs/slug", "description": "omit for workspace variables"},
            "environment": {"type": "string", "minLength": 1, "pattern": ONE_LINE,
                            "description": "deployment environment: name, slug or uuid (needs repository); one "
                                           "line of printable text"},
            "from": {"$ref": "#/$defs/names", "description": "the sources whose keys this target takes"},
            "include": {"$ref": "#/$defs/names",
                        "description": "only source keys matching one of these globs (before prefix/upper)"},
            "exclude": {"$ref": "#/$defs/names", "description": "leave out source keys matching these globs"},
            "variables": {"type": "object", "description": "literal KEY: value, over the sources' keys",
                          "additionalProperties": {"type": ["string", "number", "boolean", "array", "object"]}},
            **settings,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/bbvars/bbvars/schema/manifest.schema.json",
        "title": "bbvars manifest",
        "description": "Many targets and the sources that feed them: bbvars sync --manifest PATH",
        "type": "object",
        "additionalProperties": False,
        "required": ["version", "targets"],
        "properties": {
            "version": {"const": VERSION},
            "workspace": {"$ref": "#/$defs/slug", "description": "the workspace of every target that names none"},
            "sources": {
                "type": "object",
                "description": "named documents, each read once, as --file reads them: JSON, YAML, .env, "
                               "`terraform output -json`",
                "propertyNames": {"pattern": "^" + NAME_PATTERN.pattern.removesuffix(r"\Z") + "$"},
                "additionalProperties": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "minLength": 1,
                                            "description": "relative to the manifest; \"-\" is standard input"}},
                },
            },
            "defaults": {"type": "object", "additionalProperties": False, "properties": settings,
                         "description": "per-target settings for every target that does not set them"},
            "targets": {"type": "array", "minItems": 1, "maxItems": MAX_TARGETS, "items": target},
        },
        "$defs": {
            "slug": {"type": "string", "pattern": r"^(\{[0-9A-Fa-f-]+\}|[A-Za-z0-9_.-]+)$"},
            "names": {"oneOf": [{"type": "string", "minLength": 1},
                                {"type": "array", "items": {"type": "string", "minLength": 1}}]},
        },
    }


if __name__ == "__main__":  # python -m bbvars.request.manifest_schema > schema/manifest.schema.json
    print(json.dumps(json_schema(), indent=2))
