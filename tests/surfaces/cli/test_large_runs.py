"""Large runs on every surface: --max-requests (pipe MAX_REQUESTS, action and query max_requests) stops a run
cleanly with exit 4 and every key not written told `not attempted: request budget`, a re-run finishes, and a dry
run over the credential's hourly budget says so in one line."""

from __future__ import annotations

import json

import pytest

from bbvars.emulator import Emulator
from tests.support import ACCESS_TOKEN, api_writes, env_for, run_main, stored

pytestmark = pytest.mark.usefixtures("fast_retry")

VALUES = {f"K{i:02d}": f"v{i}" for i in range(10)}
BUDGET = "not attempted: request budget"


def cli(emulator, monkeypatch, capsys, *args: str, env: dict | None = None):
    return run_main(["sync", "-w", "acme", "-r", "api", "--file", "-", *args], env=env or env_for(emulator),
                    input=json.dumps(VALUES), monkeypatch=monkeypatch, capsys=capsys)


def test_the_cli_stops_at_max_requests_with_exit_4_and_a_rerun_finishes(emulator, monkeypatch, capsys):
    capped = cli(emulator, monkeypatch, capsys, "--max-requests", "6")

    # 1 token + 1 listing + 4 creates; the other 6 keys not attempted, each once.
    assert capped.code == 4, capped.stderr
    assert len(emulator.requests) == 6
    assert capped.json["created"] == ["K00", "K01", "K02", "K03"]
    assert [f["key"] for f in capped.json["failed"]] == ["K04", "K05", "K06", "K07", "K08", "K09"]
    assert all(f["error"].startswith(BUDGET) for f in capped.json["failed"])
    assert capped.json["requests"] == {**capped.json["requests"], "needed": 12, "spent": 6, "max": 6,
                                       "stopped": "request budget"}
    lines = capped.stderr.splitlines()
    assert "requests: 6 sent (max-requests 6), 12 needed (1 token + 1 listing page + 10 writes)" in lines
    assert lines[-1] == ("bbvars: error: repository acme/api: 6 keys not written (6 not attempted): request budget: "
                         "the run may send 6 requests (max-requests), and these writes would pass it; a re-run "
                         "continues with what is left (still done: 4 created)")
    emulator.reset_requests()

    again = cli(emulator, monkeypatch, capsys)

    assert again.code == 0 and again.json["created"] == ["K04", "K05", "K06", "K07", "K08", "K09"]
    assert len(api_writes(emulator)) == 6 and stored(emulator) == {k: (v, False) for k, v in VALUES.items()}


def test_max_requests_is_checked_before_any_request(emulator, monkeypatch, capsys):
    run = cli(emulator, monkeypatch, capsys, "--max-requests", "0")
    assert run.code == 2 and "--max-requests must be between 1 and 1e+06" in run.stderr
    assert emulator.requests == []


def test_a_dry_run_over_the_hour_says_so_in_one_line(emulator: Emulator, monkeypatch, capsys):
    emulator.add_access_token(ACCESS_TOKEN)
    emulator.hourly_limit = 5  # an access token's answers say X-RateLimit-Limit: 5
    env = env_for(emulator, BITBUCKET_ACCESS_TOKEN=ACCESS_TOKEN)
    del env["BITBUCKET_CLIENT_ID"], env["BITBUCKET_CLIENT_SECRET"]

    dry = cli(emulator, monkeypatch, capsys, "--dry-run", env=env)

    assert dry.code == 0
    assert dry.stderr.splitlines()[-2:] == [
        "requests: a run needs 11 (1 listing page + 10 writes); this dry run sent 1",
        "requests: this run needs 11 API requests, over the 5 an hour Bitbucket allows an access token: run fewer "
        "targets at once (--target), cap the run (--max-requests; a re-run continues with what is left), or run the "
        "rest after the hour"]


