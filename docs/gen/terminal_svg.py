"""Draw terminal pictures (SVG) of real output: `python docs/gen/terminal_svg.py` redraws docs/img/demo.svg from
`bbvars demo` and docs/img/plan.svg from a dry run against the emulator (PLAN_COMMANDS). Standard library only: each
output line is one <text> element, wrapped at COLUMNS characters into <tspan> rows as a terminal of that width
would, so the picture's text is the output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[2]
DEMO_SVG = ROOT / "docs" / "img" / "demo.svg"
PLAN_SVG = ROOT / "docs" / "img" / "plan.svg"
# The plan picture: a target holding two variables, then a dry run that would create, update and (prune) delete.
PLAN_SETUP = ("bbvars sync -w acme -r api -e Production --var API_URL=https://old.example.com --var OLD_FLAG=1 "
              "--quiet --output none")
PLAN_COMMAND = ("bbvars sync -w acme -r api -e Production --var API_URL=https://api.example.com "
                "--var REGION=eu-west-1 --prune --dry-run --output none")
COLUMNS = 110
CHAR_WIDTH, LINE_HEIGHT, PAD, BAR = 8.4, 18, 14, 28
# The demo's emulator listens on a free port: shown as one fixed number, so redrawing does not change the picture.
PORT = re.compile(r"127\.0\.0\.1:\d+")
NBSP = "\u00a0"


def demo_output() -> str:
    """What `bbvars demo` prints, the port made stable."""
    bbvars = Path(sys.executable).with_name("bbvars")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BITBUCKET_", "ATLASSIAN_", "BBVARS_"))}
    env.update(NO_COLOR="1")
    run = subprocess.run([str(bbvars), "demo"], capture_output=True, text=True, env=env, timeout=120, check=True)
    return stable(run.stdout)


def plan_output() -> str:
    """The plan picture's text: the dry run's command line and what it prints, against a fresh emulator."""
    sys.path.insert(0, str(ROOT))
    from docs.gen.transcripts import Sandbox

    with Sandbox() as sandbox:
        sandbox.run(PLAN_SETUP)
        return f"$ {PLAN_COMMAND}\n{sandbox.run(PLAN_COMMAND)}\n"


def stable(text: str) -> str:
    return PORT.sub("127.0.0.1:7990", text)


def rows(line: str) -> list[str]:
    return [line[i:i + COLUMNS] for i in range(0, len(line), COLUMNS)] or [""]


def colour(line: str) -> str:
    if line.startswith("$ "):
        return "#8be9fd"
    if re.match(r"\s*\+ ", line):
        return "#50fa7b"
    if re.match(r"\s*~ ", line):
        return "#f1fa8c"
    if re.match(r"\s*- ", line):
        return "#ff5555"
    return "#f8f8f2"


def render(text: str, title: str) -> str:
    lines = text.rstrip("\n").split("\n")
    total_rows = sum(len(rows(line)) for line in lines)
    width = PAD * 2 + COLUMNS * CHAR_WIDTH
    height = BAR + PAD * 2 + total_rows * LINE_HEIGHT
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height}" '
           f'viewBox="0 0 {width:g} {height}" role="img" aria-label="{escape(title)}">',
           f"<title>{escape(title)}</title>",
           f'<rect width="{width:g}" height="{height}" rx="8" fill="#282a36"/>',
           '<circle cx="18" cy="14" r="6" fill="#ff5555"/><circle cx="38" cy="14" r="6" fill="#f1fa8c"/>'
           '<circle cx="58" cy="14" r="6" fill="#50fa7b"/>',
           '<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">']
    y = BAR + PAD + LINE_HEIGHT - 4
    for line in lines:
        spans = []
        for row in rows(line):
            # Spaces as no-break spaces: an SVG viewer collapses runs of plain ones (indentation would be lost).
            spans.append(f'<tspan x="{PAD}" y="{y}">{escape(row.replace(" ", NBSP))}</tspan>')
            y += LINE_HEIGHT
        out.append(f'<text class="line" fill="{colour(line)}">{"".join(spans)}</text>')
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def svg_lines(svg: str) -> list[str]:
    """The output lines a picture shows: each <text> element's rows joined (what a test compares)."""
    from xml.etree import ElementTree

    ns = "{http://www.w3.org/2000/svg}"
    tree = ElementTree.fromstring(svg)
    return ["".join(span.text or "" for span in text.iter(f"{ns}tspan")).replace(NBSP, " ")
            for text in tree.iter(f"{ns}text")]


def main() -> None:
    DEMO_SVG.parent.mkdir(parents=True, exist_ok=True)
    DEMO_SVG.write_text(render(demo_output(), "bbvars demo: two syncs against the embedded emulator"))
    PLAN_SVG.write_text(render(plan_output(), "a plan: bbvars sync --prune --dry-run"))
    print(f"wrote {DEMO_SVG.relative_to(ROOT)} and {PLAN_SVG.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
