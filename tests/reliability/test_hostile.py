"""bbvars against a malicious server on loopback (tests/reliability/hostile.py): time, memory and requests stay
bounded, and a listing bbvars cannot trust is a one-line failure with nothing written.

Bounds are shown by design, not by a clock: every slow or endless answer stops by itself after hostile.LIMIT
seconds, and a test asserts that bbvars hung up first (with --timeout 1 and two attempts)."""

from __future__ import annotations

import gzip
import json
import shutil
import ssl
import subprocess
import tracemalloc
import types

import pytest

from bbvars.auth import flows as auth  # the module whose clock the test turns
from bbvars.bitbucket import client as client_module
from bbvars.bitbucket import paging
from bbvars.bitbucket.client import RetryPolicy
from bbvars.emulator import Emulator, Fault
from bbvars.emulator import state as state_module
from bbvars.sync import applier
from tests.reliability.hostile import (
    GOOD_TOKEN,
    TOKEN_PATH,
    VARIABLES,
    Endless,
    HostileServer,
    Reply,
    Silent,
    Trickle,
    bitbucket,
    record,
)
from tests.support import CLIENT_ID, CLIENT_SECRET, clean_env, env_for, run_main, seed, stored

ATTEMPTS = 2
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def quick_and_unproxied(monkeypatch):
    monkeypatch.setattr(client_module, "DEFAULT_RETRY",
                        RetryPolicy(attempts=ATTEMPTS, initial=0.01, max_wait=0.01, max_total=60))
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def env_of(server: HostileServer, **extra: str) -> dict[str, str]:
    return clean_env(BITBUCKET_API_URL=server.url + "/2.0", BITBUCKET_TOKEN_URL=server.url + TOKEN_PATH,
                     BITBUCKET_CLIENT_ID=CLIENT_ID, BITBUCKET_CLIENT_SECRET=CLIENT_SECRET, **extra)


def sync(server, monkeypatch, capsys, wanted=None, *flags, env=None, command="sync"):
    args = [command] if command == "token" else ["sync", "-w", "acme", "-r", "api", *flags]
    run = run_main([*args, "--timeout", "1"], env=env or env_of(server),
                   input=json.dumps(wanted if wanted is not None else {"A": "new"}), monkeypatch=monkeypatch,
                   capsys=capsys)
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    assert CLIENT_SECRET not in run.stdout + run.stderr
    return run


def error_line(run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.startswith("bbvars: error:")]
    assert len(lines) == 1, run.stderr
    return lines[0]


def writes(server: HostileServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if r.method in ("POST", "PUT", "DELETE")
            and r.path != TOKEN_PATH]


def page(values, **extra) -> Reply:
    return Reply(body={"values": values, "pagelen": 100, **extra})


# -- time -------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", [False, True], ids=["body trickles", "status line trickles"])
def test_a_listing_that_trickles_is_cut_at_the_timeout(monkeypatch, capsys, head):
    with HostileServer(bitbucket(pages=lambda r: Trickle(head=head))) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1
    assert "did not answer listing the variables of repository acme/api within the timeout after 2 attempts" in (
        error_line(run))
    assert server.hangups == ATTEMPTS and server.self_stops == 0  # bbvars hung up, each time
    assert writes(server) == []


def test_a_token_endpoint_that_trickles_is_cut_at_the_timeout(monkeypatch, capsys):
    with HostileServer(bitbucket(token=lambda r: Trickle())) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "did not answer for a token within the timeout" in error_line(run)
    assert server.hangups == ATTEMPTS and server.self_stops == 0
    assert server.paths() == [TOKEN_PATH] * ATTEMPTS


def test_a_server_that_never_answers_is_given_up_on(monkeypatch, capsys):
    with HostileServer(bitbucket(pages=lambda r: Silent())) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "within the timeout after 2 attempts" in error_line(run)
    assert server.hangups == ATTEMPTS and server.self_stops == 0


# -- memory -----------------------------------------------------------------------------------------------------------