def test_the_pipe_stops_with_exit_4(emulator, monkeypatch, capsys):
    env = env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES=json.dumps(VALUES), MAX_REQUESTS="6")
    run = run_main(["pipe"], env=env, monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 4, run.stdout
    assert "requests: 6 sent (max-requests 6), 12 needed (1 token + 1 listing page + 10 writes)" in run.stdout
    assert run.stdout.splitlines()[-1].startswith("✖ Sync failed (4 created, 0 updated, 0 unchanged, 0 deleted, "
                                                  "6 failed): repository acme/api: 6 keys not written (6 not "
                                                  "attempted): request budget")
    assert len(emulator.requests) == 6


def test_the_action_stops_with_exit_4(emulator, monkeypatch, capsys, tmp_path):
    import yaml

    from tests.support import ROOT

    output, summary = tmp_path / "output", tmp_path / "summary"
    output.touch(), summary.touch()
    env = env_for(emulator, GITHUB_OUTPUT=str(output), GITHUB_STEP_SUMMARY=str(summary))
    given = {"workspace": "acme", "repository": "api", "variables": json.dumps(VALUES), "max_requests": "6",
             "client_id": env.pop("BITBUCKET_CLIENT_ID"), "client_secret": env.pop("BITBUCKET_CLIENT_SECRET")}
    for name, spec in yaml.safe_load((ROOT / "action.yml").read_text())["inputs"].items():
        env[f"INPUT_{name.upper()}"] = str(given.pop(name, spec.get("default", "")))
    run = run_main(["action"], env=env, monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 4, run.stdout
    assert "requests: 6 sent (max-requests 6), 12 needed (1 token + 1 listing page + 10 writes)" in run.stdout
    assert len(emulator.requests) == 6


def test_terraform_stops_with_exit_4_and_one_line(emulator, monkeypatch, capsys):
    query = {"workspace": "acme", "repository": "api", "variables": json.dumps(VALUES), "max_requests": "6"}
    run = run_main(["terraform"], env=env_for(emulator), input=json.dumps(query), monkeypatch=monkeypatch,
                   capsys=capsys)
    assert run.code == 4 and run.stdout == ""
    [line] = run.stderr.splitlines()
    assert "6 keys not written (6 not attempted): request budget" in line
    assert len(emulator.requests) == 6


MANIFEST = """\
version: 1
workspace: acme
targets:
  - {name: one, repository: api, variables: {A1: "1", A2: "2", A3: "3"}}
  - {name: two, repository: web, variables: {B1: "1", B2: "2", B3: "3"}}
  - {name: three, variables: {C1: "1", C2: "2"}}
"""


def test_a_manifest_is_cut_in_order_and_the_rerun_finishes(emulator, monkeypatch, capsys, tmp_path):
    emulator.add_repository("acme", "web")
    (tmp_path / "bbvars.yml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)

    def sync(*args: str):
        return run_main(["sync", "--manifest", "bbvars.yml", *args], env=env_for(emulator),
                        monkeypatch=monkeypatch, capsys=capsys)

    # 1 token + 3 listings, then 3 writes of `one` and 2 of `two` fit in 9.
    capped = sync("--max-requests", "9")

    assert capped.code == 4, capped.stderr
    one, two, three = capped.json["targets"]
    assert (one["created"], two["created"], three["created"]) == (["A1", "A2", "A3"], ["B1", "B2"], [])
    assert [f["key"] for f in two["failed"] + three["failed"]] == ["B3", "C1", "C2"]
    assert all(f["error"].startswith(BUDGET) for f in two["failed"] + three["failed"])
    assert capped.json["requests"]["spent"] == 9 == len(emulator.requests)
    assert capped.json["requests"]["needed"] == 12 and capped.json["requests"]["stopped"] == "request budget"
    emulator.reset_requests()

    again = sync()

    assert again.code == 0
    assert [t["created"] for t in again.json["targets"]] == [[], ["B3"], ["C1", "C2"]]
    assert len(api_writes(emulator)) == 3
