"""The manual pages: generated from the argparse tree, so they say what `--help` says; docs/commands/ holds them as
committed, and a change to a command that is not regenerated there fails here."""

from __future__ import annotations

import re
import subprocess

import pytest

from bbvars.surfaces.cli import man
from bbvars.surfaces.cli.main import COMMANDS
from tests.support import ROOT, clean_env, run_in_process

PAGES = ROOT / "docs" / "commands"
REGENERATE = "regenerate them: python -m bbvars.surfaces.cli.man docs/commands"


def test_the_committed_pages_are_the_generated_ones(tmp_path):
    written = man.write(tmp_path)
    assert sorted(p.name for p in written) == sorted(p.name for p in PAGES.glob("*.md")), REGENERATE
    for path in written:
        assert path.read_text() == (PAGES / path.name).read_text(), f"docs/commands/{path.name} drifted: {REGENERATE}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_each_page_says_what_help_says(command):
    """Every option and argument `--help` lists, with its help text, is on the page; and its examples end --help."""
    helped = run_in_process([command, "--help"], env=clean_env(COLUMNS="200"))
    assert helped.code == 0
    page = (PAGES / f"{command}.md").read_text()
    said = " ".join(helped.stdout.split())
    entries = re.findall(r"^- `(.*?)`: (.*)$", page, re.M)
    for invocation, text in entries:
        assert " ".join(f"{invocation} {text}".split()) in said, (invocation, REGENERATE)
    usage = helped.stdout.split("\n\n")[0]
    flags = set(re.findall(r"(?<![\w-])--?[a-z][\w-]*", usage))
    assert flags <= {flag for invocation, _ in entries for flag in re.findall(r"--?[a-z][\w-]*", invocation)}
    assert helped.stdout.rstrip().endswith(man.pages()[list(COMMANDS).index(command)].examples[-1][1])
    assert "## Synopsis" in page and "## Exit codes" in page and "## Examples" in page


def test_bbvars_man_prints_a_page_and_the_index_as_markdown_or_roff():
    page = run_in_process(["man", "sync"], env=clean_env())
    assert page.code == 0 and page.stdout == (PAGES / "sync.md").read_text()
    assert "| 3 | with --exit-code only" in page.stdout
    index = run_in_process(["man"], env=clean_env())
    assert index.code == 0 and "[`bbvars sync`](sync.md)" in index.stdout
    roff = run_in_process(["man", "emulator", "--format", "roff"], env=clean_env())
    assert roff.code == 0 and roff.stdout.startswith(".TH BBVARS-EMULATOR 1")
    assert "\\-\\-seed PATH" in roff.stdout and ".SH EXAMPLES" in roff.stdout


def test_the_roff_page_renders_with_man(tmp_path):
    import shutil

    if not shutil.which("groff"):
        pytest.skip("no groff to render roff with")
    source = tmp_path / "bbvars-sync.1"
    source.write_text(run_in_process(["man", "sync", "--format", "roff"], env=clean_env()).stdout)
    shown = subprocess.run(["groff", "-man", "-Tutf8", str(source)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and not shown.stderr, shown.stderr
    text = re.sub(r".\x08", "", shown.stdout)
    assert "--manifest" in text.replace("\u2010", "-") and "EXIT STATUS" in text
