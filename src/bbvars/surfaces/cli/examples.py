"""What every command's `--help` ends with (and its manual page shows): a few examples and the exit codes. Kept
apart from the command modules so `--help`, `bbvars man` and docs/commands/ read the same text."""

from __future__ import annotations

import argparse
import textwrap

EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "sync": (
        ("Terraform outputs into a deployment environment, keys upper-cased",
         "terraform output -json | bbvars sync -w acme -r api -e Production --upper"),
        ("a file and single variables, one of them secured",
         "bbvars sync -w acme -r api --file app.env --var LOG_LEVEL=warn --var API_KEY=$API_KEY --secured API_KEY"),
        ("a CI gate: exit 3 when the target differs from the input, nothing written",
         "terraform output -json | bbvars sync -w acme -r api --dry-run --exit-code"),
        ("many targets from one manifest",
         "terraform output -json | bbvars sync --manifest bbvars.yml"),
    ),
    "check": (
        ("the credentials and a deployment environment, without writing",
         "bbvars check -w acme -r api -e Production"),
    ),
    "login": (
        ("log in once; later commands with no credential in the environment use it",
         "bbvars login"),
        ("on a machine without a browser: print the page to open",
         "bbvars login --no-browser"),
    ),
    "logout": (("delete the stored login", "bbvars logout"),),
    "list": (
        ("a repository's variables as JSON", "bbvars list -w acme -r api"),
        ("an environment's variables as dotenv, which `sync --file` reads back",
         "bbvars list -w acme -r api -e Staging --format dotenv > staging.env"),
    ),
    "token": (
        ("an access token for curl (from BITBUCKET_CLIENT_ID/SECRET)",
         "bbvars token | jq -r .access_token"),
    ),
    "terraform": (
        ("what Terraform sends it (by hand only to try it)",
         "echo '{\"workspace\": \"acme\", \"variables\": \"{\\\"A\\\": \\\"1\\\"}\"}' | bbvars terraform"),
    ),
    "pipe": (
        ("as Bitbucket runs the pipe's image",
         "WORKSPACE=acme REPOSITORY=api VARIABLES='{\"A\": \"1\"}' bbvars pipe"),
    ),
    "action": (
        ("as GitHub runs the action's container",
         "INPUT_WORKSPACE=acme INPUT_REPOSITORY=api INPUT_VARIABLES='{\"A\": \"1\"}' bbvars action"),
    ),
    "emulator": (
        ("serve the demo data; it prints the exports to point bbvars at it",
         "bbvars emulator"),
        ("add what examples/manifest writes to (repository web and its environment)",
         "bbvars emulator --seed examples/manifest/seed.yml"),
        ("add a repository, an environment and a variable from flags",
         "bbvars emulator --repository acme/web --environment acme/web/Production --variable acme/web:A=1"),
        ("answer the next three API requests with 429, to watch the retries",
         "bbvars emulator --fault 429:3"),
    ),
    "demo": (("the whole job, offline, twice", "bbvars demo"),),
    "completion": (
        ("bash, for this shell", "source <(bbvars completion bash)"),
        ("fish", "bbvars completion fish | source"),
    ),
    "fingerprint-key": (
        ("a key for this shell's runs (store it as a secured CI variable for CI runs)",
         "export BBVARS_FINGERPRINT_KEY=$(bbvars fingerprint-key)"),
    ),
    "man": (
        ("the manual page of sync, as Markdown", "bbvars man sync"),
        ("as a man page", "bbvars man sync --format roff | man -l -"),
    ),
}

# The exit codes every command shares; sync adds 3, and the commands that finish their writes on a signal 130/143.
EXIT_CODES: tuple[tuple[str, str], ...] = (("0", "done"), ("1", "failed (the one-line error says why and what to do)"),
                                           ("2", "bad input or usage, found before any request"))
EXIT_EXTRA: dict[str, tuple[tuple[str, str], ...]] = {
    "sync": (("3", "with --exit-code only: something changed (with --dry-run: would change)"),),
    "check": (),
}
SIGNALS = (("130", "stopped by SIGINT (Ctrl-C): the writes in flight finished, the report was printed"),
           ("143", "stopped by SIGTERM, likewise"))


def exit_codes(name: str, cancellable: bool) -> tuple[tuple[str, str], ...]:
    if name == "check":
        return (("0", "every check holds"), ("1", "a check failed"), EXIT_CODES[2])
    return EXIT_CODES + EXIT_EXTRA.get(name, ()) + (SIGNALS if cancellable else ())


def examples_text(name: str) -> str:
    """The epilog's examples: each a comment line then the command, indented (kept as they are by the formatter)."""
    lines = ["Examples:"]
    for comment, command in EXAMPLES.get(name, ()):
        lines += [f"  # {comment}", f"  $ {command}"]
    return "\n".join(lines)


class Formatter(argparse.HelpFormatter):
    """argparse's formatter, but an epilog paragraph whose lines are indented (examples, code) is kept verbatim;
    prose paragraphs are still wrapped to the terminal."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = text.split("\n\n")
        filled = []
        for paragraph in paragraphs:
            lines = paragraph.splitlines()
            if len(lines) > 1 or paragraph.startswith(" "):
                filled.append("\n".join(indent + line for line in lines))
            else:
                filled.append(textwrap.fill(" ".join(paragraph.split()), width, initial_indent=indent,
                                            subsequent_indent=indent))
        return "\n\n".join(filled)


def add_examples(parser: argparse.ArgumentParser, name: str) -> None:
    """Ends the command's --help with its examples (after the command module has set its own epilog)."""
    if name not in EXAMPLES:
        return
    if parser.formatter_class is argparse.HelpFormatter:
        parser.formatter_class = Formatter
    parser.epilog = (parser.epilog.rstrip() + "\n\n" if parser.epilog else "") + examples_text(name)