def test_a_listing_that_never_ends_is_capped_and_not_retried(monkeypatch, capsys):
    with HostileServer(bitbucket(pages=lambda r: Endless())) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1
    assert "was larger than 8 MiB" in error_line(run) and "listing the variables" in error_line(run)
    assert server.paths("GET") == [VARIABLES]  # not retried
    assert server.hangups == 1 and server.self_stops == 0
    assert writes(server) == []


def test_a_compressed_bomb_is_never_expanded_past_the_cap(monkeypatch, capsys):
    # 256 MiB of spaces compresses to about 250 KiB; without care one network chunk of it expands to dozens of MiB.
    bomb = gzip.compress(b" " * (256 * 1024 * 1024), compresslevel=9)
    gzipped = Reply(body=bomb, headers={"Content-Encoding": "gzip"})
    with HostileServer(bitbucket(pages=lambda r: gzipped)) as server:
        tracemalloc.start()
        try:
            run = sync(server, monkeypatch, capsys)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert run.code == 1 and "was larger than 8 MiB" in error_line(run)
    assert peak < 3 * 8 * 1024 * 1024, f"{peak / 2**20:.0f} MiB"  # the cap and its join, not the bomb
    assert server.paths("GET") == [VARIABLES] and writes(server) == []


def test_a_token_answer_that_never_ends_is_capped_small(monkeypatch, capsys):
    with HostileServer(bitbucket(token=lambda r: Endless())) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "for a token" in error_line(run) and "larger than 64 KiB" in error_line(run)
    assert server.paths() == [TOKEN_PATH] and server.hangups == 1


# -- paging -----------------------------------------------------------------------------------------------------------


def fresh(start: int, count: int = 100) -> list[dict]:
    return [record(f"{{u{i}}}", f"K{i}") for i in range(start, start + count)]


def test_a_next_link_pointing_at_its_own_page_fails_the_run(monkeypatch, capsys):
    def self_pointing(request):
        return page(fresh(0), page=1, size=1000, next=f"{server.url}{request.target}")

    with HostileServer(bitbucket(pages=self_pointing)) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "Bitbucket's paging did not end listing the variables" in error_line(run)
    assert len(server.paths("GET")) == 1 and writes(server) == []
    [failed] = json.loads(run.stdout)["failed"]
    assert failed["key"] == "A" and failed["error"].startswith("Bitbucket's paging did not end listing the variables")


@pytest.mark.parametrize("links", [True, False], ids=["with next links", "without next links"])
def test_a_server_that_ignores_the_page_asked_for_fails_the_run_on_the_second_page(monkeypatch, capsys, links):
    def same_page(request):
        number = int(request.query.get("page", 1))
        extra = {"next": f"{server.url}{VARIABLES}?page={number + 1}&pagelen=100"} if links else {}
        return page(fresh(0), page=number, size=250, **extra)

    with HostileServer(bitbucket(pages=same_page)) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "paging did not end" in error_line(run) and "repeated" in error_line(run)
    assert len(server.paths("GET")) == 2 and writes(server) == []


def test_a_next_link_that_goes_back_fails_the_run(monkeypatch, capsys):
    def backwards(request):
        number = int(request.query.get("page", 1))
        return page(fresh(100 * number), page=number, size=1000, next=f"{server.url}{VARIABLES}?page=1&x={number}")

    with HostileServer(bitbucket(pages=backwards)) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "points at page 1" in error_line(run)
    assert len(server.paths("GET")) == 1


def test_pages_beyond_the_announced_size_fail_the_run_after_one_extra_request(monkeypatch, capsys):
    # size says 150 (two pages), yet fresh pages with next links keep coming: at most 2 + 1 requests.
    def under_reported(request):
        number = int(request.query.get("page", 1))
        return page(fresh(100 * number), page=number, size=150, next=f"{server.url}{VARIABLES}?page={number + 1}")

    with HostileServer(bitbucket(pages=under_reported)) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "paging did not end" in error_line(run) and "size said 150" in error_line(run)
    assert len(server.paths("GET")) == 3 and writes(server) == []


