"""The CLI surface's view of the settings table: flag labels, argparse options, Settings from flags plus the
environment the CLI reads, and README's settings table (a test compares it)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bbvars.request.settings import BY_NAME, SETTINGS, Setting, Settings, check_text, coerce, from_strings, parse_keys


def cli_label(setting: Setting) -> str:
    return setting.flags[0] if setting.flags else ((setting.env or setting.name) if setting.cli_reads_env
                                                   else setting.name)


def cli_voice(name: str) -> str:
    """How the CLI names a setting that a message names by marker (bbvars.errors.setting)."""
    return cli_label(BY_NAME[name])


class Once(argparse.Action):
    """A flag that takes one value may be given once: `-e Test -e Staging` would otherwise silently keep the last."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{'/'.join(self.option_strings)} is given twice: give it once (no value is shown)")
        setattr(namespace, self.dest, values)


def add_arguments(parser, names: tuple[str, ...]) -> None:
    """argparse options for the named settings, straight from the table."""
    for name in names:
        setting = BY_NAME[name]
        options: dict = {"help": setting.help, "dest": name, "default": None}
        if setting.kind == "bool":
            options["action"] = "store_true"
        elif setting.kind in ("keys", "files", "pairs"):
            options["action"] = "append"
            options["metavar"] = setting.metavar or {"keys": "KEY", "files": "PATH", "pairs": "KEY=VALUE"}[setting.kind]
        elif setting.kind == "choice":
            options["choices"] = setting.choices  # argparse checks them, --help and completion list them
        else:
            options["type"] = lambda raw, s=setting: coerce(s, raw, s.flags[0])
            options["metavar"] = setting.metavar or name.upper()
            options["action"] = Once
        if setting.default not in (None, (), "", False):
            options["help"] += f" (default: {setting.default})"
        parser.add_argument(*setting.flags, **options)


def from_cli(args, environ: Mapping[str, str]) -> Settings:
    """Flags given + the BITBUCKET_*/ATLASSIAN_* environment; no other ambient variable may change what the CLI does
    (but for the stored login's location, XDG_CONFIG_HOME or HOME)."""
    raw = {s.name: environ.get(s.env, "") for s in SETTINGS if s.cli_reads_env and s.env}
    settings = from_strings(raw, cli_label)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        given = getattr(args, setting.name, None)
        if given is None:
            continue
        if setting.kind in ("keys", "files", "pairs"):
            for item in given:
                check_text(item, setting.flags[0])
        if setting.kind == "keys":
            given = tuple(key for item in given for key in parse_keys(item))
        elif setting.kind in ("files", "pairs"):
            given = tuple(given)
        values[setting.name] = given
    return replace(settings, **values)


def markdown_table() -> str:
    """README's settings table, so the documentation cannot drift from the code (a test compares them)."""

    def code(text: str | None) -> str:
        return f"`{text}`" if text else "-"

    rows = ["| setting | CLI | pipe variable / `docker run -e` | action input | Terraform query key | default |",
            "|---|---|---|---|---|---|"]
    for s in SETTINGS:
        if s.flags:
            cli = ", ".join(f"`{flag}`" for flag in s.flags)
        elif s.cli_reads_env:
            cli = f"env `{s.env}`"
        elif s.name == "command":
            cli = "subcommand"
        elif s.name == "variables":
            cli = "stdin, `--file`, `--var`"
        else:
            cli = "-"
        pipe = code(s.env) + (f" (else `${s.env_fallback}`)" if s.env_fallback else "")
        default = "" if s.default in (None, (), "") else f"`{str(s.default).lower()}`"
        rows.append(f"| {s.help} | {cli} | {pipe} | {code(s.action_input)} | {code(s.query_key)} | {default} |")
    return "\n".join(rows)
