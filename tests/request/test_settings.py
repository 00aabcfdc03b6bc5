"""The settings table: coercion, validation, the CLI's view of it."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from bbvars.errors import InputError
from bbvars.request.settings import (
    BY_NAME,
    DEFAULT_API_URL,
    SETTINGS,
    Settings,
    check_url,
    coerce,
    from_strings,
    parse_bool,
    parse_keys,
    validate,
)
from bbvars.surfaces.cli.options import add_arguments, cli_label, from_cli, markdown_table

CONSUMER = dict(client_id="id", client_secret="secret", workspace="acme")


def test_the_table_and_settings_agree_and_secrets_have_no_flag():
    assert [f.name for f in fields(Settings)] == [s.name for s in SETTINGS]
    for setting in SETTINGS:
        assert getattr(Settings(), setting.name) == (setting.default if setting.default is not None else None)
        if setting.kind == "secret":
            assert not setting.flags
    shown = repr(Settings(client_secret="secret-x", access_token="tok-x", pairs=("A=value-x",), variables="{}"))
    assert "secret-x" not in shown and "tok-x" not in shown and "value-x" not in shown


@pytest.mark.parametrize("raw, value", [("true", True), (" YES ", True), ("1", True), ("False", False), ("no", False),
                                        ("0", False)])
def test_booleans(raw, value):
    assert parse_bool(raw, "DRY_RUN") is value


@pytest.mark.parametrize("raw", ["maybe", "", "2", "on", "tru"])
def test_a_boolean_that_is_not_one(raw):
    with pytest.raises(InputError, match="DRY_RUN must be true or false"):
        parse_bool(raw, "DRY_RUN")


@pytest.mark.parametrize("name, raw, value", [("concurrency", " 4 ", 4), ("timeout", "2.5", 2.5),
                                              ("timeout", "600", 600.0), ("concurrency", "32", 32),
                                              ("concurrency", "1", 1)])
def test_numbers(name, raw, value):
    assert coerce(BY_NAME[name], raw, name) == value


@pytest.mark.parametrize("name, raw, words", [
    ("concurrency", "abc", "must be a whole number"), ("concurrency", "2.5", "must be a whole number"),
    ("concurrency", "0", "between 1 and 32"), ("concurrency", "33", "between 1 and 32"),
    ("timeout", "0.5", "between 1 and 600"), ("timeout", "nan", "between 1 and 600"), ("timeout", "inf", "between"),
    ("timeout", "x", "must be a number"), ("concurrency", "9" * 5000, "must be a whole number"),
    ("command", "deploy", "must be one of sync, check, token"),
])
def test_bad_numbers_and_choices(name, raw, words):
    with pytest.raises(InputError, match=words):
        coerce(BY_NAME[name], raw, name)


def test_keys_split_on_commas_and_lines():
    assert parse_keys(" A, B\nC,, ") == ("A", "B", "C")


def test_from_strings_treats_empty_as_unset_except_documents():
    built = from_strings({"workspace": " acme ", "repository": "", "dry_run": "yes", "variables": "",
                          "secured": "A,B", "command": "TOKEN", "client_secret": " s "}, cli_label)
    assert built.workspace == "acme" and built.repository is None and built.dry_run is True
    assert built.variables == "" and built.secured == ("A", "B") and built.command == "token"
    assert built.client_secret == "s"  # stripped: a pasted secret often ends in a newline no header can carry


def test_validate_accepts_a_consumer_or_an_access_token():
    validate(Settings(**CONSUMER), cli_label)
    validate(Settings(access_token="tok", workspace="acme", repository="api", environment="Test"), cli_label)
    validate(Settings(client_id="id", access_token="tok", workspace="acme"), cli_label)


@pytest.mark.parametrize("values, words", [
    (dict(workspace="acme"), "no credentials"),
    (dict(client_id="id", workspace="acme"), "BITBUCKET_CLIENT_SECRET is not set"),
    (dict(client_secret="s", workspace="acme"), "BITBUCKET_CLIENT_ID is not set"),
    (dict(CONSUMER, workspace=None), "no workspace"),
    (dict(CONSUMER, environment="Test"), "--environment needs --repository"),
    (dict(CONSUMER, repository="a/b"), "--repository 'a/b' is not a slug"),
    (dict(CONSUMER, workspace=".."), "--workspace '..' is not a slug"),
    (dict(CONSUMER, repository="x?y"), "not a slug"),
    (dict(CONSUMER, api_url="http://api.example.com/2.0"), "plain http:// to api.example.com"),
    (dict(CONSUMER, token_url="http://10.1.2.3/token"), "BITBUCKET_TOKEN_URL uses plain http://"),
    (dict(CONSUMER, api_url="ftp://x/"), "must be an https:// URL"),
    (dict(CONSUMER, api_url="api.bitbucket.org"), "must be an https:// URL"),
    (dict(CONSUMER, api_url="http://[::1"), "not a valid URL"),
    (dict(CONSUMER, api_url="https://x:70000/"), "not a valid URL"),
    (dict(access_token="tok", command="token", workspace="acme"), "token needs an OAuth consumer"),
])
def test_validate_refuses(values, words):
    with pytest.raises(InputError, match=words.replace("?", r"\?")):
        validate(Settings(**values), cli_label)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/2.0", "http://localhost/x", "http://[::1]:9/", "https://x/",
                                 "http://127.9.9.9/"])
def test_loopback_may_be_plain_http(url):
    check_url(url, "URL")


def test_the_cli_reads_only_bitbucket_variables_from_the_environment():
    parser = argparse.ArgumentParser()
    add_arguments(parser, ("workspace", "repository", "secured", "files", "pairs", "dry_run", "timeout"))
    args = parser.parse_args(["-w", "acme", "--secured", "A,B", "--secured", "C", "--var", "X=1", "-f", "a",
                              "--dry-run", "--timeout", "5"])
    environ = {"BITBUCKET_CLIENT_ID": "id", "BITBUCKET_CLIENT_SECRET": "s", "BITBUCKET_API_URL": "https://x/2.0",
               "WORKSPACE": "ambient", "REPOSITORY": "ambient", "DRY_RUN": "false", "BITBUCKET_WORKSPACE": "ambient"}
    built = from_cli(args, environ)
    assert (built.workspace, built.repository) == ("acme", None)
    assert built.secured == ("A", "B", "C") and built.pairs == ("X=1",) and built.files == ("a",)
    assert built.dry_run is True and built.timeout == 5.0 and built.api_url == "https://x/2.0"
    assert built.client_id == "id" and built.client_secret == "s"
    assert from_cli(parser.parse_args([]), {}).api_url == DEFAULT_API_URL


def test_a_bad_flag_value_is_an_input_error():
    parser = argparse.ArgumentParser()
    add_arguments(parser, ("concurrency",))
    with pytest.raises(InputError, match="--concurrency must be a whole number"):
        parser.parse_args(["--concurrency", "abc"])


def test_the_markdown_table_lists_every_setting():
    table = markdown_table().splitlines()
    assert len(table) == 2 + len(SETTINGS)
    for setting, row in zip(SETTINGS, table[2:], strict=True):
        assert row.startswith(f"| {setting.help} |")


@pytest.mark.parametrize("url", ["https://user:pass@api.example.com/2.0", "https://user@api.example.com/2.0",
                                 "http://u:p@127.0.0.1:8080/2.0", "ftp://u:p@x/", "https://a:b@[::1"])
def test_a_url_with_user_info_is_refused_without_showing_it(url):
    from bbvars.request.settings import check_url

    with pytest.raises(InputError) as caught:
        check_url(url, "BITBUCKET_API_URL")
    assert "holds a user name or password" in str(caught.value) and url not in str(caught.value)
    assert "pass" not in str(caught.value).replace("password", "")


def test_an_at_sign_in_a_path_is_no_user_info():
    from bbvars.request.settings import check_url

    check_url("https://api.example.com/2.0/@team", "BITBUCKET_API_URL")


@pytest.mark.parametrize("name, raw", [("workspace", "ac\nme"), ("environment", "\n::stop-commands::x\n"),
                                       ("client_secret", "line\r\nline"), ("api_url", "https://x/\nHost: y"),
                                       ("timeout", "5\n6"), ("dry_run", "\ntrue")])
def test_a_line_break_in_a_one_line_setting_is_refused(name, raw):
    with pytest.raises(InputError, match="holds a line break, and it must be one line"):
        from_strings({name: raw}, lambda s: s.name)


def test_trailing_whitespace_and_multi_line_documents_and_keys_are_fine():
    settings = from_strings({"client_secret": "s3cr3t\n", "variables": "A: 1\nB: 2\n", "secured": "A\nB"},
                            lambda s: s.name)
    assert (settings.client_secret, settings.secured) == ("s3cr3t", ("A", "B"))


@pytest.mark.parametrize("name", ["workspace", "client_secret", "variables", "secured"])
def test_text_that_is_not_utf8_is_refused(name):
    with pytest.raises(InputError, match=f"{name} is not UTF-8 text"):
        from_strings({name: "caf\udce9"}, lambda s: s.name)


def test_a_valued_flag_given_twice_is_refused_and_a_repeatable_one_is_not():
    import argparse

    from bbvars.surfaces.cli.options import add_arguments

    class Refusing(argparse.ArgumentParser):
        def error(self, message):
            raise InputError(message)

    parser = Refusing()
    add_arguments(parser, ("environment", "pairs", "dry_run"))
    with pytest.raises(InputError, match="--environment/-e is given twice"):
        parser.parse_args(["-e", "Test", "--environment", "Staging"])
    args = parser.parse_args(["-e", "Test", "--var", "A=1", "--var", "B=2", "--dry-run", "--dry-run"])
    assert (args.environment, args.pairs, args.dry_run) == ("Test", ["A=1", "B=2"], True)


# -- place names: one rule on every surface (request/places.py) ----------------------------------------------------

@pytest.mark.parametrize("name", ["workspace", "repository", "environment"])
@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\tb", "a\x1b[2Kb", "a\x7fb", "a\x85b", "a\x9bb", "a\u2028b",
                                 "a\u2029b", "a\x00b", "a\n"])
def test_a_place_name_is_one_line_of_printable_text(name, bad):
    values = {**CONSUMER, "repository": "api", name: bad}
    with pytest.raises(InputError) as caught:
        validate(Settings(**values), cli_label)
    assert "holds a line break or a control character" in str(caught.value)
    assert bad not in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("environment", ["Production EU", "Producción", "prod/eu-1", "{7f0e4c1e-0000-4000-8000-000000000000}"])
def test_printable_environment_names_are_accepted(environment):
    validate(Settings(**dict(CONSUMER, repository="api", environment=environment)), cli_label)


def test_the_schema_s_one_line_pattern_is_the_place_rule():
    import re

    from bbvars.request.manifest_schema import ONE_LINE
    from bbvars.request.places import UNPRINTABLE

    pattern = re.compile(ONE_LINE.removesuffix("$") + r"\Z")  # ECMA-262 `$` is the end; Python's allows a \n
    for code in range(0x3000):
        char = chr(code)
        assert (pattern.match(char) is None) == bool(UNPRINTABLE.search(char)), hex(code)