def test_a_size_larger_than_the_listing_costs_at_most_the_one_request_that_finds_the_end(monkeypatch, capsys):
    # No next links (BCLOUD-20639) and a size of 1000 for 150 variables: page 3 comes back empty and ends it.
    listing = fresh(0, 150)

    def over_reported(request):
        number = int(request.query.get("page", 1))
        return page(listing[100 * (number - 1):100 * number], page=number, size=1000)

    with HostileServer(bitbucket(pages=over_reported)) as server:
        run = sync(server, monkeypatch, capsys, {"K149": "old", "NEW": "n"})
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["unchanged"] == ["K149"] and writes(server) == [f"POST {VARIABLES}"]
    assert len(server.paths("GET")) == 3


def test_the_page_bound_fails_the_run_rather_than_truncating(monkeypatch, capsys):
    monkeypatch.setattr(paging, "MAX_PAGES", 3)

    def endless_pages(request):
        number = int(request.query.get("page", 1))
        return page(fresh(100 * number), page=number, next=f"{server.url}{VARIABLES}?page={number + 1}")

    with HostileServer(bitbucket(pages=endless_pages)) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "paging did not end" in error_line(run) and "3 pages" in error_line(run)
    assert len(server.paths("GET")) == 3 and writes(server) == []


# -- listings ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prune", [False, True])
def test_a_key_listed_twice_is_written_through_both_records(monkeypatch, capsys, prune):
    twice = [record("{one}", "DUP"), record("{two}", "DUP"), record("{other}", "KEEP", "k")]
    with HostileServer(bitbucket(pages=lambda r: page(twice, page=1, size=3))) as server:
        wanted = {"KEEP": "k"} if prune else {"DUP": "new", "KEEP": "k"}
        run = sync(server, monkeypatch, capsys, wanted, *(["--prune"] if prune else []))
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    method = "DELETE" if prune else "PUT"
    assert sorted(writes(server)) == [f"{method} {VARIABLES}/{{one}}", f"{method} {VARIABLES}/{{two}}"]
    assert report["deleted" if prune else "updated"] == ["DUP"] and report["unchanged"] == ["KEEP"]


def test_a_key_listed_twice_fails_once_when_one_of_its_writes_fails(monkeypatch, capsys):
    twice = [record("{one}", "DUP"), record("{two}", "DUP")]

    def second_refused(request):
        if request.path.endswith("{two}"):
            return Reply(400, {"type": "error", "error": {"message": "Invalid variable."}})
        return Reply(200, record("{one}", "DUP", "new"))

    with HostileServer(bitbucket(pages=lambda r: page(twice, page=1, size=2), writes=second_refused)) as server:
        run = sync(server, monkeypatch, capsys, {"DUP": "new"})
    assert run.code == 1
    report = json.loads(run.stdout)
    assert report["updated"] == [] and [f["key"] for f in report["failed"]] == ["DUP"]
    assert "Invalid variable." in report["failed"][0]["error"]


# A hostile or wrong API lists keys Bitbucket itself would refuse: a shell command for a later step, a workflow
# command behind a line break, a quote and a dollar, a name too long to print whole.
FOREIGN = ['x"; touch PWNED; echo "', "EVIL\n::error::forged", "$(touch PWNED)'`", "Ä" * 200]
FOREIGN_SHOWN = ['"x\\x22; touch PWNED; echo \\x22"', '"EVIL\\x0a::error::forged"',
                 '"\\x24(touch PWNED)\\x27\\x60"', '"' + "\\xc4" * 15 + '..."']


def foreign_listing() -> list[dict]:
    return [record(f"{{f{n}}}", key) for n, key in enumerate(FOREIGN)] + [record("{old}", "OLD"),
                                                                          record("{keep}", "KEEP", "k")]


def assert_foreign_left_alone(server: HostileServer, text: str) -> None:
    """Only OLD deleted and A created, and no foreign key in `text` (what a later step could read), raw or cut."""
    assert sorted(writes(server)) == [f"DELETE {VARIABLES}/{{old}}", f"POST {VARIABLES}"]
    for key in FOREIGN:
        assert key[:12] not in text
    assert "PWNED" not in text


