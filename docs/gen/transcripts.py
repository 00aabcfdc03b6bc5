"""The documentation's fenced blocks, and its `console` transcripts made from real runs.

`python docs/gen/transcripts.py` reruns every `console` block of README.md and docs/**/*.md against a fresh emulator
and writes what the commands print under their `$ ` lines; `tests/docs/` runs the same code and fails when a block
differs from what the program prints now (timings and uuids aside). Standard library and bbvars only."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# docs/commands/ is generated from the argparse tree (tests/surfaces/cli/test_man.py keeps it equal to --help, and
# tests/docs checks that each of its examples parses): its examples are one-liners, not a script to run in order.
COMMAND_PAGES = ROOT / "docs" / "commands"
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*.md") if COMMAND_PAGES not in p.parents)]
SHELL_INFOS = ("sh", "bash", "console", "shell")
FENCE = re.compile(r"^(?P<indent> *)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
NO_RUN = re.compile(r"<!--\s*no-run:\s*(?P<why>.*?)\s*-->\s*$")
# What `terraform output -json` prints after an apply, for the stand-in `terraform` the examples pipe from.
SAMPLE_TERRAFORM_OUTPUT = {
    "api_url": {"sensitive": False, "type": "string", "value": "https://api.example.com"},
    "db-host": {"sensitive": False, "type": "string", "value": "db.internal"},
    "db_password": {"sensitive": True, "type": "string", "value": "readme-Pa55word"},
}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # where its fence opens, 1-based
    info: str  # the fence's language
    body: str  # dedented
    start: int  # offsets of the body in the page's text
    end: int
    indent: str
    no_run: str | None  # the reason given in a `<!-- no-run: ... -->` just before the fence

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    found = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        no_run = NO_RUN.search(before)
        indent = match.group("indent")
        body = textwrap.dedent(match.group("body")) if indent else match.group("body")
        found.append(Block(page, text.count("\n", 0, match.start()) + 1, match.group("info").strip().split(" ")[0],
                           body, match.start("body"), match.end("body"), indent, no_run and no_run.group("why")))
    return found


def shell_blocks() -> list[Block]:
    return [block for page in PAGES for block in blocks(page) if block.info in SHELL_INFOS]


def stand_in_terraform(bin_dir: Path) -> None:
    """A `terraform` that only does `output -json`, printing SAMPLE_TERRAFORM_OUTPUT."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    fake = bin_dir / "terraform"
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1 $2" = "output -json" ] || {{ echo "stand-in terraform only does 'output -json'" >&2; exit 1; }}
        cat <<'JSON'
        {json.dumps(SAMPLE_TERRAFORM_OUTPUT)}
        JSON
        """))
    fake.chmod(0o755)


# --- console transcripts ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    command: str  # as shown after `$ `, continuation lines and a here-document included
    output: str  # what the block shows it printing


def steps(body: str) -> list[Step]:
    """A transcript's commands and the output shown under each."""
    found: list[list] = []
    lines = body.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("$ "):
            command = [line[2:]]
            heredoc = re.search(r"<<-?'?(\w+)'?", line)
            while command[-1].endswith("\\") and index + 1 < len(lines):
                index += 1
                command.append(lines[index])
            if heredoc:
                while index + 1 < len(lines):
                    index += 1
                    command.append(lines[index])
                    if lines[index] == heredoc.group(1):
                        break
            found.append(["\n".join(command), []])
        elif found:
            found[-1][1].append(line)
        index += 1
    return [Step(command, "\n".join(output).strip("\n")) for command, output in found]


def show(found: list[Step]) -> str:
    parts = []
    for step in found:
        parts.append("$ " + step.command)
        if step.output:
            parts.append(step.output)
    return "\n".join(parts) + "\n"


VOLATILE = [
    (re.compile(r"\{[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}"), "{uuid}"),
    (re.compile(r"\b\d+(\.\d+)? ms\b"), "N ms"),
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:PORT"),
]


def normalise(text: str) -> str:
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


class Sandbox:
    """A fresh emulator (the demo workspace, consumer demo-client/demo-secret), a working directory, a config home
    and a stand-in `terraform`: where a transcript's commands run, one after another, as a person would type them."""

    def __enter__(self) -> Sandbox:
        from bbvars.emulator import Emulator

        self._tmp = tempfile.TemporaryDirectory(prefix="bbvars-docs-")
        self.dir = Path(self._tmp.name) / "work"
        self.dir.mkdir()
        stand_in_terraform(Path(self._tmp.name) / "bin")
        self.emulator = Emulator().start()
        self.emulator.seed_demo()
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("BITBUCKET_", "ATLASSIAN_", "BBVARS_", "INPUT_", "GITHUB_"))
                and k not in ("FORCE_COLOR", "CI")}
        self.env = dict(keep, NO_COLOR="1", XDG_CONFIG_HOME=str(Path(self._tmp.name) / "config"),
                        BITBUCKET_API_URL=self.emulator.api_url, BITBUCKET_TOKEN_URL=self.emulator.token_url,
                        BITBUCKET_CLIENT_ID="demo-client", BITBUCKET_CLIENT_SECRET="demo-secret",
                        PATH=os.pathsep.join([str(Path(self._tmp.name) / "bin"), str(Path(sys.executable).parent),
                                              os.environ.get("PATH", "")]))
        return self

    def __exit__(self, *exc) -> None:
        self.emulator.stop()
        self._tmp.cleanup()

    def run(self, command: str) -> str:
        """What the command prints, stdout and stderr as one terminal shows them (the exit status is not shown)."""
        proc = subprocess.run(["bash", "-c", command], cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        return proc.stdout.rstrip("\n")


def replay(body: str) -> str:
    """The transcript with each command's output as the program prints it now."""
    with Sandbox() as sandbox:
        return show([Step(step.command, sandbox.run(step.command)) for step in steps(body)])


def main() -> None:
    for page in PAGES:
        text = page.read_text()
        changed = text
        for block in reversed(blocks(page)):
            if block.info != "console" or block.no_run:
                continue
            fresh = replay(block.body)
            if normalise(fresh) == normalise(block.body):
                continue  # only timings or uuids differ: keep the page as it is
            fresh = textwrap.indent(fresh, block.indent) if block.indent else fresh
            changed = changed[:block.start] + fresh + changed[block.end:]
        if changed != text:
            page.write_text(changed)
            print(f"rewrote {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
