"""What the stored login trusts: the one API it was made with, a private directory and file, and URLs that pass the
environment's own check on every load. Each refusal is one line, before any request carries a token."""

from __future__ import annotations

import json
import os
import stat

import httpx
import pytest

from bbvars.auth import store
from bbvars.emulator import Emulator, Fault
from bbvars.errors import BbvarsError
from tests.auth.helpers import credentials, login_env, write_login
from tests.support import answer_consent, deadline, finish, login_consumer, run_main, start_login
from tests.support import login_env as consumer_env


def list_acme(env, monkeypatch, capsys):
    return run_main(["list", "-w", "acme", "-r", "api"], env=env, monkeypatch=monkeypatch, capsys=capsys)


def test_a_stored_login_is_sent_to_no_other_api(emulator, config_home, monkeypatch, capsys):
    write_login(emulator, config_home)
    with Emulator() as other:
        other.seed_demo()
        run = list_acme(login_env(other), monkeypatch, capsys)
        assert other.requests == []  # the token never left for the other server
    assert run.code == 2 and run.stdout == ""
    assert run.stderr.splitlines() == [
        f"bbvars: error: the stored login ({credentials(config_home)}) is for the API at {emulator.api_url}, and this "
        f"run's API URL (BITBUCKET_API_URL) is {other.api_url}: its token is sent to no other server; unset "
        "BITBUCKET_API_URL, or run `bbvars login` with it set to log in to that server"]
    assert emulator.requests[-1].path == "/site/oauth2/access_token"  # only the helper's own grant


def test_the_same_api_url_written_differently_is_the_same(emulator, config_home, monkeypatch, capsys):
    write_login(emulator, config_home)
    run = list_acme(login_env(emulator, BITBUCKET_API_URL=emulator.api_url + "/"), monkeypatch, capsys)
    assert run.code == 0, run.stderr


def test_a_login_stored_before_the_api_url_was_recorded_is_for_bitbucket_only(emulator, config_home, monkeypatch,
                                                                              capsys):
    """Version 1 files hold no API URL: one made against Bitbucket is Bitbucket's; its token is not sent to the
    emulator (or any server BITBUCKET_API_URL names)."""
    write_login(emulator, config_home, version=1, api_url=None, token_url=store.BITBUCKET_TOKEN_URL)
    emulator.reset_requests()
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 2 and emulator.requests == []
    assert f"is for the API at {store.BITBUCKET_API_URL}, and this run's API URL (BITBUCKET_API_URL) is " \
           f"{emulator.api_url}" in run.stderr and len(run.stderr.splitlines()) == 1


def test_a_version_1_login_for_another_server_must_be_made_again(emulator, config_home, monkeypatch, capsys):
    write_login(emulator, config_home, version=1, api_url=None)
    emulator.reset_requests()
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 1 and emulator.requests == []
    assert run.stderr.splitlines() == [f"bbvars: error: the stored login {credentials(config_home)} does not say which "
                                       "API its token is for (an older bbvars stored it): run `bbvars login` again"]


def test_list_names_the_credential_it_uses(emulator, config_home, monkeypatch, capsys):
    write_login(emulator, config_home)
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 0 and run.stderr == "bbvars: credential: stored login of Demo User (demo-user)\n"


def test_token_names_the_consumer_it_mints_from(emulator, bb_env, monkeypatch, capsys):
    run = run_main(["token"], env={**bb_env, "BITBUCKET_ACCESS_TOKEN": "ignored-by-token"}, monkeypatch=monkeypatch,
                   capsys=capsys)
    assert run.code == 0 and run.stderr == "bbvars: credential: OAuth consumer\n"


@pytest.mark.parametrize("url, words", [
    ("http://tokens.invalid/site/oauth2/access_token", "its token_url uses plain http:// to tokens.invalid, which "
                                                       "would expose credentials: use https://"),
    ("ftp://tokens.invalid/t", "its token_url must be an https:// URL"),
    ("https://user:pw@tokens.invalid/t", "its token_url holds a user name or password"),
])
def test_an_edited_token_url_is_refused_before_the_secret_goes_anywhere(emulator, config_home, monkeypatch, capsys,
                                                                       url, words):
    write_login(emulator, config_home, expired=True, token_url=url)  # a refresh would be the first request
    emulator.reset_requests()
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 1 and emulator.requests == []
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"bbvars: error: the stored login {credentials(config_home)} is refused: {words}")
    assert line.endswith("run `bbvars logout`, then `bbvars login`") and "pw" not in line