def test_listed_keys_that_are_no_variable_names_are_never_pruned_nor_reported_by_name(monkeypatch, capsys):
    with HostileServer(bitbucket(pages=lambda r: page(foreign_listing(), page=1, size=6))) as server:
        run = sync(server, monkeypatch, capsys, {"A": "new", "KEEP": "k"}, "--prune")
    assert run.code == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["created"], report["deleted"], report["unchanged"]) == (["A"], ["OLD"], ["KEEP"])
    assert report["foreign"] == 4 and report["failed"] == []
    assert_foreign_left_alone(server, run.stdout)
    # Named once, escaped, in one warning line: no quote, dollar, backtick or line break of theirs reaches it.
    warnings = [line for line in run.stderr.splitlines() if "no valid variable name" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: repository acme/api lists 4 key(s)"), run.stderr
    assert all(shown in warnings[0] for shown in FOREIGN_SHOWN), warnings[0]
    assert "::error::forged" not in run.stderr.replace(FOREIGN_SHOWN[1][1:-1], "")
    assert not any(line.startswith("::") for line in run.stderr.splitlines())


def test_the_action_puts_no_foreign_key_in_any_output(monkeypatch, capsys, tmp_path):
    from tests.surfaces.test_action import action_env, outputs

    github = {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    with HostileServer(bitbucket(pages=lambda r: page(foreign_listing(), page=1, size=6))) as server:
        where = types.SimpleNamespace(api_url=server.url + "/2.0", token_url=server.url + TOKEN_PATH)
        env = action_env(where, github, workspace="acme", repository="api", variables='{"A": "new", "KEEP": "k"}',
                         prune="true")
        run = run_main(["action"], env=env, monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 0, run.stdout
    written = outputs(github)
    assert (written["created"], written["deleted"], written["unchanged"]) == ("A", "OLD", "KEEP")
    assert json.loads(written["result"])["foreign"] == 4
    summary = (tmp_path / "summary").read_text()
    assert_foreign_left_alone(server, "\n".join(written.values()) + summary)
    warnings = [line for line in run.stdout.splitlines() if "no valid variable name" in line]
    assert len(warnings) == 1 and all(shown in warnings[0] for shown in FOREIGN_SHOWN), run.stdout
    assert not any(line.startswith("::error::forged") for line in run.stdout.splitlines())


def test_max_deletes_counts_the_variables_deleted_not_the_keys(monkeypatch, capsys):
    # DUP listed three times is three DELETE requests: with OLD, four variables, over a limit of 2.
    listing = [record("{d1}", "DUP"), record("{d2}", "DUP"), record("{d3}", "DUP"), record("{old}", "OLD"),
               record("{keep}", "KEEP", "k")]
    with HostileServer(bitbucket(pages=lambda r: page(listing, page=1, size=5))) as server:
        refused = sync(server, monkeypatch, capsys, {"KEEP": "k"}, "--prune", "--max-deletes", "2")
        assert refused.code == 1 and writes(server) == []
        assert ("prune would delete 4 variables of repository acme/api (DUP listed 3 times, OLD), over the "
                "max-deletes limit of 2") in error_line(refused)
        allowed = sync(server, monkeypatch, capsys, {"KEEP": "k"}, "--prune", "--max-deletes", "4")
    assert allowed.code == 0, allowed.stderr
    assert len(writes(server)) == 4 and json.loads(allowed.stdout)["deleted"] == ["DUP", "OLD"]


@pytest.mark.parametrize("item, problem", [
    ({"key": "A", "value": "v", "secured": False}, "without a uuid"),
    ({"uuid": "", "key": "A", "value": "v"}, "without a uuid"),
    ({"uuid": None, "key": "A"}, "without a uuid"),
    ({"uuid": "{1}", "value": "v"}, "without a key"),
    ({"uuid": "{1}", "key": 7}, "without a key"),
    ("A", "not an object"),
    (["A"], "not an object"),
])
def test_a_malformed_record_fails_the_run_naming_the_endpoint_and_sends_no_write(monkeypatch, capsys, item, problem):
    with HostileServer(bitbucket(pages=lambda r: page([record("{0}", "B"), item], page=1, size=2))) as server:
        run = sync(server, monkeypatch, capsys, {"A": "new", "B": "new"}, "--prune")
        endpoint = f"GET {server.url}{VARIABLES}"
    assert run.code == 1
    assert problem in error_line(run)
    failed = json.loads(run.stdout)["failed"]
    assert {f["key"] for f in failed} == {"A", "B"}
    assert all(problem in f["error"] and endpoint in f["error"] and "nothing was changed" in f["error"] for f in failed)
    assert writes(server) == []


@pytest.mark.parametrize("values", [{"A": {"uuid": "{1}"}}, "A", None, 3])
def test_a_page_without_a_list_of_values_fails_the_run(monkeypatch, capsys, values):
    with HostileServer(bitbucket(pages=lambda r: Reply(body={"values": values, "size": 1}))) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "holds no list of values" in error_line(run) and writes(server) == []


def test_a_page_that_is_not_an_object_fails_the_run(monkeypatch, capsys):
    with HostileServer(bitbucket(pages=lambda r: Reply(body=[record("{1}", "A")]))) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "is not a page" in error_line(run) and writes(server) == []


# -- redirects and token answers --------------------------------------------------------------------------------------


def test_a_redirect_from_the_api_is_not_followed(monkeypatch, capsys):
    moved = Reply(302, b"", {"Location": "http://127.0.0.1:9/steal"})
    with HostileServer(bitbucket(pages=lambda r: moved)) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "redirect (HTTP 302) listing the variables" in error_line(run)
    assert server.paths("GET") == [VARIABLES]


def test_a_redirect_from_the_token_url_is_told_as_one(monkeypatch, capsys):
    moved = Reply(302, b"", {"Location": "https://bitbucket.example.test/site/oauth2/access_token"})
    with HostileServer(bitbucket(token=lambda r: moved)) as server:
        run = sync(server, monkeypatch, capsys)
    line = error_line(run)
    assert run.code == 1 and "token URL answered a redirect (HTTP 302 to bitbucket.example.test)" in line
    assert "BITBUCKET_TOKEN_URL" in line and "consumer" not in line
    assert server.paths() == [TOKEN_PATH]


@pytest.mark.parametrize("token, kind", [(None, "null"), ("", "empty"), ("  ", "empty"), (12345, "a number"),
                                         (["t"], "a list")])
def test_a_token_answer_without_a_usable_access_token_is_told_so(monkeypatch, capsys, token, kind):
    with HostileServer(bitbucket(token=lambda r: Reply(body={**GOOD_TOKEN, "access_token": token}))) as server:
        run = sync(server, monkeypatch, capsys)
    line = error_line(run)
    assert run.code == 1 and "no usable access_token" in line and kind in line and "12345" not in line
    assert server.paths() == [TOKEN_PATH]  # never "Bearer None" or any other made-up token


@pytest.mark.parametrize("field", ["scope", "scopes"])
def test_scopes_given_as_a_list_are_joined(monkeypatch, capsys, field):
    answer = {"access_token": "hostile-token-5d1e", field: ["pipeline", "pipeline:variable"], "expires_in": 7200}
    with HostileServer(bitbucket(token=lambda r: Reply(body=answer))) as server:
        run = sync(server, monkeypatch, capsys, command="token")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["scopes"] == "pipeline pipeline:variable"


EXPIRED = Reply(401, {"type": "error", "error": {"message": "Access token expired."}})


def test_a_token_refused_as_expired_on_first_use_points_at_the_clock(monkeypatch, capsys):
    with HostileServer(bitbucket(pages=lambda r: EXPIRED)) as server:
        run = sync(server, monkeypatch, capsys)
    line = error_line(run)
    assert run.code == 1 and "just issued as expired" in line and "clock" in line and "secret" not in line
    assert server.paths() == [TOKEN_PATH, VARIABLES]  # no renewal: a new token would be refused the same way


def test_a_token_that_expires_later_is_renewed_once(monkeypatch, capsys):
    now = [0.0]
    monkeypatch.setattr(auth, "time", types.SimpleNamespace(monotonic=lambda: now[0]))

    def expires_on_write(request):
        if request.headers["authorization"] == f"Bearer {GOOD_TOKEN['access_token']}":
            now[0] += 3 * 3600  # the write comes three hours later, and the first token has expired
            return EXPIRED
        return Reply(200, record("{0}", "A", "new"))

    tokens = iter([GOOD_TOKEN, {**GOOD_TOKEN, "access_token": "second-token-8c2f"}])
    handler = bitbucket(pages=lambda r: page([record("{0}", "A")], page=1, size=1),
                        token=lambda r: Reply(body=next(tokens)), writes=expires_on_write)
    with HostileServer(handler) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 0, run.stderr
    assert server.paths() == [TOKEN_PATH, VARIABLES, f"{VARIABLES}/{{0}}", TOKEN_PATH, f"{VARIABLES}/{{0}}"]


def test_a_401_that_merely_mentions_expired_costs_no_renewal(monkeypatch, capsys):
    refused = Reply(401, {"type": "error", "error": {"message": "Your workspace's plan has expired."}})
    with HostileServer(bitbucket(pages=lambda r: refused)) as server:
        run = sync(server, monkeypatch, capsys)
    assert run.code == 1 and "refused the credentials" in error_line(run)
    assert server.paths() == [TOKEN_PATH, VARIABLES]


# -- TLS and proxies --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a self-signed certificate")
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


def test_a_certificate_that_does_not_verify_is_not_retried_and_names_ssl_cert_file(monkeypatch, capsys, self_signed):
    cert, context = self_signed
    with HostileServer(bitbucket(), tls=context) as server:
        run = sync(server, monkeypatch, capsys)
        assert run.code == 1
        line = error_line(run)
        assert "TLS certificate of 127.0.0.1 could not be verified" in line
        assert "SSL_CERT_FILE" in line and "SSL_CERT_DIR" in line
        assert server.connections == 1 and server.requests == []  # not retried
        # ...and the setting it names is the fix.
        fixed = sync(server, monkeypatch, capsys, env=env_of(server, SSL_CERT_FILE=str(cert)))
    assert fixed.code == 0, fixed.stderr
    assert writes(server) == [f"POST {VARIABLES}"]


def test_a_dead_proxy_is_named_without_its_credentials(monkeypatch, capsys, self_signed):
    cert, context = self_signed
    with HostileServer(bitbucket()) as dead:
        port = dead.port  # closed below: connections to it are refused
    with HostileServer(bitbucket(), tls=context) as server:
        env = env_of(server, HTTPS_PROXY=f"http://proxyuser:pr0xy-pw-61f@127.0.0.1:{port}", SSL_CERT_FILE=str(cert))
        run = sync(server, monkeypatch, capsys, env=env)
    line = error_line(run)
    assert run.code == 1 and f"through the proxy http://127.0.0.1:{port}" in line and "HTTPS_PROXY" in line
    assert "pr0xy-pw-61f" not in run.stderr + run.stdout and "proxyuser" not in run.stderr + run.stdout
    assert server.connections == 0


def test_https_goes_through_the_proxy_unless_no_proxy_names_the_host(monkeypatch, capsys, self_signed):
    cert, context = self_signed
    with HostileServer(bitbucket(), tls=context) as server, HostileServer(lambda r: Reply(502, b"")) as proxy:
        through = env_of(server, HTTPS_PROXY=proxy.url, SSL_CERT_FILE=str(cert))
        refused = sync(server, monkeypatch, capsys, env=through)
        assert refused.code == 1 and f"through the proxy {proxy.url}" in error_line(refused)
        assert [r.method for r in proxy.requests] == ["CONNECT"] * ATTEMPTS and server.connections == 0
        direct = sync(server, monkeypatch, capsys, env={**through, "NO_PROXY": "127.0.0.1"})
    assert direct.code == 0, direct.stderr
    assert len(proxy.requests) == ATTEMPTS


def test_plain_http_loopback_never_goes_through_a_proxy(monkeypatch, capsys):
    with HostileServer(lambda r: Reply(502, b"")) as proxy, Emulator() as emu:
        emu.seed_demo()
        emu.add_consumer(CLIENT_ID, CLIENT_SECRET)
        env = env_for(emu, HTTP_PROXY=proxy.url, ALL_PROXY=proxy.url, http_proxy=proxy.url, all_proxy=proxy.url)
        run = run_main(["sync", "-w", "acme", "-r", "api"], env=env, input='{"A": "1"}', monkeypatch=monkeypatch,
                       capsys=capsys)
        assert run.code == 0, run.stderr
        assert stored(emu) == {"A": ("1", False)}
    assert proxy.connections == 0 and proxy.requests == []


# -- 409 and lagging listings -----------------------------------------------------------------------------------------


@pytest.fixture
def lag_clock(monkeypatch):
    """One clock for the emulator's lag and bbvars' waits between re-lists: a wait moves it, nothing sleeps."""
    now = [1000.0]
    monkeypatch.setattr(state_module, "time", types.SimpleNamespace(monotonic=lambda: now[0]))

    def wait(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(applier, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    monkeypatch.setattr(applier, "pause", lambda seconds, cancel: wait(seconds))
    return now


def test_a_409_whose_key_the_lagging_listing_shows_later_ends_updated(monkeypatch, capsys, emulator, lag_clock):
    emulator.lag = 1.0  # listings show a write a second after it happened
    emulator.inject(Fault(method="POST", path="variables$", action=lambda emu: seed(emu, {"RACE": "theirs"})))
    run = run_main(["sync", "-w", "acme", "-r", "api"], env=env_for(emulator), input='{"RACE": "mine"}',
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["updated"] == ["RACE"] and stored(emulator) == {"RACE": ("mine", False)}
    # The first listing; after the 409 one at once and after waits of 0.25 and 0.5 s, none showing it; the one after
    # the 1 s wait (1.75 s after the write) shows it.
    assert len([r for r in emulator.requests if r.method == "GET"]) == 1 + 1 + 3


def test_a_409_whose_key_never_shows_fails_that_key_after_the_bounded_re_lists(monkeypatch, capsys, emulator,
                                                                              lag_clock):
    emulator.lag = 600
    emulator.inject(Fault(method="POST", path="variables$", action=lambda emu: seed(emu, {"RACE": "theirs"})))
    started = lag_clock[0]
    run = run_main(["sync", "-w", "acme", "-r", "api"], env=env_for(emulator), input='{"RACE": "mine", "B": "b"}',
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    report = json.loads(run.stdout)
    assert report["created"] == ["B"] and [f["key"] for f in report["failed"]] == ["RACE"]
    assert "its listing still does not show it after 7 re-lists over 10.0 s" in report["failed"][0]["error"]
    assert "lag" in report["failed"][0]["error"]
    assert len([r for r in emulator.requests if r.method == "GET"]) == 1 + 7
    assert lag_clock[0] - started == sum(applier.RELIST_WAITS)  # all the waiting there was


def test_once_a_conflicted_key_never_showed_the_target_s_other_conflicts_do_not_wait_again(monkeypatch, capsys,
                                                                                             emulator, lag_clock):
    emulator.lag = 600
    emulator.inject(Fault(method="POST", path="variables$", times=2,
                          action=lambda emu: seed(emu, {"R1": "theirs", "R2": "theirs"})))
    started = lag_clock[0]
    run = run_main(["sync", "-w", "acme", "-r", "api", "--concurrency", "1"], env=env_for(emulator),
                   input='{"R1": "mine", "R2": "mine"}', monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    errors = {f["key"]: f["error"] for f in json.loads(run.stdout)["failed"]}
    assert "after 7 re-lists over 10.0 s" in errors["R1"]
    assert "already failed to show another key of repository acme/api after 10.0 s" in errors["R2"]
    assert lag_clock[0] - started == 10.0  # the second conflict waited nothing more
    # R2's create went out no earlier (this clock moves only in waits) than R1's last re-list: that one serves it.
    assert len([r for r in emulator.requests if r.method == "GET"]) == 1 + 7


def test_a_proxy_bbvars_cannot_speak_to_is_named(monkeypatch, capsys, self_signed):
    _cert, context = self_signed
    with HostileServer(bitbucket(), tls=context) as server:
        run = sync(server, monkeypatch, capsys, env=env_of(server, ALL_PROXY="socks5://user:pw-93@127.0.0.1:1080"))
    line = error_line(run)
    assert run.code == 1 and "the proxy socks5://127.0.0.1:1080 (ALL_PROXY) is not an HTTP proxy" in line
    assert "pw-93" not in run.stderr + run.stdout and server.connections == 0
