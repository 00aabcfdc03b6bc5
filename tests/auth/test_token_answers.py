"""Token answers no credential could fix are blamed on what is at fault: an access token no HTTP header can carry is
the token server's answer (the settings were checked before), and a token issued already expired is the token
server's (or its clock's) doing, not the consumer's key and secret."""

from __future__ import annotations

import json

import pytest

from bbvars.auth import store
from bbvars.emulator import Fault
from bbvars.errors import BbvarsError
from tests.auth.helpers import credentials, login_env, write_login
from tests.support import CLIENT_SECRET, run_main

LIST = ["list", "-w", "acme", "-r", "api"]


@pytest.mark.parametrize("token, held", [
    ("abc\r\nX-Injected: 1", "a line break"),
    ("abc\ndef", "a line break"),
    ("abc\x01def", "a space, control character or non-ASCII letter"),
    ("abc def", "a space, control character or non-ASCII letter"),
    ("abcdéf", "a space, control character or non-ASCII letter"),
])
def test_a_token_no_header_can_carry_is_blamed_on_the_server_s_answer(emulator, bb_env, monkeypatch, capsys, token,
                                                                       held):
    answer = json.dumps({"access_token": token, "scope": "pipeline pipeline:variable", "expires_in": 7200,
                         "token_type": "bearer"})
    emulator.inject(Fault(method="POST", path="^/site/oauth2/access_token$", status=200, body=answer))
    run = run_main(LIST, env=bb_env, monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    assert run.stderr.splitlines()[-1] == (
        f"bbvars: error: the token URL answered an access token holding {held}, which no HTTP header can carry: the "
        "server's answer is at fault, not a credential as pasted; check BITBUCKET_TOKEN_URL")
    assert [r.path for r in emulator.requests] == ["/site/oauth2/access_token"]  # no API request carried it
    assert "X-Injected" not in run.stderr and CLIENT_SECRET not in run.stderr


def test_a_stored_access_token_no_header_can_carry_is_a_damaged_file(emulator, config_home):
    write_login(emulator, config_home, access_token="abc\ndef")
    with pytest.raises(BbvarsError, match="is damaged: run `bbvars logout`, then `bbvars login`"):
        store.load(credentials(config_home))


BORN_EXPIRED = ("the token URL issued a token already expired (expires_in 0 s), which the API refused: fix the token "
                "server (BITBUCKET_TOKEN_URL) or its clock, not the credential")


@pytest.mark.parametrize("args", [LIST, ["sync", "-w", "acme", "-r", "api", "--var", "A=1"]])
def test_a_token_born_expired_is_not_blamed_on_the_consumer(emulator, bb_env, monkeypatch, capsys, args):
    emulator.token_ttl = 0
    run = run_main(args, env=bb_env, monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1
    assert run.stderr.splitlines()[-1].endswith(BORN_EXPIRED), run.stderr
    assert "key and secret" not in run.stderr
    tokens = [r for r in emulator.requests if r.path == "/site/oauth2/access_token"]
    assert len(tokens) == 1  # not renewed: a new one would be born as dead


def test_a_stored_login_refreshed_into_a_token_born_expired_says_so(emulator, config_home, monkeypatch, capsys):
    write_login(emulator, config_home, expired=True)
    emulator.token_ttl = 0
    run = run_main(LIST, env=login_env(emulator), monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 1 and run.stderr.splitlines()[-1] == f"bbvars: error: {BORN_EXPIRED}"
