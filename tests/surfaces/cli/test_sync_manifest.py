"""`bbvars sync --manifest` (and the pipe's MANIFEST, the action's manifest) against the emulator: the minimum number
of requests, idempotence, nothing sent for a broken manifest, a failing target leaving the others done."""

from __future__ import annotations

import json
import sys
import textwrap

import jsonschema
import pytest
import referencing

from bbvars.emulator import Fault
from tests.support import (
    CLIENT_SECRET,
    ROOT,
    Run,
    api_writes,
    env_for,
    run_cli,
    run_in_process,
    run_main,
    stored,
    token_requests,
)

PASSWORD = "pw-Manifest-e2e-5b6c"
OUTPUTS = {
    "api_url": {"value": "https://api.example.com", "type": "string", "sensitive": False},
    "db_host": {"value": "db.internal", "type": "string", "sensitive": False},
    "db_password": {"value": PASSWORD, "type": "string", "sensitive": True},
}
MANIFEST = """\
version: 1
workspace: acme
sources:
  infra: {file: infra-outputs.json}
defaults: {upper: true}
targets:
  - name: api-prod
    repository: api
    environment: Production
    from: infra
    include: ["db_*", "api_url"]
    variables: {LOG_LEVEL: info}
  - name: api-test
    repository: api
    environment: Test
    from: infra
    include: ["db_host"]
  - name: web
    repository: web
    from: infra
    include: [api_url]
    prefix: PUBLIC_
  - name: shared
    variables: {REGION: eu-west-1}
"""
SCHEMAS = {name: json.loads((ROOT / "schema" / name).read_text())
           for name in ("result.schema.json", "run-result.schema.json")}
REGISTRY = referencing.Registry().with_resources(
    (schema["$id"], referencing.Resource.from_contents(schema)) for schema in SCHEMAS.values())


def check_report(report: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMAS["run-result.schema.json"], registry=REGISTRY).validate(report)


@pytest.fixture
def project(emulator, tmp_path):
    emulator.add_repository("acme", "web")
    (tmp_path / "infra-outputs.json").write_text(json.dumps(OUTPUTS))
    (tmp_path / "bbvars.yml").write_text(MANIFEST)
    return tmp_path


def run_cli_in(folder, args: list[str], env: dict[str, str]) -> Run:
    """bbvars in `folder`, as a CI step runs in the clone (in-process: the surfaces' own tests run real processes)."""
    return run_in_process(args, env=env, cwd=folder)


def sync(emulator, monkeypatch, capsys, project, *args, input: str = "", **environment: str):
    monkeypatch.chdir(project)
    return run_main(["sync", "--manifest", "bbvars.yml", *args], env=env_for(emulator, **environment), input=input,
                    monkeypatch=monkeypatch, capsys=capsys)


def test_the_manifest_syncs_with_the_minimum_requests_and_a_second_run_changes_nothing(emulator, monkeypatch, capsys,
                                                                                      project):
    first = sync(emulator, monkeypatch, capsys, project)

    assert first.code == 0, first.stderr
    check_report(first.json)
    assert [(t.get("name"), t["created"]) for t in first.json["targets"]] == [
        ("api-prod", ["API_URL", "DB_HOST", "DB_PASSWORD", "LOG_LEVEL"]), ("api-test", ["DB_HOST"]),
        ("web", ["PUBLIC_API_URL"]), ("shared", ["REGION"])]
    # 1 token + 1 environment listing (api's, for both of its environments) + 4 listings + 7 writes.
    assert len(emulator.requests) == 1 + 1 + 4 + 7
    assert len(token_requests(emulator)) == 1
    assert stored(emulator, environment="Production")["DB_PASSWORD"] == (PASSWORD, True)
    assert stored(emulator, repository="web") == {"PUBLIC_API_URL": ("https://api.example.com", False)}
    assert stored(emulator, repository=None) == {"REGION": ("eu-west-1", False)}
    assert first.stderr.splitlines() == [
        "api-prod (environment Production of acme/api): 4 created, 0 updated, 0 unchanged, 0 deleted",
        "  + API_URL", "  + DB_HOST", "  + DB_PASSWORD (secured)", "  + LOG_LEVEL",
        "  requests: 6 sent, 6 needed (1 environment listing + 1 listing page + 4 writes)",
        "api-test (environment Test of acme/api): 1 created, 0 updated, 0 unchanged, 0 deleted", "  + DB_HOST",
        "  requests: 2 sent, 2 needed (1 listing page + 1 write)",
        "web (repository acme/web): 1 created, 0 updated, 0 unchanged, 0 deleted", "  + PUBLIC_API_URL",
        "  requests: 2 sent, 2 needed (1 listing page + 1 write)",
        "shared (workspace acme): 1 created, 0 updated, 0 unchanged, 0 deleted", "  + REGION",
        "  requests: 2 sent, 2 needed (1 listing page + 1 write)",
        "4 targets: 7 created, 0 updated, 0 unchanged, 0 deleted",
        "requests: 13 sent, 13 needed (1 token + 1 environment listing + 4 listing pages + 7 writes)"]
    assert PASSWORD not in first.stdout + first.stderr and CLIENT_SECRET not in first.stdout + first.stderr

    emulator.reset_requests()
    second = sync(emulator, monkeypatch, capsys, project)

    assert second.code == 0 and second.json["ok"]
    targets = second.json["targets"]
    assert all(t["created"] == [] and t["deleted"] == [] for t in targets)
    # A secured value cannot be read back to compare, so it alone is written again.
    assert [t["updated"] for t in targets] == [["DB_PASSWORD"], [], [], []]
    assert len(emulator.requests) == 1 + 1 + 4 + 1


