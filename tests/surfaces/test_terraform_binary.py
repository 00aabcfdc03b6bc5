"""bbvars with the real `terraform` binary, offline: only what Terraform has built in (terraform_data, local-exec,
outputs) unless a local mirror holds the hashicorp/external provider. The README's examples are run from
examples/terraform/ as they are."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import CLIENT_SECRET, ROOT, env_for, stored

EXAMPLES = ROOT / "examples" / "terraform"
DB_PASSWORD = "db-pa55word-9c1e"
# Where Terraform looks for providers without a network (its implied local mirrors on Unix), plus this project's
# opt-in BBVARS_TF_PROVIDER_MIRROR and the mirror some CI images keep in /opt/tf-plugins.
MIRRORS = [
    os.environ.get("BBVARS_TF_PROVIDER_MIRROR", ""),
    "~/.terraform.d/plugins",
    os.path.join(os.environ.get("XDG_DATA_HOME", "~/.local/share"), "terraform/plugins"),
    *(os.path.join(d, "terraform/plugins")
      for d in os.environ.get("XDG_DATA_DIRS", "/usr/local/share:/usr/share").split(":") if d),
    "/opt/tf-plugins",
]


def find_terraform() -> str:
    found = shutil.which("terraform")
    if not found:
        pytest.skip("no terraform binary: `terraform` is not on PATH, so the real-binary tests cannot run")
    return found


def external_provider_mirror() -> Path | None:
    for entry in MIRRORS:
        if not entry:
            continue
        base = Path(entry).expanduser() / "registry.terraform.io" / "hashicorp" / "external"
        if any(base.glob("*/*/terraform-provider-external*")) or any(base.glob("terraform-provider-external_*.zip")):
            return base.parents[2]
    return None


@pytest.fixture
def terraform():
    return find_terraform()


@pytest.fixture
def tf_env(emulator, tmp_path):
    """Offline and isolated: own CLI config, data dir and PATH entry for a `bbvars` that is this checkout."""
    shim_dir = tmp_path / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "bbvars"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m bbvars "$@"\n')
    shim.chmod(0o755)
    cli_config = tmp_path / "cli.tfrc"
    cli_config.write_text("")  # ignore the machine's CLI configuration
    env = {k: v for k, v in env_for(emulator).items() if not k.startswith(("TF_", "CHECKPOINT"))}
    env.update(
        CHECKPOINT_DISABLE="1",
        TF_IN_AUTOMATION="1",
        TF_INPUT="0",
        TF_DATA_DIR=str(tmp_path / "tf-data"),
        TF_CLI_CONFIG_FILE=str(cli_config),
        PATH=f"{shim_dir}{os.pathsep}{env.get('PATH', os.defpath)}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    return env


def tf(terraform: str, args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([terraform, *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, f"terraform {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    assert CLIENT_SECRET not in proc.stdout + proc.stderr
    return proc



OUTPUTS_CONFIG = """
variable "db_password" {
  type      = string
  sensitive = true
}

resource "terraform_data" "app" {
  input = "https://api.example.com"
}

output "api_url" {
  value = terraform_data.app.output
}

output "replicas" {
  value = 3
}

output "ratio" {
  value = 0.25
}

output "ready" {
  value = true
}

output "zones" {
  value = ["eu-west-1a", "eu-west-1b"]
}

output "limits" {
  value = { cpu = 2, memory = "1Gi" }
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}
"""


def test_terraform_output_json_piped_into_sync(terraform, tf_env, emulator, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "main.tf").write_text(OUTPUTS_CONFIG)
    env = {**tf_env, "TF_VAR_db_password": DB_PASSWORD}
    tf(terraform, ["init", "-input=false"], cwd=work, env=env)
    tf(terraform, ["apply", "-auto-approve", "-input=false"], cwd=work, env=env)

    # A real pipe between two processes: `terraform output -json | bbvars sync --workspace acme --repository api`.
    producer = subprocess.Popen([terraform, "output", "-json"], cwd=work, env=env, stdout=subprocess.PIPE)
    consumer = subprocess.run([sys.executable, "-m", "bbvars", "sync", "--workspace", "acme", "--repository", "api"],
                              stdin=producer.stdout, env=env, capture_output=True, text=True, timeout=60)
    producer.stdout.close()
    assert producer.wait(timeout=60) == 0
    assert consumer.returncode == 0, consumer.stderr
    assert DB_PASSWORD not in consumer.stdout + consumer.stderr
    assert CLIENT_SECRET not in consumer.stdout + consumer.stderr
    assert json.loads(consumer.stdout)["created"] == ["api_url", "db_password", "limits", "ratio", "ready",
                                                      "replicas", "zones"]
    assert stored(emulator) == {
        "api_url": ("https://api.example.com", False),
        "replicas": ("3", False),
        "ratio": ("0.25", False),
        "ready": ("true", False),
        "zones": ('["eu-west-1a","eu-west-1b"]', False),
        "limits": ('{"cpu":2,"memory":"1Gi"}', False),
        "db_password": (DB_PASSWORD, True),
    }

    # The README's script, unchanged, with extra sync options: into a deployment environment, keys upper-cased.
    script = subprocess.run(["bash", str(EXAMPLES / "outputs-pipe.sh"), "acme", "api", "--environment", "Staging",
                             "--upper"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    assert script.returncode == 0, script.stderr
    assert DB_PASSWORD not in script.stdout + script.stderr
    staged = stored(emulator, environment="Staging")
    assert staged["DB_PASSWORD"] == (DB_PASSWORD, True)
    assert staged["API_URL"] == ("https://api.example.com", False)
    assert set(staged) == {"API_URL", "DB_PASSWORD", "LIMITS", "RATIO", "READY", "REPLICAS", "ZONES"}

    again = subprocess.run(["bash", str(EXAMPLES / "outputs-pipe.sh"), "acme", "api"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    answer = json.loads(again.stdout)
    # A secured value cannot be read back to compare, so it is always written again.
    assert (answer["created"], answer["updated"]) == ([], ["db_password"])
    assert len(answer["unchanged"]) == 6


def test_outputs_pipe_script_refuses_a_directory_without_outputs(terraform, tf_env, emulator, tmp_path):
    # No state here: `terraform output -json` prints {} and exits 0, which with --prune would delete everything.
    emulator.seed_variable("acme", "KEEP", "1", repository="api")
    (tmp_path / "empty").mkdir()
    proc = subprocess.run(["bash", str(EXAMPLES / "outputs-pipe.sh"), "acme", "api", "--prune"],
                          cwd=tmp_path / "empty", env=tf_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "terraform output has no outputs" in proc.stderr
    assert stored(emulator) == {"KEEP": ("1", False)}
    assert emulator.requests == []


def test_apply_time_example_writes_at_apply_only(terraform, tf_env, emulator, tmp_path):
    work = tmp_path / "apply-time"
    shutil.copytree(EXAMPLES / "apply-time", work)  # the README's example, as it is
    env = {**tf_env, "TF_VAR_db_password": DB_PASSWORD}
    variables = ["-var", "workspace=acme", "-var", "repository=api"]  # `bbvars` is this checkout's (tf_env's PATH)
    tf(terraform, ["init", "-input=false"], cwd=work, env=env)

    plan = tf(terraform, ["plan", "-input=false", *variables], cwd=work, env=env)
    assert "terraform_data.pipeline_variables will be created" in plan.stdout
    assert emulator.requests == [], "a plan must not touch Bitbucket"

    applied = tf(terraform, ["apply", "-auto-approve", "-input=false", *variables], cwd=work, env=env)
    assert DB_PASSWORD not in applied.stdout + applied.stderr
    assert stored(emulator) == {
        "API_URL": ("https://api.example.com", False),
        "REPLICAS": ("3", False),
        "DB_PASSWORD": (DB_PASSWORD, True),
    }

    emulator.reset_requests()
    tf(terraform, ["apply", "-auto-approve", "-input=false", *variables], cwd=work, env=env)
    assert emulator.requests == [], "nothing changed, so the provisioner must not run again"

    # A rotated secret alone changes nothing Terraform keeps (the value is ephemeral): the documented way to write
    # it again is to raise secrets_version.
    env["TF_VAR_db_password"] = "rotated-" + DB_PASSWORD
    tf(terraform, ["apply", "-auto-approve", "-input=false", *variables], cwd=work, env=env)
    assert emulator.requests == [] and stored(emulator)["DB_PASSWORD"] == (DB_PASSWORD, True)
    tf(terraform, ["apply", "-auto-approve", "-input=false", *variables, "-var", "secrets_version=2"], cwd=work,
       env=env)
    assert stored(emulator)["DB_PASSWORD"] == ("rotated-" + DB_PASSWORD, True)


def leaks(secret: str, documents: list[str]) -> set[str]:
    """The secret, and the usual hashes of it and of the documents holding it, in the forms Terraform's functions
    (sha256, sha1, md5, sha512, base64sha256, base64sha512, base64encode) and a hand-written trigger would store."""
    found = {secret, base64.b64encode(secret.encode()).decode()}
    for data in (secret, *documents):
        for name in ("sha256", "sha1", "md5", "sha512"):
            digest = hashlib.new(name, data.encode()).digest()
            found |= {digest.hex(), base64.b64encode(digest).decode()}
    return found


def test_apply_time_example_keeps_the_secret_and_its_hashes_out_of_plan_and_state(terraform, tf_env, emulator,
                                                                                   tmp_path):
    work = tmp_path / "apply-time"
    shutil.copytree(EXAMPLES / "apply-time", work)
    env = {**tf_env, "TF_VAR_db_password": DB_PASSWORD}
    variables = ["-var", "workspace=acme", "-var", "repository=api"]  # `bbvars` is this checkout's (tf_env's PATH)
    tf(terraform, ["init", "-input=false"], cwd=work, env=env)
    tf(terraform, ["plan", "-input=false", "-out=tfplan", *variables], cwd=work, env=env)
    shown_plan = tf(terraform, ["show", "-json", "tfplan"], cwd=work, env=env).stdout
    with zipfile.ZipFile(work / "tfplan") as plan_file:  # the saved plan is a zip: every member, uncompressed
        plan_members = [plan_file.read(name).decode("utf-8", "replace") for name in plan_file.namelist()]
    tf(terraform, ["apply", "-input=false", "tfplan"], cwd=work, env=env)  # the ephemeral value is given again
    assert stored(emulator)["DB_PASSWORD"] == (DB_PASSWORD, True)  # the secret did reach Bitbucket
    state = (work / "terraform.tfstate").read_text()
    shown_state = tf(terraform, ["show", "-json"], cwd=work, env=env).stdout
    assert json.loads(shown_state)["values"]["root_module"]["resources"]  # the state is there, and read

    # The documents a configuration would hash: the values as jsonencode() writes them, with and without the secret.
    document = {"API_URL": "https://api.example.com", "DB_PASSWORD": DB_PASSWORD, "REPLICAS": 3}
    documents = [json.dumps(document, separators=(",", ":"), sort_keys=True),
                 json.dumps({"DB_PASSWORD": DB_PASSWORD}, separators=(",", ":"))]
    forbidden = leaks(DB_PASSWORD, documents)
    for where, text in [("state file", state), ("terraform show -json", shown_state),
                        ("terraform show -json tfplan", shown_plan),
                        *((f"plan file member {i}", member) for i, member in enumerate(plan_members))]:
        assert not {form for form in forbidden if form in text}, f"the secret or a hash of it is in the {where}"


def test_the_docs_apply_time_example_is_the_file():
    page = (ROOT / "docs" / "terraform.md").read_text()
    section = page[page.index("## 2. At apply time, from the configuration"):]
    block = re.search(r"```hcl\n(.*?)```\n", section, re.S).group(1)
    assert block == (EXAMPLES / "apply-time" / "main.tf").read_text()


def test_apply_time_failure_fails_the_apply(terraform, tf_env, emulator, tmp_path):
    work = tmp_path / "apply-time"
    shutil.copytree(EXAMPLES / "apply-time", work)
    env = {**tf_env, "TF_VAR_db_password": DB_PASSWORD}
    tf(terraform, ["init", "-input=false"], cwd=work, env=env)
    proc = subprocess.run([terraform, "apply", "-auto-approve", "-input=false", "-no-color", "-var",
                           "workspace=acme", "-var", "repository=missing"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode != 0
    assert "local-exec provisioner error" in proc.stderr
    assert "repository acme/missing not found" in proc.stderr  # bbvars' cause, shown although output is hidden
    assert CLIENT_SECRET not in proc.stdout + proc.stderr and DB_PASSWORD not in proc.stdout + proc.stderr


def test_examples_are_formatted_and_the_apply_time_one_validates(terraform, tf_env, tmp_path):
    proc = subprocess.run([terraform, "fmt", "-check", "-diff", "-recursive", str(EXAMPLES)], env=tf_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    work = tmp_path / "apply-time"
    shutil.copytree(EXAMPLES / "apply-time", work)
    tf(terraform, ["init", "-input=false", "-backend=false"], cwd=work, env=tf_env)
    tf(terraform, ["validate"], cwd=work, env=tf_env)
    assert subprocess.run(["bash", "-n", str(EXAMPLES / "outputs-pipe.sh")]).returncode == 0


def test_data_source_example_query_as_terraform_encodes_it(terraform, tf_env, emulator, tmp_path):
    """Without the external provider, Terraform itself still evaluates the example's `query` (its variables, locals
    and jsonencode), and the program is then run as the provider runs it: program list exec'ed from PATH, the query
    JSON on stdin, stdout decoded as map(string)."""
    text = (EXAMPLES / "data-source" / "main.tf").read_text()
    program = json.loads(re.search(r"\n  program = (\[.*?\])\n", text).group(1))
    assert program == ["bbvars", "terraform"]
    query_body = re.search(r"\n  query = \{\n(.*?)\n  \}\n", text, re.S).group(1)
    blocks = re.findall(r"^(?:variable|locals) .*?^\}\n", text, re.S | re.M)
    work = tmp_path / "query"
    work.mkdir()
    query_output = f'output "query" {{\n  value = jsonencode({{\n{query_body}\n  }})\n}}\n'
    (work / "main.tf").write_text("\n".join([*blocks, query_output]))
    tf(terraform, ["init", "-input=false"], cwd=work, env=tf_env)
    tf(terraform, ["apply", "-auto-approve", "-input=false", "-var", "workspace=acme", "-var", "repository=api"],
       cwd=work, env=tf_env)
    query = tf(terraform, ["output", "-raw", "query"], cwd=work, env=tf_env).stdout
    assert json.loads(query)["dry_run"] == "true"

    emulator.seed_variable("acme", "API_URL", "https://old.example.com", repository="api")
    proc = subprocess.run([shutil.which(program[0], path=tf_env["PATH"]), *program[1:]], input=query.encode(),
                          env=tf_env, capture_output=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    answer = json.loads(proc.stdout)
    assert all(isinstance(v, str) for v in answer.values())
    assert (answer["created"], answer["updated"], answer["dry_run"]) == ("REPLICAS,ZONES", "API_URL", "true")
    assert [r for r in emulator.requests if r.method != "GET" and "/oauth2/" not in r.path] == []


def test_data_source_example_with_the_external_provider(terraform, tf_env, emulator, tmp_path):
    mirror = external_provider_mirror()
    if mirror is None:
        pytest.skip("the hashicorp/external provider is not in a local mirror (searched: "
                    f"{', '.join(m for m in MIRRORS if m)}) and cannot be downloaded offline")
    Path(tf_env["TF_CLI_CONFIG_FILE"]).write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/external"]\n  }\n}\n'
    )
    emulator.seed_variable("acme", "API_URL", "https://old.example.com", repository="api")
    work = tmp_path / "data-source"
    shutil.copytree(EXAMPLES / "data-source", work)
    tf(terraform, ["init", "-input=false"], cwd=work, env=tf_env)
    tf(terraform, ["apply", "-auto-approve", "-input=false", "-var", "workspace=acme", "-var", "repository=api"],
       cwd=work, env=tf_env)
    outputs = json.loads(tf(terraform, ["output", "-json"], cwd=work, env=tf_env).stdout)
    assert outputs["to_create"]["value"] == ["REPLICAS", "ZONES"]
    assert outputs["to_update"]["value"] == ["API_URL"]
    assert outputs["in_sync"]["value"] is False
    assert [r for r in emulator.requests if r.method != "GET" and "/oauth2/" not in r.path] == []
    assert stored(emulator) == {"API_URL": ("https://old.example.com", False)}
