""".env text: `KEY=VALUE` lines, read (input) and written (`bbvars list --format dotenv`) so that what one writes the
other reads back exactly.

Read: blank lines and `#` comments are skipped; `export ` before a key is allowed; a value is unquoted (up to a
` #` comment, surrounding spaces dropped), 'single-quoted' (literal, may span lines) or "double-quoted" (may span
lines; escapes \\n \\r \\t \\" \\\\ \\$ \\` and \\xHH / \\uHHHH (a character by its hex code); any other backslash is
kept). Nothing is expanded: `${VAR}` stays as written. No error message shows a value: the line number says where."""

from __future__ import annotations

import re

from bbvars.errors import InputError

# A key as .env files write them; documents.build_variables then applies Bitbucket's stricter rule (with the
# --upper hint for hyphens).
ASSIGNMENT = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=")
VALID_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # Bitbucket's variable names: the only keys render() writes
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$", "`": "`"}
CODED = re.compile(r"x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})")  # \xHH, \uHHHH after the backslash
# Written as \xHH / \uHHHH: control characters (ESC, NUL, C1...) a terminal would act on when the file is printed,
# and the Unicode line separators.
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


def meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def looks_like_dotenv(text: str) -> bool:
    """The first line that is neither blank nor a comment is KEY=... (no JSON text can start so, and YAML's
    `KEY: value` never matches, nor does a YAML mapping whose value holds '='); or there is no such line but a
    comment (what `bbvars list --format dotenv` writes for a target with only secured variables, or none)."""
    lines = text.splitlines()
    first = next((line for line in lines if meaningful(line)), None)
    if first is None:
        return any(line.strip().startswith("#") for line in lines)
    return ASSIGNMENT.match(first) is not None


def parse(text: str, source: str) -> list[tuple[str, str]]:
    """[(key, value)] in the file's order; a key given twice, or a line that is not KEY=VALUE, is an input error."""
    pairs: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    position, line_number = 0, 1
    text = text.replace("\r\n", "\n")
    while position < len(text):
        end = text.find("\n", position)
        end = len(text) if end == -1 else end
        line = text[position:end]
        if not meaningful(line):
            position, line_number = end + 1, line_number + 1
            continue
        match = ASSIGNMENT.match(line)
        if match is None:
            raise InputError(f"{source} line {line_number} is not KEY=VALUE (its text is not shown): a .env file "
                             "has only KEY=VALUE lines, comments and blank lines")
        key = match.group(1)
        if key in seen:
            raise InputError(f"{source}: key {key!r} appears twice (lines {seen[key]} and {line_number})")
        seen[key] = line_number
        start = position + match.end()
        while start < end and text[start] in " \t":
            start += 1
        value, position, lines_used = _value(text, start, end, source, line_number)
        pairs.append((key, value))
        line_number += lines_used
    return pairs


def _value(text: str, start: int, end: int, source: str, line_number: int) -> tuple[str, int, int]:
    """(value, where the next line starts, how many lines the assignment took)."""
    quote = text[start] if start < end else ""
    if quote not in ("'", '"'):
        raw = text[start:end]
        comment = re.search(r"[ \t]#", raw)
        return (raw[: comment.start()] if comment else raw).strip(), end + 1, 1
    chars: list[str] = []
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == quote:
            break
        if quote == '"' and char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            if following in ESCAPES:
                chars.append(ESCAPES[following])
                index += 2
                continue
            coded = CODED.match(text, index + 1)
            if coded:
                chars.append(chr(int(coded.group(1) or coded.group(2), 16)))
                index = coded.end()
                continue
        chars.append(char)
        index += 1
    else:
        raise InputError(f"{source} line {line_number}: a {quote} quote is never closed")
    closing = index
    rest_end = text.find("\n", closing)
    rest_end = len(text) if rest_end == -1 else rest_end
    rest = text[closing + 1: rest_end].strip()
    if rest and not rest.startswith("#"):
        raise InputError(f"{source} line {line_number + text.count(chr(10), start, closing)}: text after the "
                         "closing quote (its text is not shown): quote the whole value")
    return "".join(chars), rest_end + 1, 1 + text.count("\n", start, rest_end)


def quote(value: str) -> str:
    """A value in double quotes that parse() reads back exactly: newlines and tabs as escapes, other control
    characters as \\xHH (a server's value holding ESC must not reach a terminal that prints the file), `$` and
    backquotes escaped so that tools which do expand variables in .env files leave it alone too."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`")
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    escaped = CONTROL.sub(lambda m: (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                     else f"\\u{ord(m.group()):04x}"), escaped)
    return f'"{escaped}"'


def render(variables: list[tuple[str, str | None, bool]], heading: str | None = None) -> str:
    """KEY="value" lines; a secured variable is a comment naming its key, as its value can never be read."""
    lines = [f"# {heading}"] if heading else []
    for key, value, secured in variables:
        if not VALID_KEY.match(key):
            # A server could list any text as a key: one holding a line break would add a line of its own choosing.
            lines.append(f"# left out: {ascii(key)[:80]} is not a valid variable name")
        elif secured or value is None:
            lines.append(f"# {key}: secured, its value cannot be read back")
        else:
            lines.append(f"{key}={quote(value)}")
    return "".join(line + "\n" for line in lines)