def test_dry_run_and_prune_work_across_all_targets(emulator, monkeypatch, capsys, project):
    emulator.seed_variable("acme", "OLD_API", "x", repository="api", environment="Test")
    emulator.seed_variable("acme", "PUBLIC_OLD", "x", repository="web")
    emulator.seed_variable("acme", "OLD_WEB", "x", repository="web")  # outside web's prefix PUBLIC_: prune leaves it

    dry = sync(emulator, monkeypatch, capsys, project, "--dry-run", "--prune")

    assert dry.code == 0 and dry.json["dry_run"] and api_writes(emulator) == []
    assert [t["deleted"] for t in dry.json["targets"]] == [[], ["OLD_API"], ["PUBLIC_OLD"], []]
    assert dry.stderr.splitlines()[-2:] == [
        "4 targets: 7 to create, 0 to update, 0 unchanged, 2 to delete (dry run: nothing written)",
        "requests: a run needs 15 (1 token + 1 environment listing + 4 listing pages + 9 writes); this dry run sent 6"]

    done = sync(emulator, monkeypatch, capsys, project, "--prune")
    assert done.code == 0 and [t["deleted"] for t in done.json["targets"]] == [[], ["OLD_API"], ["PUBLIC_OLD"], []]
    assert stored(emulator, repository="web") == {"PUBLIC_API_URL": ("https://api.example.com", False),
                                                  "OLD_WEB": ("x", False)}


def test_target_runs_only_the_named_targets(emulator, monkeypatch, capsys, project):
    run = sync(emulator, monkeypatch, capsys, project, "--target", "web", "--target", "shared")
    assert run.code == 0, run.stderr
    assert [t["name"] for t in run.json["targets"]] == ["web", "shared"]
    assert not any("/environments" in r.path for r in emulator.requests)
    assert stored(emulator, environment="Production") == {}


@pytest.mark.parametrize("args, text, message", [
    ([], MANIFEST.replace("include: [api_url]", "include: [api_uri]"),
     "bbvars.yml: targets[2] (web): include 'api_uri' matches no key of infra"),
    ([], MANIFEST.replace("name: shared", "name: web"), "bbvars.yml: targets[3] (web): has the name of targets[2]"),
    ([], MANIFEST.replace("version: 1", "version: 1\nsecrets: {}"), "bbvars.yml: the top level: unknown key"),
    (["--target", "nope"], MANIFEST, "bbvars.yml: no target named 'nope'"),
    (["--repository", "api"], MANIFEST, "--repository cannot be combined with --manifest"),
    (["--var", "A=1"], MANIFEST, "--var cannot be combined with --manifest"),
])
def test_a_broken_manifest_sends_zero_requests(emulator, monkeypatch, capsys, project, args, text, message):
    (project / "bbvars.yml").write_text(text)
    run = sync(emulator, monkeypatch, capsys, project, *args)
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [run.stderr.strip()] and message in run.stderr, run.stderr
    assert emulator.requests == []


