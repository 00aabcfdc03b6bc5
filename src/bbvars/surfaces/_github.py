"""The GitHub Actions log writer: everything the action prints goes through here, escaped by GitHub's rules.

Workflow commands are lines on stdout. Their data and properties are escaped as @actions/core's toCommandValue /
escapeData / escapeProperty do (the runner undoes it), and a plain line can never become a command: line breaks in
it are shown as `\\n`, and a line that would start with `::` (or the old `##[`) is prefixed. The step summary is
Markdown: text in it is escaped so a name cannot add markup, a table cell or HTML."""

from __future__ import annotations

import html
import re

from bbvars.surfaces._ci import one_line, say

COMMAND_STARTS = ("::", "##[")
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
PLAIN_KEY = re.compile(r"[A-Za-z0-9_]+\Z")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # Bitbucket's rule for a variable's key


def is_variable_name(key: str) -> bool:
    """Whether a key may go into a step output: workflows paste outputs into shell scripts
    (`run: echo "${{ steps.x.outputs.deleted }}"`), so a listed key such as `x"; touch PWNED; echo "` must not."""
    return VARIABLE_NAME.match(key) is not None


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, data: str = "", **properties: str) -> None:
    """`::name key=value,...::data`, every part escaped."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    say(f"::{name}{' ' + props if props else ''}::{escape_data(data)}")


def plain(text: str) -> str:
    line = one_line(text)
    return f"> {line}" if line.lstrip().startswith(COMMAND_STARTS) else line


def log(text: str) -> None:
    """A plain line of the action's log, which cannot start a workflow command."""
    say(plain(text))


def markdown(text: str) -> str:
    """Text shown as itself in Markdown (and in a table cell): one line, punctuation and HTML escaped."""
    return html.escape(MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text)), quote=False)


def markdown_key(key: str) -> str:
    """A variable name: as code when it is a plain name (the input's always are; a listed one may not be)."""
    return f"`{key}`" if PLAIN_KEY.match(key) else markdown(key)
