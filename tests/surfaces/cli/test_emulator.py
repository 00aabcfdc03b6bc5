"""`bbvars emulator` as a user runs it: a real server process that bbvars (another process) syncs into."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys

import httpx
import pytest

from tests.support import ROOT, clean_env, run_cli, run_in_process


@pytest.fixture
def served(request):
    """Start `bbvars emulator --port 0 ARGS...` and yield its API and token URLs; stop it with SIGTERM."""
    args = getattr(request, "param", [])
    env = clean_env()
    proc = subprocess.Popen([sys.executable, "-m", "bbvars", "emulator", "--port", "0", *args], env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()
        match = re.search(r"API (\S+)\s+token (\S+)", first)
        assert match, f"unexpected first line: {first!r}"
        yield match.group(1), match.group(2), dict(env, banner=first)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0  # SIGTERM is a clean stop


def sync_env(api: str, token: str, env: dict) -> dict:
    env = {name: value for name, value in env.items() if name != "banner"}
    return dict(env, BITBUCKET_API_URL=api, BITBUCKET_TOKEN_URL=token, BITBUCKET_CLIENT_ID="demo-client",
                BITBUCKET_CLIENT_SECRET="demo-secret")


def test_a_sync_against_the_served_emulator_creates_then_finds_unchanged(served):
    api, token, env = served
    first = run_in_process(["sync", "-w", "acme", "-r", "api", "-e", "Test", "--var", "A=1"], env=sync_env(api, token, env))
    assert first.code == 0, first.stderr
    assert first.json["created"] == ["A"]
    again = run_in_process(["sync", "-w", "acme", "-r", "api", "-e", "Test", "--var", "A=1"], env=sync_env(api, token, env))
    assert again.json["unchanged"] == ["A"]


@pytest.mark.parametrize("served", [["--fault", "503:1"]], indirect=True)
def test_injected_fault_is_retried(served):
    api, token, env = served
    run = run_in_process(["sync", "-w", "acme", "--var", "A=1", "--debug"], env=sync_env(api, token, env))
    assert run.code == 0, run.stderr
    assert "after HTTP 503" in run.stderr


def test_bad_fault_spec_is_an_input_error():
    run = run_cli(["emulator", "--fault", "abc"], env=clean_env())
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "--fault takes STATUS[:TIMES]" in run.stderr


def debug_lines(run) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.startswith("bbvars: debug: ")]


@pytest.mark.parametrize("served", [["--latency", "0.3"]], indirect=True)
def test_latency_delays_every_answer(served):
    api, token, env = served
    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--debug"], env=sync_env(api, token, env))
    assert run.code == 0, run.stderr
    assert run.json["created"] == ["A"]
    # The token, the listing and the create, each answered no sooner than the latency after it was sent.
    took = [int(ms) for ms in re.findall(r" -> \d{3} \((\d+) ms\)$", run.stderr, flags=re.M)]
    assert len(took) == 3 and all(ms >= 300 for ms in took), debug_lines(run)


# Tokens live one second; the first two listings are answered 503, so the retry waits (at least 0.5 s, then at least
# 1 s) outlast the first token: the third listing meets "Access token expired." and the token is renewed.
@pytest.mark.parametrize("served", [["--token-ttl", "1", "--fault", "503:2"]], indirect=True)
def test_token_ttl_expires_tokens_and_a_sync_renews_once(served):
    api, token, env = served
    minted = run_in_process(["token"], env=sync_env(api, token, env))
    assert minted.code == 0, minted.stderr
    assert minted.json["expires_in"] == 1

    run = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1", "--debug"], env=sync_env(api, token, env))

    assert run.code == 0, run.stderr
    assert run.json["created"] == ["A"]
    debug = debug_lines(run)
    assert sum(f"POST {token} -> 200" in line for line in debug) == 2, debug  # the first token and one renewal
    assert sum("-> 503" in line for line in debug) == 2, debug
    assert any(f"GET {api}/repositories/acme/api/pipelines_config/variables -> 200" in line for line in debug)


def test_bad_quirk_is_an_input_error():
    run = run_cli(["emulator", "--quirk", "lag=soon"], env=clean_env())
    assert run.code == 2
    assert run.stderr.count("\n") == 1 and "--quirk takes lag=SECONDS, nonext, nosize" in run.stderr


def listing(api: str, token: str, **params) -> dict:
    with httpx.Client(trust_env=False) as web:
        minted = web.post(token, auth=("demo-client", "demo-secret"), data={"grant_type": "client_credentials"})
        return web.get(f"{api}/repositories/acme/api/pipelines_config/variables", params=params,
                       headers={"Authorization": f"Bearer {minted.json()['access_token']}"}).json()


@pytest.mark.parametrize("served", [["--quirk", "nonext"]], indirect=True)
def test_the_nonext_quirk_drops_next_links(served):
    api, token, env = served
    wanted = {f"K{n:03d}": "v" for n in range(120)}
    first = run_in_process(["sync", "-w", "acme", "-r", "api", "--file", "-"], env=sync_env(api, token, env),
                    input=json.dumps(wanted))
    assert first.code == 0 and first.json["created"] == sorted(wanted), first.stderr
    page = listing(api, token, pagelen=10)
    assert "next" not in page and page["size"] == 120 and len(page["values"]) == 10
    again = run_in_process(["sync", "-w", "acme", "-r", "api", "--file", "-"], env=sync_env(api, token, env),
                    input=json.dumps(wanted))
    assert again.code == 0 and again.json["unchanged"] == sorted(wanted), again.stderr  # page 2 was asked for


@pytest.mark.parametrize("served", [["--quirk", "lag=600"]], indirect=True)
def test_the_lag_quirk_makes_listings_trail_writes(served, monkeypatch):
    from bbvars.sync import applier

    # In-process, so the re-list waits can be short: ten minutes of lag outlasts any of them (10 s as shipped).
    monkeypatch.setattr(applier, "RELIST_WAITS", (0.01,) * len(applier.RELIST_WAITS))
    api, token, env = served
    first = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=sync_env(api, token, env))
    assert first.code == 0 and first.json["created"] == ["A"], first.stderr
    assert listing(api, token)["values"] == []  # ten minutes behind
    # The second run does not see A listed, meets a 409, re-lists a few times in vain, and says so.
    again = run_in_process(["sync", "-w", "acme", "-r", "api", "--var", "A=1"], env=sync_env(api, token, env))
    assert again.code == 1 and "its listing still does not show it" in again.json["failed"][0]["error"]


# -- start-up failures: one clear line each ---------------------------------------------------------------------------


def test_a_port_in_use_is_one_line_exit_1():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = run_cli(["emulator", "--port", str(port)], env=clean_env(), timeout=30)
    assert run.code == 1
    assert run.stderr == (f"bbvars: error: port {port} on 127.0.0.1 is in use: stop what listens there, or pick "
                          "another --port (0 = any free one)\n")


@pytest.mark.parametrize("args, message", [
    (["--port", "99999"], "--port takes a number from 0 to 65535 (0 = any free port), got 99999"),
    (["--port", "-1"], "--port takes a number from 0 to 65535 (0 = any free port), got -1"),
    (["--port", "seven"], "--port takes a number from 0 to 65535, got 'seven'"),
    (["--host", "192.0.2.1", "--port", "0"], "--host 192.0.2.1 is not an address of this machine"),  # TEST-NET-1
])
def test_a_bad_port_or_host_is_one_line_exit_2(args, message):
    run = run_cli(["emulator", *args], env=clean_env(), timeout=30)
    assert run.code == 2 and run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert "internal error" not in run.stderr


# -- seeding: any example's targets, from a file or flags ------------------------------------------------------------

MANIFEST_SEED = str(ROOT / "examples" / "manifest" / "seed.yml")


@pytest.mark.parametrize("served", [["--seed", MANIFEST_SEED, "--repository", "acme/tools", "--environment",
                                     "acme/tools/Test", "--variable", "acme/tools/Test:OLD=1", "--workspace", "beta",
                                     "--variable", "beta:REGION=eu"]], indirect=True)
def test_the_served_emulator_holds_what_seed_files_and_flags_add(served):
    api, token, env = served
    env = sync_env(api, token, env)
    listed = run_in_process(["list", "-w", "acme", "-r", "api", "-e", "Production"], env=env)  # the demo data is kept
    assert listed.code == 0 and listed.json == [{"key": "OLD_FEATURE_FLAG", "secured": False, "value": "on"}]
    assert run_in_process(["list", "-w", "acme", "-r", "tools", "-e", "Test"], env=env).json == [
        {"key": "OLD", "secured": False, "value": "1"}]
    assert run_in_process(["list", "-w", "beta"], env=env).json == [{"key": "REGION", "secured": False, "value": "eu"}]
    synced = run_in_process(["sync", "-w", "acme", "-r", "web", "-e", "Production", "--var", "A=1"], env=env)
    assert synced.code == 0 and synced.json["created"] == ["A"], synced.stderr


def test_the_banner_names_the_seeds():
    proc = subprocess.Popen([sys.executable, "-m", "bbvars", "emulator", "--port", "0", "--seed", MANIFEST_SEED],
                            env=clean_env(), stderr=subprocess.PIPE, text=True)
    try:
        banner = [proc.stderr.readline() for _ in range(3)]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert banner[2] == (f"seeded: workspace acme, repository api, environments Test, Staging, Production; plus "
                         f"{MANIFEST_SEED}; Ctrl-C to stop\n")


@pytest.mark.parametrize("seed, message", [
    ("workspaces: {acme: {repos: {}}}", "seed.yml: workspaces.acme holds 'repos'; it takes variables, repositories"),
    ("workspaces: {acme: {repositories: {web: {environments: {Prod: {variables: {A: [1]}}}}}}}",
     "seed.yml: workspaces.acme.repositories.web.environments.Prod.variables.A must be text or a number"),
    ("workspaces: {acme: {variables: {1BAD: x}}}", "workspaces.acme.variables.1BAD: Invalid variable key"),
    ("workspaces: [acme]", "seed.yml: workspaces must be a mapping"),
    ("workspaces: {acme: {", "is not YAML or JSON (line 1): check its syntax"),
])
def test_a_bad_seed_file_is_one_line_exit_2_before_listening(seed, message, tmp_path):
    (tmp_path / "seed.yml").write_text(seed)
    run = run_cli(["emulator", "--port", "0", "--seed", str(tmp_path / "seed.yml")], env=clean_env(), timeout=30)
    assert run.code == 2 and run.stderr.count("\n") == 1 and message in run.stderr, run.stderr
    assert "API" not in run.stderr


@pytest.mark.parametrize("args, message", [
    (["--environment", "acme/api"], "--environment takes W/R/E"),
    (["--repository", "acme"], "--repository takes W/R"),
    (["--variable", "acme/api:NOEQUALS"], "--variable takes W[/R[/E]]:KEY=VALUE"),
    (["--seed", "/nonexistent/seed.yml"], "cannot read --seed /nonexistent/seed.yml: No such file or directory"),
])
def test_bad_seeding_flags_are_one_line_exit_2(args, message):
    run = run_cli(["emulator", "--port", "0", *args], env=clean_env(), timeout=30)
    assert run.code == 2 and run.stderr.count("\n") == 1 and message in run.stderr, run.stderr


def test_a_seed_adds_secured_variables_and_environments_from_python():
    from bbvars.emulator import Emulator
    from bbvars.emulator.seed import apply

    emulator = Emulator.demo()
    apply(emulator, {"workspaces": {"acme": {"repositories": {
        "api": {"environments": ["Production", "Preview"], "variables": {"PORT": 8080}},
        "web": {"environments": {"Production": {"variables": {"TOKEN": {"value": "t0p", "secured": True}}}}}}}}})
    assert [e["name"] for e in emulator.environments("acme", "api")] == ["Test", "Staging", "Production", "Preview"]
    assert emulator.variables("acme", "api")[0] | {"uuid": None} == {"uuid": None, "key": "PORT", "value": "8080",
                                                                      "secured": False}
    assert emulator.variables("acme", "web", "Production")[0]["secured"] is True


@pytest.mark.parametrize("served", [["--host", "0.0.0.0"]], indirect=True)
def test_a_wildcard_host_is_said_in_the_banner_not_hidden_behind_loopback_urls(served):
    api, token, env = served
    assert api.startswith("http://127.0.0.1:")  # what a client on this machine uses
    banner = env["banner"]
    port = api.split(":")[2].split("/")[0]
    assert f"listening on 0.0.0.0 port {port}: every IPv4 address of this machine, not only loopback" in banner
    assert run_in_process(["sync", "-w", "acme", "--var", "A=1"], env=sync_env(api, token, env)).code == 0
