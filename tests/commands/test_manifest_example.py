"""examples/manifest/ as it is, with the real `terraform` binary (offline: built-in terraform_data and outputs only):
one state feeding two repositories, three deployment environments and the workspace, in one run with exactly the
minimum number of requests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from tests.commands.test_terraform_binary import terraform, tf, tf_env  # noqa: F401 - fixtures
from tests.support import CLIENT_SECRET, ROOT, stored

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


def test_the_example_manifest_syncs_a_terraform_state_with_the_minimum_requests(  # noqa: F811 - fixtures
        terraform, tf_env, emulator, tmp_path):
    emulator.add_repository("acme", "web")
    emulator.add_environment("acme", "web", "Production")
    emulator.seed_variable("acme", "LEFTOVER", "x", repository="api", environment="Production")  # pruned
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
    assert report["targets"][1]["deleted"] == ["LEFTOVER"]
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


def test_the_example_manifest_passes_its_schema_and_terraform_validates_the_state(terraform, tf_env,  # noqa: F811
                                                                                 tmp_path):
    proc = subprocess.run([terraform, "fmt", "-check", "-diff", str(EXAMPLE)], env=tf_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = subprocess.run([sys.executable, "-m", "check_jsonschema", "--schemafile",
                            str(ROOT / "schema" / "manifest.schema.json"), str(EXAMPLE / "bbvars.yml")],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout
