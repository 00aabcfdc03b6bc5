"""`bbvars pipe` end to end: a real process, configured only by pipe variables, against the emulator."""

from __future__ import annotations

import json
import os
import re

from bbvars.emulator import Fault
from tests.support import CLIENT_SECRET, api_writes, env_for, run_cli, run_in_process, stored

PASSWORD = "pw-Pipe-9d8c7b"  # a sensitive Terraform output: must never be printed
API_KEY = "key-Pipe-1a2b3c"  # secured through SECURED
TERRAFORM = {
    "db_host": {"sensitive": False, "type": "string", "value": "db.internal"},
    "db_password": {"sensitive": True, "type": "string", "value": PASSWORD},
    "replicas": {"sensitive": False, "type": "number", "value": 3},
}


def listing(*keys: str) -> Fault:
    """The variables listing answered with `keys` (which the emulator itself would refuse to store)."""
    values = [{"type": "pipeline_variable", "uuid": f"{{0000000{n}-0000-0000-0000-000000000000}}", "key": key,
               "value": "x", "secured": False} for n, key in enumerate(keys)]
    return Fault(method="GET", path=r"/pipelines_config/variables/?$", status=200, times=1,
                 body=json.dumps({"values": values, "page": 1, "pagelen": 100, "size": len(values)}))


def run_pipe(env, process: bool = False):
    """The pipe in-process; process=True for the few tests that run it as its container does, a real process."""
    return (run_cli if process else run_in_process)(["pipe"], env=env)


def assert_no_secret(run, *secrets: str) -> None:
    for secret in (CLIENT_SECRET, *secrets):
        assert secret not in run.stdout and secret not in run.stderr, f"{secret!r} was printed"


def test_syncs_terraform_outputs_into_an_environment(emulator):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", ENVIRONMENT="Production",
                   VARIABLES=json.dumps(TERRAFORM), UPPER="true")
    run = run_pipe(env, process=True)
    assert run.code == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "INFO: Syncing 3 variable(s) into environment Production of acme/api..."
    assert lines[1:] == ["INFO: credential: OAuth consumer", "+ DB_HOST", "+ DB_PASSWORD (secured)", "+ REPLICAS",
                         "requests: 6 sent, 6 needed (1 token + 1 environment listing + 1 listing page + 3 writes)",
                         "✔ Synced: 3 created, 0 updated, 0 unchanged, 0 deleted"]
    assert run.stderr == ""
    assert stored(emulator, repository="api", environment="Production") == {
        "DB_HOST": ("db.internal", False), "DB_PASSWORD": (PASSWORD, True), "REPLICAS": ("3", False)}
    assert_no_secret(run, PASSWORD)


def test_workspace_and_repository_default_to_the_pipelines_own(emulator):
    env = env_for(emulator, BITBUCKET_WORKSPACE="acme", BITBUCKET_REPO_SLUG="api",
                   VARIABLES="API_URL: https://x.example\nAPI_KEY: " + API_KEY, SECURED="API_KEY")
    run = run_pipe(env)
    assert run.code == 0, run.stdout
    assert "into repository acme/api" in run.stdout
    assert stored(emulator, repository="api") == {"API_URL": ("https://x.example", False), "API_KEY": (API_KEY, True)}
    assert_no_secret(run, API_KEY)


def test_a_pipe_variable_wins_over_the_pipelines_own(emulator):
    emulator.add_repository("acme", "web")
    env = env_for(emulator, BITBUCKET_WORKSPACE="acme", BITBUCKET_REPO_SLUG="api", REPOSITORY="web",
                   VARIABLES='{"A": "1"}')
    run = run_pipe(env)
    assert run.code == 0, run.stdout
    assert "A" in stored(emulator, repository="web") and stored(emulator, repository="api") == {}


def test_a_second_run_changes_nothing(emulator):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1", "B": "two"}')
    assert run_pipe(env).code == 0
    emulator.reset_requests()
    run = run_pipe(env)
    assert run.code == 0
    assert run.stdout.splitlines()[-1] == "✔ Synced: 0 created, 0 updated, 2 unchanged, 0 deleted"
    assert not [line for line in run.stdout.splitlines() if line[:2] in ("+ ", "~ ", "- ")]
    assert api_writes(emulator) == []


def test_updates_and_prunes_show_in_the_change_list(emulator):
    emulator.seed_variable("acme", "A", "old", repository="api")
    emulator.seed_variable("acme", "GONE", "x", repository="api")
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "new", "B": "b"}', PRUNE="yes")
    run = run_pipe(env)
    assert run.code == 0, run.stdout
    assert "(prune: keys not in VARIABLES are deleted)" in run.stdout.splitlines()[0]
    assert run.stdout.splitlines()[1:] == [
        "INFO: credential: OAuth consumer", "+ B", "~ A", "- GONE",
        "requests: 5 sent, 5 needed (1 token + 1 listing page + 3 writes)",
        "✔ Synced: 1 created, 1 updated, 0 unchanged, 1 deleted"]
    assert set(stored(emulator, repository="api")) == {"A", "B"}


def test_dry_run_writes_nothing(emulator):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}', DRY_RUN="TRUE")
    run = run_pipe(env)
    assert run.code == 0, run.stdout
    assert run.stdout.splitlines()[-3:] == [
        "+ A", "requests: a run needs 3 (1 token + 1 listing page + 1 write); this dry run sent 2",
        "✔ Checked: 1 to create, 0 to update, 0 unchanged, 0 to delete (dry run: nothing written)"]
    assert api_writes(emulator) == [] and stored(emulator, repository="api") == {}


def test_a_bad_boolean_fails_before_any_request(emulator):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}', DRY_RUN="maybe")
    run = run_pipe(env)
    assert run.code == 2
    assert run.stdout.splitlines() == ["✖ DRY_RUN must be true or false (also yes/no, 1/0), got 'maybe'"]
    assert emulator.requests == []


def test_every_bad_value_is_reported_at_once(emulator):
    env = env_for(emulator, WORKSPACE="acme", VARIABLES='{"A": "1"}', UPPER="sure", CONCURRENCY="0",
                   TIMEOUT="soon", COMMAND="deploy")
    run = run_pipe(env)
    assert run.code == 2
    [line] = run.stdout.splitlines()
    assert line.startswith("✖ ")
    for name in ("UPPER", "CONCURRENCY", "TIMEOUT", "COMMAND"):
        assert name in line
    assert emulator.requests == []


def test_missing_variables_and_workspace_are_input_errors(emulator):
    run = run_pipe(env_for(emulator, WORKSPACE="acme", REPOSITORY="api"))
    assert (run.code, run.stdout.splitlines()[0][:24]) == (2, "✖ VARIABLES is not set: ")
    run = run_pipe(env_for(emulator, VARIABLES='{"A": "1"}'))
    assert (run.code, run.stdout.strip()) == (2, "✖ no workspace: set WORKSPACE")
    assert emulator.requests == []


def test_the_token_command_is_refused_in_a_pipe(emulator):
    run = run_pipe(env_for(emulator, COMMAND="token"))
    assert run.code == 2
    assert run.stdout.startswith("✖ COMMAND=token is not available in a pipe") and "bbvars token" in run.stdout
    assert emulator.requests == []


def test_a_failure_is_one_cross_line_and_exit_1(emulator):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", ENVIRONMENT="Nowhere", VARIABLES='{"A": "1"}')
    run = run_pipe(env, process=True)
    assert run.code == 1
    last = run.stdout.splitlines()[-1]
    assert last.startswith("✖ Sync failed (0 created, 0 updated, 0 unchanged, 0 deleted, 1 failed): ")
    assert "A failed: deployment environment 'Nowhere' not found" in last
    # The cause that stopped the run is told once, in that line, not again as a line per key.
    assert [line for line in run.stdout.splitlines() if line.startswith("!")] == []


def test_wrong_credentials_fail_without_printing_them(emulator):
    wrong = "wrong-Secret-5e6f7a"
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}',
                   BITBUCKET_CLIENT_SECRET=wrong, DEBUG="true")
    run = run_pipe(env)
    assert run.code == 1
    assert run.stdout.splitlines()[-1].startswith("✖ Sync failed")
    assert_no_secret(run, wrong)


def test_debug_logs_requests_but_never_a_secret(emulator):
    document = dict(TERRAFORM, api_key={"sensitive": False, "type": "string", "value": API_KEY})
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", ENVIRONMENT="Staging",
                   VARIABLES=json.dumps(document), SECURED="api_key", DEBUG="true")
    run = run_pipe(env)
    assert run.code == 0, run.stdout
    debug = [line for line in run.stdout.splitlines() if line.startswith("DEBUG: ")]
    assert any(line.startswith("DEBUG: settings: ") and "WORKSPACE='acme'" in line for line in debug)
    assert any("POST" in line and "/site/oauth2/access_token -> 200" in line for line in debug)
    assert any(line.startswith("DEBUG: GET ") and "/environments -> 200" in line for line in debug)
    assert sum(" -> 201 " in line for line in debug) == 4
    assert_no_secret(run, PASSWORD, API_KEY)
    assert "Bearer" not in run.stdout


def test_the_result_is_kept_in_the_pipe_storage_directory(emulator, tmp_path):
    storage = tmp_path / "pipes" / "bbvars"  # created when missing
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES=json.dumps(TERRAFORM),
                   BITBUCKET_PIPE_STORAGE_DIR=str(storage))
    assert run_pipe(env).code == 0
    text = (storage / "result.json").read_text()
    result = json.loads(text)
    assert result["created"] == ["db_host", "db_password", "replicas"]
    assert result["target"] == {"workspace": "acme", "repository": "api", "environment": None}
    assert PASSWORD not in text and "db.internal" not in text

    failing = dict(env, ENVIRONMENT="Nowhere")
    assert run_pipe(failing).code == 1
    assert json.loads((storage / "result.json").read_text())["failed"][0]["key"] == "db_host"