@pytest.mark.parametrize("url", ["http://api.invalid/2.0", "https://u:p@api.invalid/2.0", "api.invalid"])
def test_the_stored_api_url_is_checked_on_load_as_well(emulator, config_home, url):
    write_login(emulator, config_home, api_url=url)
    with pytest.raises(BbvarsError, match="is refused: its api_url "):
        store.load(credentials(config_home))


def test_a_config_directory_others_may_write_is_refused(emulator, config_home, monkeypatch, capsys):
    write_login(emulator, config_home)
    os.chmod(config_home / "bbvars", 0o777)
    emulator.reset_requests()
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 1 and emulator.requests == []
    directory = config_home / "bbvars"
    assert run.stderr.splitlines() == [
        f"bbvars: error: the stored login's directory {directory} may be written by others (mode 0777), so its file "
        f"cannot be trusted: run `chmod 700 {directory}`, then `bbvars login` again"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o620])
def test_a_credentials_file_others_may_read_is_refused(emulator, config_home, monkeypatch, capsys, mode):
    write_login(emulator, config_home, mode=mode)
    emulator.reset_requests()
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 1 and emulator.requests == []
    path = credentials(config_home)
    assert run.stderr.splitlines() == [
        f"bbvars: error: the stored login {path} may be read by others (mode {mode:04o}): run `chmod 600 {path}`, and "
        "if others could have read it, `bbvars logout` then `bbvars login` for new tokens"]


def test_login_refuses_a_config_directory_others_may_write_before_the_browser(emulator, config_home):
    (config_home / "bbvars").mkdir()
    os.chmod(config_home / "bbvars", 0o773)
    proc, page, first = start_login(emulator, login_consumer(emulator))
    run = finish(proc, first)
    assert page is None and run.code == 1
    assert run.stderr.splitlines() == [
        f"bbvars: error: the stored login's directory {config_home / 'bbvars'} may be written by others (mode 0773), "
        f"so its file cannot be trusted: run `chmod 700 {config_home / 'bbvars'}`, then `bbvars login` again"]


