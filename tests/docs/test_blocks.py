"""Every shell block of README and of the documentation runs against the emulator, and every sample output is what
the program prints: `sh` blocks must exit 0 (their JSON reports valid), `console` transcripts must print what they
show. A block that cannot run offline says why in a `<!-- no-run: ... -->` comment, and is one of the few below."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import referencing
from docs.gen import transcripts

from bbvars.auth.login import DEFAULT_CALLBACK_URL
from tests.support import CLIENT_ID, CLIENT_SECRET, ROOT, env_for, free_port

SCHEMAS = {name: json.loads((ROOT / "schema" / f"{name}.schema.json").read_text())
           for name in ("result", "run-result", "check")}
REGISTRY = referencing.Registry().with_resources(
    (schema["$id"], referencing.Resource.from_contents(schema)) for schema in SCHEMAS.values() if "$id" in schema)
LOGOUT_SCHEMA = {"type": "object", "required": ["logged_out", "path"], "additionalProperties": False,
                 "properties": {"logged_out": {"type": "boolean"}, "path": {"type": "string"}}}
LOGIN_SCHEMA = {"type": "object", "required": ["user", "scopes", "path"], "additionalProperties": False,
                "properties": {"user": {"type": "string"}, "scopes": {"type": "string"}, "path": {"type": "string"}}}
LISTING_SCHEMA = {"type": "array", "items": {"type": "object", "required": ["key", "secured"]}}

BLOCKS = transcripts.shell_blocks()
RUN = [b for b in BLOCKS if b.info == "sh" and not b.no_run]
CONSOLE = [b for b in BLOCKS if b.info == "console" and not b.no_run]
# The blocks that do not run here, each for the reason its comment gives. Adding one is a decision: keep them few.
NOT_RUN = {
    ("README.md", "bash"): 4,  # the set-up commands (.ci/run runs the test command; test_readme runs the demo)
    ("docs/getting-started.md", "bash"): 1,  # the demo's set-up command, README's
    ("docs/contributing.md", "bash"): 3,  # set-up, the quick subset, the generators: they run the tests
    ("docs/contributing.md", "sh"): 1,  # the image size, with a container engine
    ("docs/credentials.md", "console"): 1,  # a login in a real browser (the sh block after it runs the same flow)
    ("docs/output.md", "console"): 1,  # a Ctrl-C in the middle of the writes
    ("docs/docker.md", "sh"): 3,  # a container engine and a registry
    ("docs/terraform.md", "sh"): 1,  # the Terraform registry
}


def test_the_blocks_that_do_not_run_are_the_listed_few_and_say_why():
    not_run = [b for b in BLOCKS if b not in RUN and b not in CONSOLE]
    counted: dict = {}
    for block in not_run:
        assert block.no_run, f"{block.name}: a {block.info} block that does not run needs <!-- no-run: why -->"
        key = (str(block.page.relative_to(ROOT)), block.info)
        counted[key] = counted.get(key, 0) + 1
    assert counted == NOT_RUN
    assert len(RUN) >= 15 and len(CONSOLE) >= 5  # the documentation keeps its examples


def test_sample_outputs_are_transcripts_not_typed_text():
    """Output shown is a `console` transcript the tests replay; `text` blocks are kept for the module map only."""
    typed = [b.name for page in transcripts.PAGES for b in transcripts.blocks(page) if b.info in ("text", "")]
    assert typed == ["docs/contributing.md:" + str(module_map_block().line)], typed


def module_map_block() -> transcripts.Block:
    page = ROOT / "docs" / "contributing.md"
    return next(b for b in transcripts.blocks(page) if b.info == "text" and b.body.startswith("src/bbvars/"))


def test_the_module_map_lists_every_module_and_only_modules_that_exist():
    listed, parents = set(), []
    for line in module_map_block().body.splitlines()[1:]:
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        name = line.strip().split()[0]
        if name.startswith("`") or len(line) - len(line.lstrip()) > 20:
            continue  # a description's continuation line
        parents = parents[:depth - 1]
        if name.endswith("/"):
            parents.append(name)
        else:
            listed.add("".join(parents) + name)
    modules = {str(p.relative_to(ROOT / "src" / "bbvars")) for p in (ROOT / "src" / "bbvars").rglob("*.py")
               if p.name not in ("__init__.py", "__main__.py")}
    listed_files = {name for name in listed if name.endswith(".py")}
    assert listed_files == modules, (sorted(modules - listed_files), sorted(listed_files - modules))


def free_ports_for(block: str) -> str:
    """The examples use ports 7990-7999 for `bbvars emulator`; a test takes free ones (those may be in use)."""
    for port in sorted(set(re.findall(r"\b(799\d)\b", block))):
        block = re.sub(rf"\b{port}\b", str(free_port()), block)
    return block


@pytest.mark.parametrize("block", RUN, ids=[b.name for b in RUN])
def test_every_sh_block_runs(block, emulator, tmp_path):
    bin_dir = tmp_path / "bin"
    transcripts.stand_in_terraform(bin_dir)
    env = env_for(emulator, PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    script = free_ports_for(block.body)
    if "bbvars emulator" in script:
        # A block that starts its own emulator is run as a new user would: no credential or URL set beforehand.
        env = {k: v for k, v in env.items() if not k.startswith(("BITBUCKET_", "ATLASSIAN_"))}
    if "bbvars login" in script:
        # The login example: a free port stands in for the default one (a test never takes 8976, which may be in
        # use), the consumer gets that callback URL, and a stand-in browser ($BROWSER, which Python's webbrowser
        # runs) presses "Grant access" on the emulator's consent page and follows the redirect, as a person would.
        callback = f"http://localhost:{free_port()}/callback"
        script = script.replace(DEFAULT_CALLBACK_URL, callback)
        emulator.add_consumer(CLIENT_ID, CLIENT_SECRET, scopes=("pipeline", "pipeline:variable", "account"),
                              callback_url=callback)
        browser = bin_dir / "browser"
        browser.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                           "from tests.support import answer_consent\nanswer_consent(sys.argv[1])\n")
        browser.chmod(0o755)
        env["BROWSER"] = str(browser)
    work = tmp_path / "work"
    work.mkdir()
    code, stdout, stderr = run_block(script, work, env)
    assert code == 0, f"{block.name} failed:\n{block.body}\nstderr:\n{stderr}"
    documents = list(json_documents(stdout))
    if re.search(r"\bbbvars (sync|check|list|login|logout|token)\b", block.body):
        assert documents, f"{block.name} printed no JSON report:\n{stdout}"
    for document in documents:
        validate(document)
        if isinstance(document, dict):
            assert document.get("ok", True), f"{block.name} reported a failing check:\n{stderr}"


def run_block(script: str, cwd: Path, env: dict) -> tuple[int, str, str]:
    """bash -c in a session of its own, output to files: a block may leave `bbvars emulator &` running, which this
    stops with its whole process group once the block is done (a pipe would wait for it forever)."""
    out, err = cwd.parent / "stdout", cwd.parent / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(["bash", "-c", "set -euo pipefail\n" + script], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            code = proc.wait(timeout=120)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return code, out.read_text(), err.read_text()


def json_documents(text: str):
    """The JSON documents printed one after another on stdout, each starting a line."""
    decoder, index = json.JSONDecoder(), 0
    while match := re.compile(r"^[\[{]", re.M).search(text, index):
        document, index = decoder.raw_decode(text, match.start())
        yield document


def validate(document) -> None:
    if isinstance(document, list):
        jsonschema.validate(document, LISTING_SCHEMA)
    elif "targets" in document:  # a manifest's run
        jsonschema.Draft202012Validator(SCHEMAS["run-result"], registry=REGISTRY).validate(document)
    elif "checks" in document:
        jsonschema.validate(document, SCHEMAS["check"])
    elif "logged_out" in document:
        jsonschema.validate(document, LOGOUT_SCHEMA)
    elif "user" in document:
        jsonschema.validate(document, LOGIN_SCHEMA)
    else:
        jsonschema.validate(document, SCHEMAS["result"])


@pytest.mark.parametrize("block", CONSOLE, ids=[b.name for b in CONSOLE])
def test_every_transcript_shows_what_the_program_prints(block):
    shown = transcripts.show(transcripts.steps(block.body))
    assert shown == block.body, f"{block.name}: a transcript must be `$ command` lines and their output"
    now = transcripts.replay(block.body)
    assert transcripts.normalise(now) == transcripts.normalise(block.body), (
        f"{block.name} differs from what the program prints now: run `python docs/gen/transcripts.py`")


def test_transcripts_ignore_only_timings_uuids_and_ports():
    text = "mean 2 ms, slowest 13 ms ({83ad79aa-dd6c-44dd-b7aa-825594d5b1bc}) http://127.0.0.1:7990/2.0"
    assert transcripts.normalise(text) == "mean N ms, slowest N ms ({uuid}) http://127.0.0.1:PORT/2.0"
    assert transcripts.normalise("3 created") != transcripts.normalise("4 created")


def test_every_example_on_a_command_page_parses():
    """docs/commands/ is generated (tests/surfaces/cli/test_man.py), and its examples are one-liners rather than a script
    run in order (a server, a browser login): each `bbvars ...` in them must still be a command the CLI accepts."""
    import shlex

    from bbvars.errors import InputError
    from bbvars.surfaces.cli.main import COMMANDS, build_parser, command_module

    examples = []
    for page in sorted(transcripts.COMMAND_PAGES.glob("*.md")):
        for block in transcripts.blocks(page):
            if block.info == "sh":
                examples += [(page.name, line) for line in block.body.splitlines() if "bbvars " in line
                             and not line.startswith("#")]
    assert len(examples) >= len(COMMANDS)
    for name, line in examples:
        command = line[line.index("bbvars "):]
        command = re.split(r"\s(?:\||>)\s|\)", command)[0]  # up to a pipe, a redirection or `<( )`'s end
        words = shlex.split(command)[1:]
        top, parsers = build_parser()
        command_module(words[0], parsers[words[0]])
        try:
            top.parse_args(words)
        except (InputError, SystemExit) as refused:
            pytest.fail(f"docs/commands/{name}: `{command}` does not parse: {refused}")