def test_an_unwritable_storage_directory_fails_before_any_request(emulator, tmp_path):
    # The result file is an output like GitHub's: a run that could not keep it stops before writing any variable.
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}',
                   BITBUCKET_PIPE_STORAGE_DIR=str(blocker))
    run = run_pipe(env)
    assert run.code == 1, run.stdout
    assert run.stdout.splitlines() == [
        f"✖ cannot write {blocker}/result.json (BITBUCKET_PIPE_STORAGE_DIR): the directory is a file; nothing was "
        f"sent to Bitbucket (the pipe runs as uid {os.getuid()})"], run.stdout
    assert emulator.requests == [] and blocker.read_text() == ""


def test_the_storage_check_leaves_no_file_when_the_run_stops_early(emulator, tmp_path):
    storage = tmp_path / "storage"
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}', DRY_RUN="maybe",
                  BITBUCKET_PIPE_STORAGE_DIR=str(storage))
    assert run_pipe(env).code == 2
    assert not (storage / "result.json").exists()


def test_each_retry_wait_is_one_plain_info_line(emulator):
    emulator.inject(Fault(method="POST", path="variables", status=429, times=1))
    run = run_pipe(env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}'))
    assert run.code == 0, run.stdout
    retries = [line for line in run.stdout.splitlines() if "Bitbucket answered 429" in line]
    assert len(retries) == 1 and re.fullmatch(r"INFO: Bitbucket answered 429; waiting \d+\.\d s, attempt 2 of 6",
                                              retries[0]), retries
    assert "\r" not in run.stdout and "writing" not in run.stdout  # no progress line in a log


def test_variables_as_dotenv_text(emulator):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api",
                  VARIABLES="# from a .env file\nexport API_URL=https://api.example.com\nGREETING='hi there'\n")
    run = run_pipe(env)
    assert run.code == 0, run.stdout
    assert stored(emulator) == {"API_URL": ("https://api.example.com", False), "GREETING": ("hi there", False)}


def test_a_listed_name_with_a_line_break_cannot_forge_a_pipe_line(emulator):
    # A malicious or broken server lists a variable whose key holds line breaks: no variable name, so prune leaves it
    # alone and one warning names it escaped.
    emulator.inject(listing("EVIL\n✔ Synced: forged\nINFO: forged"))
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}', PRUNE="true")
    run = run_pipe(env)
    assert run.code == 0, run.stdout
    lines = run.stdout.splitlines()
    assert lines[1:] == ["INFO: credential: OAuth consumer", "+ A",
                         "warning: repository acme/api lists 1 key(s) that are no valid variable name, left alone "
                         '(not deleted, updated or reported; shown escaped): "EVIL\\x0a\\u2714 Synced: forged\\x0aINFO: '
                         'forged": Bitbucket allows only [A-Za-z_][A-Za-z0-9_]*, so check BITBUCKET_API_URL',
                         "requests: 3 sent, 3 needed (1 token + 1 listing page + 1 write)",
                         "✔ Synced: 1 created, 0 updated, 0 unchanged, 0 deleted"]
    assert [line for line in lines if line.startswith(("✔", "✖", "INFO:"))] == [lines[0], lines[1], lines[-1]]


def test_fingerprints_and_exit_code(emulator):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES=json.dumps(TERRAFORM), FINGERPRINT="true",
                  EXIT_CODE="true", BBVARS_FINGERPRINT_KEY="pipe-Fingerprint-Key-77")
    first = run_pipe(env)
    assert first.code == 3, first.stdout  # changes made, and asked to say so
    assert "+ db_password (secured)" in first.stdout.splitlines()
    emulator.reset_requests()
    second = run_pipe(env)
    assert second.code == 0, second.stdout
    assert second.stdout.splitlines()[-1] == "✔ Synced: 0 created, 0 updated, 3 unchanged, 0 deleted"
    assert api_writes(emulator) == []
    for run in (first, second):
        assert "pipe-Fingerprint-Key-77" not in run.stdout + run.stderr and PASSWORD not in run.stdout + run.stderr


def test_protect_and_max_deletes(emulator):
    for key in ("DEPLOY_KEY", "OLD_A", "OLD_B"):
        emulator.seed_variable("acme", key, "v", repository="api")
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES='{"A": "1"}', PRUNE="true",
                  PROTECT="DEPLOY_*", MAX_DELETES="1")
    refused = run_pipe(env)
    assert refused.code == 1 and "prune would delete 2 variables" in refused.stdout.splitlines()[-1]
    assert set(stored(emulator)) == {"DEPLOY_KEY", "OLD_A", "OLD_B"}
    env["MAX_DELETES"] = "2"
    done = run_pipe(env)
    assert done.code == 0 and set(stored(emulator)) == {"DEPLOY_KEY", "A"}
