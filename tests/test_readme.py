"""README is the truth: its settings table is the code's, its JSON Schema describes real output, and every `sh`
block in it runs against the emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jsonschema
import pytest
import referencing

from bbvars.emulator import Fault
from bbvars.surfaces.cli.options import markdown_table
from bbvars.auth.login import DEFAULT_CALLBACK_URL
from tests.support import CLIENT_ID, CLIENT_SECRET, ROOT, clean_env, env_for, free_port, run_cli

README = (ROOT / "README.md").read_text()
SCHEMA = json.loads((ROOT / "schema" / "result.schema.json").read_text())
RUN_SCHEMA = json.loads((ROOT / "schema" / "run-result.schema.json").read_text())
REGISTRY = referencing.Registry().with_resources(
    (schema["$id"], referencing.Resource.from_contents(schema)) for schema in (SCHEMA, RUN_SCHEMA))
CHECK_SCHEMA = json.loads((ROOT / "schema" / "check.schema.json").read_text())
LOGOUT_SCHEMA = {"type": "object", "required": ["logged_out", "path"], "additionalProperties": False,
                 "properties": {"logged_out": {"type": "boolean"}, "path": {"type": "string"}}}


LOGIN_SCHEMA = {"type": "object", "required": ["user", "scopes", "path"], "additionalProperties": False,
                "properties": {"user": {"type": "string"}, "scopes": {"type": "string"}, "path": {"type": "string"}}}


def schema_of(document: dict) -> dict:
    """Each command's JSON by its shape: a sync report, a check, a login or a logout."""
    if "checks" in document:
        return CHECK_SCHEMA
    return LOGOUT_SCHEMA if "logged_out" in document else LOGIN_SCHEMA if "user" in document else SCHEMA
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)
SAMPLE_TERRAFORM_OUTPUT = {
    "api_url": {"sensitive": False, "type": "string", "value": "https://api.example.com"},
    "db-host": {"sensitive": False, "type": "string", "value": "db.internal"},
    "db_password": {"sensitive": True, "type": "string", "value": "readme-Pa55word"},
}


def test_settings_table_is_generated_from_the_settings_table():
    block = re.search(r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", README, re.S)
    assert block, "README lost its settings-table markers"
    assert block.group(1) == markdown_table(), (
        "README's settings table differs from the code: paste the output of "
        "`python -c 'from bbvars.surfaces.cli.options import markdown_table; print(markdown_table())'`"
    )


def test_readme_has_sh_examples():
    assert len(SH_BLOCKS) >= 2


@pytest.mark.parametrize("block", SH_BLOCKS, ids=[b.strip().splitlines()[-1][:60] for b in SH_BLOCKS])
def test_every_sh_block_runs(block, emulator, tmp_path):
    # A stand-in `terraform` that prints what `terraform output -json` prints after an apply.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "terraform"
    fake.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ "$1 $2" = "output -json" ] || {{ echo "stand-in terraform only does 'output -json'" >&2; exit 1; }}
        cat <<'JSON'
        {json.dumps(SAMPLE_TERRAFORM_OUTPUT)}
        JSON
        """))
    fake.chmod(0o755)
    env = env_for(emulator, PATH=f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if "bbvars login" in block:
        # The login example: a free port stands in for the default one (a test never takes 8976, which may be in
        # use), the consumer gets that callback URL, and a stand-in browser ($BROWSER, which Python's webbrowser
        # runs) presses "Grant access" on the emulator's consent page and follows the redirect, as a person would.
        callback = f"http://localhost:{free_port()}/callback"
        block = block.replace(DEFAULT_CALLBACK_URL, callback)
        emulator.add_consumer(CLIENT_ID, CLIENT_SECRET, scopes=("pipeline", "pipeline:variable", "account"),
                              callback_url=callback)
        browser = bin_dir / "browser"
        browser.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                           "from tests.support import answer_consent\nanswer_consent(sys.argv[1])\n")
        browser.chmod(0o755)
        env["BROWSER"] = str(browser)
    script = "set -euo pipefail\n" + block
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"README example failed:\n{block}\nstderr:\n{proc.stderr}"
    reports = list(json_documents(proc.stdout))
    assert reports, f"README example printed no JSON report:\n{proc.stdout}"
    for report in reports:
        if "targets" in report:  # a manifest's run
            jsonschema.Draft202012Validator(RUN_SCHEMA, registry=REGISTRY).validate(report)
        else:
            jsonschema.validate(report, schema_of(report))
        assert report.get("ok", True), f"README example reported a failing check:\n{block}\n{proc.stderr}"


def json_documents(text: str):
    """The JSON reports printed one after another on stdout."""
    decoder, index = json.JSONDecoder(), 0
    while (start := text.find("{", index)) != -1:
        document, index = decoder.raw_decode(text, start)
        yield document


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
    block = re.search(r"<!-- pipelines-example:start -->\n```yaml\n(.*?)```\n<!-- pipelines-example:end -->", README,
                      re.S)
    assert block, "README lost its pipelines-example markers"
    assert block.group(1) == (ROOT / "examples" / "bitbucket-pipelines.yml").read_text()
