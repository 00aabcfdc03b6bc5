"""examples/manifest/ as it is, with the real `terraform` binary (offline: built-in terraform_data and outputs only):
one state feeding two repositories, three deployment environments and the workspace, in one run with exactly the
minimum number of requests."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys

import yaml

from bbvars.emulator.seed import apply
from tests.support import CLIENT_SECRET, ROOT, free_port, stored
from tests.surfaces.test_terraform_binary import terraform, tf, tf_env  # noqa: F401 - fixtures

EXAMPLE = ROOT / "examples" / "manifest"
DB_PASSWORD = "db-Manifest-pa55-3e4f"


def sync(terraform_path: str, work, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`terraform output -json | bbvars sync --manifest bbvars.yml`, two real processes joined by a pipe."""
    producer = subprocess.Popen([terraform_path, "output", "-json"], cwd=work, env=env, stdout=subprocess.PIPE)
    consumer = subprocess.run([sys.executable, "-m", "bbvars", "sync", "--manifest", "bbvars.yml", *args],
                              stdin=producer.stdout, cwd=work, env=env, capture_output=True, text=True, timeout=60)
    producer.stdout.close()
    assert producer.wait(timeout=60) == 0
    assert DB_PASSWORD not in consumer.stdout + consumer.stderr
    assert CLIENT_SECRET not in consumer.stdout + consumer.stderr
    return consumer


def test_the_example_manifest_syncs_a_terraform_state_with_the_minimum_requests(
        terraform, tf_env, emulator, tmp_path):
    apply(emulator, yaml.safe_load((EXAMPLE / "seed.yml").read_text()), "seed.yml")  # as `--seed` does
    work = tmp_path / "manifest"
    shutil.copytree(EXAMPLE, work)
    env = {**tf_env, "TF_VAR_db_password": DB_PASSWORD}
    tf(terraform, ["init", "-input=false"], cwd=work, env=env)
    tf(terraform, ["apply", "-auto-approve", "-input=false"], cwd=work, env=env)
    emulator.reset_requests()

    # `fingerprint: true` in the manifest needs the key, and nothing is sent without it.
    refused = sync(terraform, work, env)
    assert refused.returncode == 2 and "BBVARS_FINGERPRINT_KEY is not set" in refused.stderr
    assert emulator.requests == []
    env["BBVARS_FINGERPRINT_KEY"] = subprocess.run([sys.executable, "-m", "bbvars", "fingerprint-key"], env=env,
                                                   capture_output=True, text=True, check=True).stdout.strip()

    first = sync(terraform, work, env)

    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["ok"] and [t["name"] for t in report["targets"]] == [
        "api-staging", "api-production", "web", "web-production", "shared"]
    writes = sum(len(t["created"]) + len(t["updated"]) + len(t["deleted"]) for t in report["targets"])
    # 1 token + 2 environment listings (api's and web's) + 5 variable listings + the writes + the fingerprint
    # variable of each target holding a secured value (api's two environments): nothing more.
    assert len(emulator.requests) == 1 + 2 + 5 + writes + 2
    api_rows = {"API_URL": ("https://api.example.com", False), "DB_HOST": ("db.internal.example.com", False),
                "DB_PORT": ("5432", False), "DB_PASSWORD": (DB_PASSWORD, True)}
    for environment, level in (("Staging", "debug"), ("Production", "warn")):
        held = stored(emulator, environment=environment)
        assert held.pop("BBVARS_FINGERPRINTS")[1] is False  # plain, and never reported as an input key
        assert held == {**api_rows, "LOG_LEVEL": (level, False)}
    assert report["targets"][1]["deleted"] == ["OLD_FEATURE_FLAG"]  # seed.yml's stale variable
    assert stored(emulator, repository="web") == {"PUBLIC_CDN_URL": ("https://cdn.example.com", False)}
    web_production = emulator.environments("acme", "web")[0]["uuid"]
    assert stored(emulator, repository="web", environment=web_production) == {
        "PUBLIC_API_URL": ("https://api.example.com", False), "SENTRY_ENVIRONMENT": ("production", False)}
    assert stored(emulator, repository=None) == {"REGION": ("eu-west-1", False)}
    assert stored(emulator) == {}  # api's repository variables: no target writes them

    emulator.reset_requests()
    second = sync(terraform, work, env)

    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)["targets"]
    assert all(t["created"] == t["deleted"] == t["failed"] == [] for t in again)
    # Nothing is written, the secured value neither: its fingerprint matches (fingerprint: true in defaults).
    assert all(t["updated"] == [] for t in again) and json.loads(second.stdout)["ok"] is True
    assert len(emulator.requests) == 1 + 2 + 5

    emulator.reset_requests()
    checked = sync(terraform, work, env, "--dry-run", "--target", "web")
    assert checked.returncode == 0 and json.loads(checked.stdout)["targets"][0]["unchanged"] == ["PUBLIC_CDN_URL"]
    assert len(emulator.requests) == 1 + 1  # a token and web's one listing: no environment lookup, no write


def test_the_example_manifest_passes_its_schema_and_terraform_validates_the_state(terraform, tf_env,
                                                                                 tmp_path):
    proc = subprocess.run([terraform, "fmt", "-check", "-diff", str(EXAMPLE)], env=tf_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                            str(ROOT / "schema" / "manifest.schema.json"), str(EXAMPLE / "bbvars.yml")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout


README = (EXAMPLE / "README.md").read_text()
SH_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)


def test_the_readme_runs_end_to_end_against_the_seeded_emulator_as_written(terraform, tf_env, tmp_path):
    """examples/manifest/README.md's two blocks, verbatim but for the port: the emulator in one process (the first
    block), the exports it prints, terraform and the sync in a shell (the second block), from a copy of the
    repository's layout."""
    assert len(SH_BLOCKS) == 2, "the example's README should show the emulator, then the exports and the run"
    port = str(free_port())  # not the default 7990, which another run may hold: the one change to the blocks
    serve_block, run_block = SH_BLOCKS[0].strip() + f" --port {port}", SH_BLOCKS[1].replace("7990", port)
    shutil.copytree(EXAMPLE, tmp_path / "examples" / "manifest")
    # The README's exports are what count: none of the fixture emulator's.
    env = {k: v for k, v in tf_env.items() if not k.startswith("BITBUCKET_")}
    server = subprocess.Popen(["bash", "-c", serve_block], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        banner = [server.stderr.readline() for _ in range(3)]
        exports = next(line for line in banner if line.startswith("export "))
        assert exports.strip() == run_block.splitlines()[0], "the README's export line is not what the emulator prints"
        assert "plus examples/manifest/seed.yml" in banner[2]
        proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + run_block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        assert server.wait(timeout=10) == 0
    assert proc.returncode == 0, proc.stderr
    decoder = json.JSONDecoder()  # after terraform's own output: the sync's report, then the listing
    start = proc.stdout.index('{\n  "dry_run"')
    report, end = decoder.raw_decode(proc.stdout, start)
    assert report["ok"] and [t["name"] for t in report["targets"]] == [
        "api-staging", "api-production", "web", "web-production", "shared"]
    assert report["targets"][1]["deleted"] == ["OLD_FEATURE_FLAG"]
    listed = json.loads(proc.stdout[end:])
    assert listed == [{"key": "PUBLIC_API_URL", "secured": False, "value": "https://api.example.com"},
                      {"key": "SENTRY_ENVIRONMENT", "secured": False, "value": "production"}]
    assert "- OLD_FEATURE_FLAG" in proc.stderr and "+ DB_PASSWORD (secured)" in proc.stderr
    assert "example-Pa55word" not in proc.stdout + proc.stderr
