"""Where a run writes: the names of places (workspace, repository, environment), one rule for every surface.

A place name is printed in every log line that tells what a run did, on every surface; a line break or a control
character in one could forge a line of its own (a GitHub `::error::`, a pipe's `✔ Synced`). So a place name is one
line of printable text, whether it comes from a flag, the environment, an action input, a query key or a manifest."""

from __future__ import annotations

import re

from bbvars.errors import InputError

# C0 controls (line breaks and tabs included), DEL, C1 controls (NEL among them) and the Unicode line and paragraph
# separators: each can end a line or move the cursor in a log or a terminal.
UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
SLUG_PATTERN = re.compile(r"(\{[0-9A-Fa-f-]+\}|[A-Za-z0-9_.-]+)\Z")


def check_place(value: str | None, label: str) -> None:
    """One line of printable text (the text itself is not shown: it is what could forge a line)."""
    if value is not None and UNPRINTABLE.search(value):
        raise InputError(f"{label} holds a line break or a control character, and a name must be one line of "
                         "printable text (its text is not shown)")


def check_slug(value: str | None, label: str) -> None:
    """Workspace and repository go into URL paths: a slug (letters, digits, - _ .) or a {uuid}."""
    check_place(value, label)
    if value is not None and (not SLUG_PATTERN.match(value) or value in (".", "..")):
        raise InputError(f"{label} {value[:60]!r} is not a slug: use letters, digits, '-', '_' and '.', or a {{uuid}} "
                         "(the slug is in the workspace's or repository's URL)")


def check_name(value: str | None, label: str) -> None:
    """An environment: its name, slug or uuid, as Bitbucket shows it (spaces allowed)."""
    check_place(value, label)
    if value is not None and not value.strip():
        raise InputError(f"{label} is empty: give the environment's name, slug or uuid")