def test_targets_without_a_manifest_is_an_input_error(emulator, monkeypatch, capsys):
    run = run_main(["sync", "-w", "acme", "--target", "web", "--var", "A=1"], env=env_for(emulator),
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 2 and "--target chooses targets of a manifest: give --manifest too" in run.stderr


def test_a_failing_target_leaves_the_others_done_and_reported(emulator, monkeypatch, capsys, project):
    (project / "bbvars.yml").write_text(MANIFEST.replace("environment: Test", "environment: Tset")
                                        + "  - {name: gone, repository: nope, variables: {A: b}}\n")
    emulator.inject(Fault(method="POST", path="repositories/acme/web/pipelines_config/variables$", status=400,
                          body='{"type": "error", "error": {"message": "refused"}}'))

    run = sync(emulator, monkeypatch, capsys, project)

    assert run.code == 1
    check_report(run.json)
    prod, test, web, shared, gone = run.json["targets"]
    assert not run.json["ok"]
    assert prod["created"] == ["API_URL", "DB_HOST", "DB_PASSWORD", "LOG_LEVEL"] and shared["created"] == ["REGION"]
    assert test["failed"][0]["key"] == "DB_HOST" and "'Tset' not found" in test["failed"][0]["error"]
    assert web["failed"][0]["key"] == "PUBLIC_API_URL" and "refused" in web["failed"][0]["error"]
    assert gone["failed"] == [{"key": "A", "error": gone["failed"][0]["error"]}]
    errors = [line for line in run.stderr.splitlines() if line.startswith("bbvars: error: ")]
    assert len(errors) == 3
    assert "repository acme/nope not found" in errors[2]
    assert stored(emulator, environment="Production")["LOG_LEVEL"] == ("info", False)


def test_a_refused_credential_stops_every_target_and_is_told_once(emulator, monkeypatch, capsys, project):
    env = {**env_for(emulator), "BITBUCKET_CLIENT_SECRET": "wrong-secret-value"}
    monkeypatch.chdir(project)
    run = run_main(["sync", "--manifest", "bbvars.yml", "--quiet"], env=env, monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    assert all(t["failed"] for t in run.json["targets"])
    errors = run.stderr.splitlines()
    assert len(errors) == 1 and "4 targets not done" in errors[0] and "rejected the OAuth client" in errors[0]
    assert len(token_requests(emulator)) == 1 and api_writes(emulator) == []


def test_a_source_on_standard_input_as_a_real_process(emulator, project):
    (project / "bbvars.yml").write_text(MANIFEST.replace("{file: infra-outputs.json}", '{file: "-"}'))
    run = run_cli(["sync", "--manifest", str(project / "bbvars.yml"), "-q"], env=env_for(emulator),
                  input=json.dumps(OUTPUTS))
    assert run.code == 0, run.stderr
    assert run.json["ok"] and len(run.json["targets"]) == 4 and run.stderr == ""
    assert PASSWORD not in run.stdout


# -- the CI surfaces -------------------------------------------------------------------------------------------------


def test_the_pipe_runs_a_manifest_from_the_clone(emulator, project):
    env = env_for(emulator, MANIFEST="bbvars.yml", TARGETS="api-prod,web", BITBUCKET_WORKSPACE="acme",
                  BITBUCKET_REPO_SLUG="api", BITBUCKET_PIPE_STORAGE_DIR=str(project / "storage"))
    (project / "bbvars.yml").write_text(MANIFEST.replace("workspace: acme\n", ""))  # BITBUCKET_WORKSPACE fills in
    run = run_cli_in(project, ["pipe"], env)
    assert run.code == 0, run.stdout
    lines = run.stdout.splitlines()
    assert lines[0] == "INFO: Syncing 5 variable(s) into 2 target(s) of bbvars.yml..."
    assert lines[1] == "INFO: credential: OAuth consumer"  # the kind, never its value
    assert lines[-1] == "✔ Synced 2 targets: 5 created, 0 updated, 0 unchanged, 0 deleted"
    check_report(json.loads((project / "storage" / "result.json").read_text()))
    assert stored(emulator, repository="api") == {}  # BITBUCKET_REPO_SLUG is no target of a manifest
    assert PASSWORD not in run.stdout + run.stderr


def test_the_action_runs_a_manifest_with_outputs_per_target(emulator, project):
    out, summary = project / "out", project / "summary"
    env = env_for(emulator, INPUT_MANIFEST="bbvars.yml", INPUT_TARGETS="api-test\nshared", GITHUB_OUTPUT=str(out),
                  GITHUB_STEP_SUMMARY=str(summary))
    run = run_cli_in(project, ["action"], env)
    assert run.code == 0, run.stdout
    text = out.read_text()
    assert "api-test:DB_HOST,shared:REGION" in text and "::group::Plan (2 targets)" in run.stdout
    assert "### bbvars: environment Test of acme/api" in summary.read_text()


def test_the_pipe_refuses_variables_with_a_manifest(emulator, project):
    env = env_for(emulator, MANIFEST="bbvars.yml", VARIABLES='{"A": "1"}')
    run = run_cli_in(project, ["pipe"], env)
    assert run.code == 2 and "VARIABLES cannot be combined with MANIFEST" in run.stdout
    assert emulator.requests == []


def test_the_docs_manifest_example_is_the_example_file():
    page = (ROOT / "docs" / "manifest.md").read_text()
    block = textwrap.dedent(page.split("<!-- manifest-example:start -->\n```yaml\n", 1)[1].split("```", 1)[0])
    assert block == (ROOT / "examples" / "manifest" / "bbvars.yml").read_text()


@pytest.mark.parametrize("manifest_input, text, message", [
    ("../bbvars.yml", MANIFEST, "input manifest '../bbvars.yml' is outside the workspace"),
    ("bbvars.yml", MANIFEST.replace("{file: infra-outputs.json}", "{file: ../outside.json}"),
     "bbvars.yml: sources.infra (../outside.json): is outside the workspace"),
])
def test_the_action_reads_a_manifest_and_its_sources_only_in_the_workspace(emulator, project, manifest_input, text,
                                                                           message):
    workspace = project / "workspace"
    workspace.mkdir()
    (workspace / "bbvars.yml").write_text(text)
    (project / "outside.json").write_text(json.dumps(OUTPUTS))
    env = env_for(emulator, INPUT_MANIFEST=manifest_input, GITHUB_WORKSPACE=str(workspace))
    run = run_cli_in(workspace, ["action"], env)
    assert run.code == 2 and message in run.stdout, run.stdout
    assert emulator.requests == []


def test_on_a_terminal_a_pruning_manifest_asks_once_for_every_target_and_colours_the_plan(emulator, project):
    from tests.surfaces.cli.test_sync_terminal import on_terminal

    emulator.seed_variable("acme", "OLD_API", "x", repository="api", environment="Test")
    emulator.seed_variable("acme", "PUBLIC_OLD", "x", repository="web")  # web prunes only its prefix, PUBLIC_
    (project / "bbvars.yml").write_text(MANIFEST.replace("prefix: PUBLIC_", "prefix: PUBLIC_\n    prune: true")
                                        .replace('include: ["db_host"]', 'include: ["db_host"]\n    prune: true'))
    args = [sys.executable, "-m", "bbvars", "sync", "--manifest", str(project / "bbvars.yml")]

    code, stdout, shown = on_terminal(args, env_for(emulator), stdin_tty=True, answer=b"n\n")
    assert code == 1
    assert "--prune would delete 2 variable(s)" in shown and shown.count("[y/N]") == 1
    assert "environment Test of acme/api:" in shown and "repository acme/web:" in shown
    assert api_writes(emulator) == [] and all(t["failed"] for t in json.loads(stdout)["targets"])

    code, stdout, shown = on_terminal(args, env_for(emulator), stdin_tty=True, answer=b"y\n")
    assert code == 0, shown
    assert [t["deleted"] for t in json.loads(stdout)["targets"]] == [[], ["OLD_API"], ["PUBLIC_OLD"], []]
    assert "  \x1b[32m+ API_URL\x1b[0m" in shown and PASSWORD not in shown + stdout


def test_fingerprints_and_exit_code_across_a_manifest(emulator, monkeypatch, capsys, project):
    key = {"BBVARS_FINGERPRINT_KEY": "Yk3nQ0x9-Manifest-Fingerprint-Key_4vR2sLw7"}
    first = sync(emulator, monkeypatch, capsys, project, "--fingerprint", "--exit-code", **key)
    assert first.code == 3, first.stderr  # changes made, and asked to say so
    emulator.reset_requests()
    second = sync(emulator, monkeypatch, capsys, project, "--fingerprint", "--exit-code", **key)
    assert second.code == 0, second.stderr
    assert all(t["updated"] == [] for t in second.json["targets"]) and api_writes(emulator) == []
    assert len(emulator.requests) == 1 + 1 + 4  # token, api's environments, one listing per target
    prod = second.json["targets"][0]
    assert "DB_PASSWORD" in prod["unchanged"] and prod["fingerprints"] == "unchanged"


def test_an_environment_name_that_looks_like_a_setting_marker_fails_its_target_only(emulator, project):
    # Markers name settings in bbvars' own messages; a name that only looks like one (no such setting) is told as it
    # is. It ended in "internal error" after the other target's write had landed: no report, no exit code of record.
    (project / "bbvars.yml").write_text(textwrap.dedent("""\
        version: 1
        workspace: acme
        targets:
          - {name: good, repository: api, variables: {A: "1"}}
          - {name: typo, repository: api, environment: "{setting:stage}", variables: {B: "2"}}
        """))
    run = run_in_process(["sync", "--manifest", "bbvars.yml"], env=env_for(emulator), cwd=project)
    assert run.code == 1, run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
    good, typo = run.json["targets"]
    assert good["created"] == ["A"] and typo["failed"][0]["key"] == "B"
    assert "'{setting:stage}' not found" in typo["failed"][0]["error"]
    assert stored(emulator, repository="api")["A"] == ("1", False)
