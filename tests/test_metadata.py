"""The published metadata (action.yml, pipe.yml) lists exactly the settings of SETTINGS, with the same
defaults, and it and the examples pass the schemas GitHub and Bitbucket publish (as bundled by check-jsonschema)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from bbvars.request.settings import SETTINGS, Setting
from bbvars.surfaces import action, pipe
from tests.support import ROOT

ACTION_OUTPUTS = {"created", "updated", "unchanged", "deleted", "failed", "changed", "result", "ok", "credential",
                  "access_token", "token_type", "expires_in", "scopes"}
PIPE_REQUIRED: set[str] = set()  # each has a default, a fallback, or an alternative (token vs consumer, VARIABLES vs
# MANIFEST)


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def default_text(setting: Setting, *, fallback: bool) -> str | None:
    """A setting's default as the metadata writes it: a string, or absent."""
    if fallback and setting.env_fallback:
        return f"${setting.env_fallback}"
    value = setting.default
    if value in (None, "", ()):
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_action_inputs_are_the_settings_with_an_action_input():
    inputs = load("action.yml")["inputs"]
    expected = {s.action_input: s for s in SETTINGS if s.action_input}
    assert list(inputs) == list(expected), "same inputs, in the table's order"
    for name, spec in inputs.items():
        assert spec.get("description"), name
        assert spec.get("required") is False, f"{name}: GitHub does not enforce `required`; bbvars validates"
        assert spec.get("default") == default_text(expected[name], fallback=False), name


def test_action_runs_the_image_and_declares_every_output():
    metadata = load("action.yml")
    assert metadata["runs"] == {"using": "docker", "image": "Dockerfile", "args": ["action"]}
    assert set(metadata["outputs"]) == ACTION_OUTPUTS
    assert all(spec.get("description") for spec in metadata["outputs"].values())


def test_pipe_variables_are_the_settings_with_a_pipe_variable():
    metadata = load("pipe.yml")
    variables = {v["name"]: v for v in metadata["variables"]}
    expected = {s.env: s for s in SETTINGS if s.env}
    assert [v["name"] for v in metadata["variables"]] == list(expected), "same variables, in the table's order"
    for name, spec in variables.items():
        assert spec.get("description"), name
        assert spec.get("required") is (name in PIPE_REQUIRED), name
        assert spec.get("default") == default_text(expected[name], fallback=True), name
    assert {"name", "image", "description", "category", "repository", "maintainer", "vendor", "tags"} <= set(metadata)
    # No official image exists: the metadata names a placeholder the publishing team replaces (README, Distribution).
    assert metadata["image"] == "your-registry.example.com/bbvars:0.1.0"


def test_the_commands_take_their_labels_from_the_table():
    for setting in SETTINGS:
        if setting.env:
            assert pipe.label(setting) == setting.env
        if setting.action_input:
            assert action.label(setting) == f"input {setting.action_input}"
            assert action.sources(setting)[0] == f"INPUT_{setting.action_input.upper()}"


@pytest.mark.parametrize("schema, path", [
    ("vendor.github-actions", "action.yml"),
    ("vendor.github-workflows", "examples/github-workflow.yml"),
    ("vendor.bitbucket-pipelines", "examples/bitbucket-pipelines.yml"),
])
def test_files_pass_the_published_schema(schema, path):
    check = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(ROOT / path)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_bitbucket_example_uses_the_pipe_image_and_its_variables():
    image = load("pipe.yml")["image"]
    known = {s.env for s in SETTINGS if s.env}
    pipes = []

    def walk(node):
        if isinstance(node, dict):
            if "pipe" in node:
                pipes.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(load("examples/bitbucket-pipelines.yml")["pipelines"])
    assert pipes
    for step in pipes:
        assert step["pipe"] == f"docker://{image}"
        assert set(step["variables"]) <= known, set(step["variables"]) - known
        assert "VARIABLES" in step["variables"]


def bbvars_steps(steps: list[dict]) -> list[dict]:
    return [step for step in steps if re.search(r"(^|/)bbvars@|/bbvars:", step.get("uses", ""))]


def docs_github_steps() -> list[dict]:
    page = (ROOT / "docs" / "github-action.md").read_text()
    return [step for block in re.findall(r"```yaml\n(.*?)```", page, re.S) for step in yaml.safe_load(block)]


def test_the_github_example_gives_only_inputs_of_the_action():
    inputs = set(load("action.yml")["inputs"])
    jobs = load("examples/github-workflow.yml")["jobs"]
    uses = bbvars_steps([step for job in jobs.values() for step in job["steps"]])
    assert len(uses) == 2
    for step in uses:
        assert set(step["with"]) <= inputs, set(step["with"]) - inputs


@pytest.mark.parametrize("where", ["examples/github-workflow.yml", "docs/github-action.md"])
def test_no_value_goes_through_with_in_the_github_examples(where):
    """The runner prints every `with:` input in the log: only secrets (masked) and plain settings may go there; the
    variables come in a file (variables_file)."""
    if where == "docs/github-action.md":
        steps = docs_github_steps()
    else:
        steps = [step for job in load(where)["jobs"].values() for step in job["steps"]]
    uses = bbvars_steps(steps)
    assert uses, where
    for step in uses:
        given = step["with"]
        assert "variables" not in given, where
        for name, value in given.items():
            expressions = re.findall(r"\$\{\{(.*?)\}\}", str(value))
            assert all(e.strip().startswith("secrets.") for e in expressions), (where, name, value)
    assert any("variables_file" in step["with"] for step in uses), where


def test_no_example_names_an_image_or_action_as_if_published():
    pages = [str(page.relative_to(ROOT)) for page in (ROOT / "docs").rglob("*.md")]
    for path in ("README.md", *pages, "examples/github-workflow.yml", "examples/bitbucket-pipelines.yml", "pipe.yml"):
        text = (ROOT / path).read_text()
        assert "docker://bbvars/" not in text and "uses: bbvars/" not in text and "image: bbvars/" not in text, path


def test_bitbucket_pipe_yml_is_the_pipe_metadata():
    assert (ROOT / "bitbucket-pipe.yml").resolve() == (ROOT / "pipe.yml").resolve()
