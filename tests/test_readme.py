"""README and the documentation are the truth: README stays a short first hour, the settings table is the code's,
the JSON Schema describes real output, the pipe's YAML Definition lists every pipe variable. (Every shell block of
README and docs/ runs in tests/docs/test_blocks.py.)"""

from __future__ import annotations

import json
import re
import shlex

import jsonschema
import yaml

from bbvars.emulator import Fault
from bbvars.request.settings import SETTINGS
from bbvars.surfaces.cli.options import markdown_table
from tests.support import ROOT, clean_env, env_for, run_cli

README = (ROOT / "README.md").read_text()
SCHEMA = json.loads((ROOT / "schema" / "result.schema.json").read_text())
DOCS = ROOT / "docs"
SETTINGS_PAGE = (DOCS / "settings.md").read_text()
PIPE_PAGE = (DOCS / "pipe.md").read_text()


def test_settings_table_is_generated_from_the_settings_table():
    block = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", SETTINGS_PAGE, re.S)
    assert block, "docs/settings.md lost its settings-table markers"
    assert block.group(1) == markdown_table(), (
        "docs/settings.md's settings table differs from the code: paste the output of "
        "`python -c 'from bbvars.surfaces.cli.options import markdown_table; print(markdown_table())'`"
    )


def test_demo_runs_and_shows_idempotence(tmp_path):
    run = run_cli(["demo"], env=clean_env())
    assert run.code == 0, run.stderr
    assert "5 created, 0 updated, 0 unchanged" in run.stdout
    assert "0 created, 1 updated, 4 unchanged" in run.stdout
    assert "demo-only-Pa55word" not in run.stdout + run.stderr


def test_output_matches_the_schema(emulator):
    run = run_cli(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=env_for(emulator))
    assert run.code == 0, run.stderr
    jsonschema.validate(run.json, SCHEMA)
    emulator.inject(Fault(method="POST", status=400, times=1))
    run = run_cli(["sync", "-w", "acme", "--var", "B=2"], env=env_for(emulator))
    assert run.code == 1
    jsonschema.validate(run.json, SCHEMA)
    assert run.json["failed"][0]["key"] == "B"


def test_pipelines_example_is_the_validated_file():
    # tests/test_metadata.py validates examples/bitbucket-pipelines.yml against Bitbucket's schema.
    block = re.search(r"<!-- pipelines-example:start -->\n```yaml\n(.*?)```\n<!-- pipelines-example:end -->", PIPE_PAGE,
                      re.S)
    assert block, "docs/pipe.md lost its pipelines-example markers"
    assert block.group(1) == (ROOT / "examples" / "bitbucket-pipelines.yml").read_text()


def test_readme_is_the_first_hour():
    """At most ~200 lines; the rest lives in docs/, which README links into."""
    assert len(README.splitlines()) <= 200
    for section in ("## Install", "## Quick start", "### Try it yourself, offline", "## The three commands people run most",
                    "## Credentials", "## Tests", "## Documentation"):
        assert f"\n{section}\n" in README, section
    links = set(re.findall(r"\]\((docs/[^)#]+)", README))
    assert {"docs/getting-started.md", "docs/security.md", "docs/pipe.md", "docs/contributing.md"} <= links
    assert all((ROOT / link).exists() for link in links), [link for link in links if not (ROOT / link).exists()]


def test_the_offline_block_follows_the_set_up_commands():
    offline = README.split("### Try it yourself, offline", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", offline, re.S).group(1)
    assert "bbvars emulator" in block and "export BITBUCKET_API_URL" in block
    assert "bbvars sync" in block and "bbvars list" in block
    assert README.index("bbvars demo\n```") < README.index("### Try it yourself, offline")


def test_ci_runs_readmes_test_command_verbatim_and_builds_the_docs_strictly():
    test_command = re.search(r"```bash\n(python3 -m venv .venv && .*?-m pytest)\n```", README).group(1)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci.splitlines()
    assert "[test,docs]" in test_command  # the docs tests build the site, so installing them is part of testing
    assert re.search(r"^(\S+=\S+ )*\S*mkdocs build --strict", ci, re.M)


def test_the_quick_subset_named_in_readme_exists():
    command = re.search(r"```bash\n(\.venv/bin/python -m pytest [^\n]*)\n```", README).group(1)
    marker = shlex.split(command)[shlex.split(command).index("-m", 2) + 1]
    assert marker == "not slow"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"slow: ', pyproject), "the slow marker must be registered in pyproject.toml"


def test_the_pipe_yaml_definition_lists_every_pipe_variable():
    """Atlassian's order: YAML Definition, Variables, Prerequisites, Examples, Support; every setting that has a pipe
    variable appears in the YAML Definition (commented out when optional) and in the Variables table."""
    headings = re.findall(r"^## (.+)$", PIPE_PAGE, re.M)
    assert headings == ["YAML Definition", "Variables", "Prerequisites", "Examples", "Support"]
    definition = PIPE_PAGE.split("## YAML Definition", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", definition, re.S).group(1)
    uncommented = re.sub(r"^(\s*)# ", r"\1", block, flags=re.M)
    listed = set(yaml.safe_load(uncommented)[0]["variables"])
    wanted = {s.env for s in SETTINGS if s.env}
    assert listed == wanted, (sorted(wanted - listed), sorted(listed - wanted))
    variables = PIPE_PAGE.split("## Variables", 1)[1].split("\n## ", 1)[0]
    in_table = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", variables))
    assert wanted <= in_table, sorted(wanted - in_table)


def test_pipe_yml_knows_a_pipe_reaches_workspace_variables_through_a_manifest():
    variables = {v["name"]: v for v in yaml.safe_load((ROOT / "pipe.yml").read_text())["variables"]}
    repository = variables["REPOSITORY"]["description"]
    assert "out of a pipe's reach" not in repository and "MANIFEST" in repository


def test_the_docs_say_what_a_first_hour_needs():
    """The facts a new user went looking for: the provider offline, the tests' time and subset, what .ci/run
    installs, the image's real size."""
    page = {name: (DOCS / f"{name}.md").read_text() for name in ("terraform", "contributing", "docker")}
    assert "filesystem_mirror" in page["terraform"] and "terraform providers mirror" in page["terraform"]
    assert "-m 'not slow'" in page["contributing"] and "chromium" in page["contributing"]
    assert "container engine" in page["contributing"] and re.search(r"takes (about )?\d", page["contributing"])
    assert "7.8 MB" not in page["docker"] and "docker history" in page["docker"]
    assert re.search(r"takes about \d", README)