def test_under_umask_000_login_makes_every_missing_parent_0700(emulator, tmp_path):
    """~/.config did not exist: it is made 0700 too, not 0777."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    env = {k: v for k, v in consumer_env(emulator, HOME=str(home)).items() if k != "XDG_CONFIG_HOME"}
    callback = login_consumer(emulator)
    old = os.umask(0)
    try:
        proc, page, first = start_login(emulator, callback, env=env)
    finally:
        os.umask(old)
    assert page, first
    answer_consent(page)
    run = finish(proc, first)
    assert run.code == 0, run.stderr
    for directory in (home / ".config", home / ".config" / "bbvars"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE((home / ".config" / "bbvars" / "credentials.json").stat().st_mode) == 0o600


def test_check_calls_a_stored_token_good_only_once_the_api_took_it(emulator, config_home, monkeypatch, capsys):
    """A token read from the file has proved nothing: with the API failing, check cannot say ✔ for it."""
    write_login(emulator, config_home)  # fresh by the clock: used as stored, no token request
    emulator.inject(Fault(path="^/2.0/", status=503, times=-1))
    run = run_main(["check", "-w", "acme", "-r", "api"], env=login_env(emulator), monkeypatch=monkeypatch,
                   capsys=capsys)
    assert run.code == 1
    assert "✔ credential" not in run.stderr
    assert "✖ credential: stored login of Demo User (demo-user): not verified, Bitbucket could not be asked" \
        in run.stderr
    emulator.clear_faults()
    run = run_main(["check", "-w", "acme", "-r", "api"], env=login_env(emulator), monkeypatch=monkeypatch,
                   capsys=capsys)
    assert run.code == 0 and "✔ credential: stored login of Demo User (demo-user): stored token accepted, expires in" \
        in run.stderr


@pytest.mark.parametrize("victim_exists", [False, True])
def test_the_refresh_lock_is_never_opened_through_a_symbolic_link(emulator, config_home, tmp_path, monkeypatch,
                                                                  capsys, victim_exists):
    """A link planted where the lock goes would make bbvars create or lock (and write its pid into) any file the user
    can write: refused, and the file it points at is left as it was."""
    write_login(emulator, config_home, expired=True)
    victim = tmp_path / "victim"
    if victim_exists:
        victim.write_text("precious\n")
    lock = credentials(config_home).with_name("credentials.json.lock")
    os.symlink(victim, lock)
    emulator.reset_requests()
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 1 and emulator.requests == []  # the refresh token was not spent either
    assert run.stderr.splitlines()[-1] == (f"bbvars: error: the stored login's lock {lock} is a symbolic link, which "
                                           "bbvars never follows: delete it and re-run")
    assert victim.read_text() == "precious\n" if victim_exists else not victim.exists()


def test_the_atlassian_api_token_is_httpx_basic_auth():
    from bbvars.auth import AtlassianApiToken

    assert issubclass(AtlassianApiToken, httpx.BasicAuth)


def test_a_link_planted_after_the_look_is_still_refused_by_the_open(tmp_path, monkeypatch):
    """The look before the lock is for a clear message; the open itself (filelock's O_NOFOLLOW) is what refuses a
    link planted in between."""
    path = tmp_path / "bbvars" / "credentials.json"
    path.parent.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    os.symlink(victim, store.lock_path(path))
    monkeypatch.setattr(type(path), "is_symlink", lambda self: False)
    with pytest.raises(BbvarsError, match="is a symbolic link, which bbvars never follows"):
        with store.locked(path, 2):
            pass
    assert not victim.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a directory away needs root")
def test_a_config_directory_of_another_user_is_refused_though_its_mode_is_safe(emulator, config_home, monkeypatch,
                                                                              capsys):
    # As root (CI containers, the Docker action), a 0755 directory another user owns is theirs to swap files in.
    write_login(emulator, config_home)
    os.chown(config_home / "bbvars", 65534, -1)
    emulator.reset_requests()
    run = list_acme(login_env(emulator), monkeypatch, capsys)
    assert run.code == 1 and emulator.requests == []
    assert "belongs to another user (uid 65534)" in run.stderr and len(run.stderr.splitlines()) == 1


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
def test_a_credentials_file_that_is_a_fifo_or_a_link_is_refused_at_once(emulator, config_home, monkeypatch, capsys,
                                                                        kind):
    write_login(emulator, config_home)
    path = credentials(config_home)
    real = path.with_name("elsewhere.json")
    path.rename(real)
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    else:
        path.symlink_to(real)
    emulator.reset_requests()
    with deadline(10):
        run = list_acme(login_env(emulator), monkeypatch, capsys)
    # A FIFO is no stored login at all (nothing is read from it); a link is refused as unreadable.
    assert run.code == (2 if kind == "fifo" else 1), run.stderr
    assert emulator.requests == [] and len(run.stderr.splitlines()) == 1, run.stderr


def test_a_plain_value_holding_the_stored_logins_token_is_refused_naming_it_never_showing_it(emulator, config_home,
                                                                                             monkeypatch, capsys):
    """The stored login's tokens are known only once the request chose it (no setting holds them): a plain value
    holding one is refused like one holding a setting's secret, before any request; a secured one may hold it."""
    login = write_login(emulator, config_home)
    emulator.reset_requests()
    pairs = ["--var", f"TOKEN=Bearer {login['access_token']}", "--var", "SAFE=1"]
    run = run_main(["sync", "-w", "acme", "-r", "api", *pairs], env=login_env(emulator), monkeypatch=monkeypatch,
                   capsys=capsys)
    assert (run.code, run.stdout, emulator.requests) == (2, "", [])
    assert run.stderr.splitlines() == [
        "bbvars: error: the plain variable TOKEN holds the run's credential, the stored login's access token (bbvars "
        "login) (its value is not shown): remove it from the input, or mark the key secured"]
    run = run_main(["sync", "-w", "acme", "-r", "api", *pairs, "--secured", "TOKEN"], env=login_env(emulator),
                   monkeypatch=monkeypatch, capsys=capsys)
    assert run.code == 0, run.stderr
    assert login["access_token"] not in run.stdout + run.stderr


def test_a_manifest_names_the_target_whose_plain_value_holds_the_stored_logins_token(emulator, config_home, tmp_path,
                                                                                   monkeypatch, capsys):
    login = write_login(emulator, config_home)
    emulator.reset_requests()
    (tmp_path / "ok.json").write_text('{"A": "1"}')
    (tmp_path / "leak.json").write_text(json.dumps({"B": login["refresh_token"]}))
    (tmp_path / "bbvars.yml").write_text(json.dumps({"version": 1, "workspace": "acme", "targets": [
        {"repository": "api", "from": "ok"}, {"repository": "web", "from": "leak"}],
        "sources": {"ok": {"file": "ok.json"}, "leak": {"file": "leak.json"}}}))
    monkeypatch.chdir(tmp_path)
    run = run_main(["sync", "--manifest", "bbvars.yml"], env=login_env(emulator), monkeypatch=monkeypatch,
                   capsys=capsys)
    assert (run.code, run.stdout, emulator.requests) == (2, "", [])
    assert run.stderr.splitlines() == [
        "bbvars: error: the plain variable B of repository acme/web holds the run's credential, the stored login's "
        "refresh token (bbvars login) (its value is not shown): remove it from the input, or mark the key secured"]
