"""Fuzzing the boundaries: whatever the input, the document parser and the settings either accept it or raise
InputError, and the CLI returns 0, 1 or 2 without a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import math
import sys

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bbvars.bitbucket import client as client_module
from bbvars.emulator import Emulator
from bbvars.errors import InputError
from bbvars.request.documents import KEY_PATTERN, build_variables, collect, parse_document, parse_pairs
from bbvars.request.settings import SETTINGS, Settings, from_strings, validate
from bbvars.surfaces.cli.main import main
from bbvars.surfaces.cli.options import cli_label
from tests.support import CLIENT_ID, CLIENT_SECRET, FAST_RETRY, FakeStdin, env_for, use_env

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
keys = st.from_regex(KEY_PATTERN, fullmatch=True).filter(lambda k: len(k) < 30) | st.text(max_size=12)


def accepts_or_refuses(text: str) -> list | None:
    try:
        return parse_document(text, "fuzz")
    except InputError as error:
        assert str(error) and "\n" not in str(error).strip()
        return None


@FAST
@given(st.text(max_size=200))
def test_arbitrary_text(text):
    accepts_or_refuses(text)


@FAST
@given(st.text(alphabet="{}[]:,\"'&*!|>-? \n\t#%@`0aZ.", max_size=60))
def test_text_made_of_json_and_yaml_syntax(text):
    accepts_or_refuses(text)


@FAST
@given(json_values)
def test_arbitrary_json_and_yaml_values(value):
    accepts_or_refuses(json.dumps(value))
    try:
        dumped = yaml.safe_dump(value)
    except (yaml.YAMLError, RecursionError):
        return
    accepts_or_refuses(dumped)


@FAST
@given(st.dictionaries(keys, json_values, max_size=5))
def test_flat_mappings_render_every_value_or_name_the_culprit(document):
    entries = accepts_or_refuses(json.dumps(document))
    if entries is None:
        return
    assert [e.key for e in entries] == list(document)
    for entry in entries:
        value = document[entry.key]
        assert value is not None and not (isinstance(value, float) and not math.isfinite(value))
        if isinstance(value, str):
            assert entry.value == value
        elif isinstance(value, bool):
            assert entry.value == ("true" if value else "false")
        else:
            assert json.loads(entry.value) == value  # numbers as JSON text, lists/maps as compact JSON


outputs = st.fixed_dictionaries(
    {"value": json_values, "type": st.sampled_from(["string", "number", "bool", ["list", "string"]]),
     "sensitive": st.booleans()},
    optional={"extra": st.text(max_size=5)})
broken_outputs = st.dictionaries(st.sampled_from(["value", "type", "sensitive", "description"]),
                                 json_values | st.booleans(), max_size=4)


@FAST
@given(st.dictionaries(keys, outputs | broken_outputs, min_size=1, max_size=4), st.booleans())
def test_terraform_shaped_documents(document, upper):
    entries = accepts_or_refuses(json.dumps(document))
    if entries is None:
        return
    try:
        variables = build_variables(entries, upper=upper)
    except InputError:
        return
    terraform = all(isinstance(o, dict) and {"value", "type", "sensitive"} <= o.keys() for o in document.values())
    for variable, output in zip(variables, document.values(), strict=True):
        assert KEY_PATTERN.match(variable.key)
        if terraform:
            assert variable.secured == output["sensitive"]  # sensitive outputs are always secured


finite = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(
    max_size=20)
finite_values = st.recursive(
    finite, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12).filter(lambda value: value is not None)
valid_keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@FAST
@given(st.dictionaries(valid_keys, st.fixed_dictionaries(
    {"value": finite_values, "type": st.just("string"), "sensitive": st.booleans()}), min_size=1, max_size=4))
def test_well_formed_terraform_output_is_accepted(document):
    variables = build_variables(parse_document(json.dumps(document), "fuzz"))
    assert {v.key: v.secured for v in variables} == {k: o["sensitive"] for k, o in document.items()}


@FAST
@given(st.lists(st.text(max_size=15), max_size=4), st.text(max_size=6), st.booleans(),
       st.lists(st.text(max_size=6), max_size=2))
def test_pairs_prefix_upper_and_secured(pairs, prefix, upper, secured):
    try:
        variables = collect([], pairs, prefix=prefix, upper=upper, secured=secured)
    except InputError:
        return
    assert len({v.key for v in variables}) == len(variables) == len(parse_pairs(pairs))
    assert all(KEY_PATTERN.match(v.key) for v in variables)


SETTING_NAMES = [s.name for s in SETTINGS]


@FAST
@given(st.dictionaries(st.sampled_from(SETTING_NAMES), st.text(max_size=30) | st.sampled_from(
    ["true", "no", "1", "0", "32", "33", "nan", "inf", "-1", "1e3", "https://x", "http://127.0.0.1:1",
     "http://[::1", "http://x:99999", "sync", "token", "acme", "a/b", "*"])))
def test_settings_from_arbitrary_strings(raw):
    try:
        built = from_strings(raw, cli_label)
    except InputError:
        return
    assert isinstance(built, Settings)
    try:
        validate(built, cli_label)
    except InputError:
        pass


# -- the CLI, in-process, against one emulator --------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_emulator():
    with Emulator() as emu:
        emu.seed_demo()
        emu.add_consumer(CLIENT_ID, CLIENT_SECRET)
        emu.add_access_token("static-token-for-fuzz")
        yield emu


VALUES = ["acme", "api", "Test", "Production", "{nope}", "", "x y", "1", "abc", "0", "33", "A=1", "=", "-", "*",
          "/dev/null", "DB_HOST", "db-host", "-1", "1.5", "--", "sync", "token"]
OPTIONS = ["-w", "-r", "-e", "--file", "--var", "--secured", "--prefix", "--upper", "--dry-run", "--prune",
           "--concurrency", "--timeout", "--debug", "--quiet", "--nope", "-q", "--version", "--help", "-h"]
argv_items = st.sampled_from(OPTIONS) | st.sampled_from(VALUES) | st.text(max_size=8)
# Mostly well-formed options, so that runs also get past validation and reach the emulator.
valid_options = st.sampled_from([["--dry-run"], ["--prune"], ["-e", "Test"], ["-e", "{nope}"], ["-e", "staging"],
                                 ["--upper"], ["--prefix", "P_"], ["--var", "X=1"], ["--secured", "A"], ["--quiet"],
                                 ["--debug"], ["--concurrency", "2"], ["--timeout", "5"], ["--secured", "*"]])
extras = st.lists(valid_options | argv_items.map(lambda item: [item]), max_size=4).map(
    lambda groups: [item for group in groups for item in group])
documents = st.sampled_from(['{"A": 1}', '{"db-host": "x"}', "A: [1, 2]\nB: {c: d}\n", "[]", "", "{", "null",
                             '{"A": {"value": "v", "type": "string", "sensitive": true}}',
                             '{"A": "a", "B": 2, "C": true}']) | st.text(max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.sampled_from([["sync", "-w", "acme", "-r", "api"]] * 4 + [["sync", "-w", "acme"], ["sync"], ["token"], []]),
       extras, documents, st.booleans())
def test_the_cli_returns_0_1_or_2_and_never_a_traceback(shared_emulator, monkeypatch, base, extra, stdin, static):
    env = env_for(shared_emulator)
    if static:
        env.update(BITBUCKET_CLIENT_ID="", BITBUCKET_CLIENT_SECRET="", BITBUCKET_ACCESS_TOKEN="static-token-for-fuzz")
    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as patch:
        patch.setattr(client_module, "DEFAULT_RETRY", FAST_RETRY)
        patch.setattr(sys, "stdin", FakeStdin(stdin))
        use_env(patch, env)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*base, *extra])
            except SystemExit as exit_:  # argparse's own --help and --version
                assert exit_.code == 0 and {"-h", "--help", "--version"} & set(extra) | {
                    a for a in extra if a.startswith(("--h", "--v"))}
                code = 0
    event(f"exit {code}")
    assert code in (0, 1, 2), (code, err.getvalue())
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue(), err.getvalue()
    assert CLIENT_SECRET not in out.getvalue() + err.getvalue()
    assert "static-token-for-fuzz" not in out.getvalue() + err.getvalue()
    if code == 2:
        assert out.getvalue() == "" or "usage" in err.getvalue()


# -- the CI writers: no text can forge a line -------------------------------------------------------------------------

HOSTILE_TEXT = st.lists(st.sampled_from(list("ab:%,|<>`*_[]()#!\\\r\n ✔✖INFO") + ["::", "##[", "\r\n"]),
                        max_size=30).map("".join)


@FAST
@given(data=HOSTILE_TEXT, title=HOSTILE_TEXT, plain=HOSTILE_TEXT)
def test_github_writer_output_is_one_line_each_and_round_trips(data, title, plain):
    from bbvars.surfaces import _github as gh

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        gh.command("error", data, title=title)
        gh.log(plain)
    lines = out.getvalue().split("\n")
    assert lines[-1] == "" and len(lines) == 3, lines
    command, logged = lines[0], lines[1]
    assert "\r" not in command + logged
    assert not logged.lstrip().startswith(("::", "##["))
    # The runner undoes the escaping: what it reads is exactly what was given.
    head, _, body = command.partition("::error ")[2].partition("::")
    unescape = lambda text: text.replace("%3A", ":").replace("%2C", ",").replace("%0D", "\r").replace(  # noqa: E731
        "%0A", "\n").replace("%25", "%")
    assert unescape(body) == data and unescape(head.removeprefix("title=")) == title


@FAST
@given(text=HOSTILE_TEXT)
def test_markdown_escaping_leaves_no_markup(text):
    from bbvars.surfaces._github import markdown

    shown = markdown(text)
    assert "\n" not in shown and "\r" not in shown and "<" not in shown and ">" not in shown
    unescaped = shown.replace("\\\\", "")
    for special in "|`*_[]()#!":
        assert special not in unescaped.replace("\\" + special, ""), (text, shown)


@FAST
@given(text=HOSTILE_TEXT)
def test_pipe_lines_are_one_line_each(text):
    from bbvars.surfaces.pipe import emit

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        emit("INFO: ", text)
    assert out.getvalue().count("\n") == 1 and "\r" not in out.getvalue()
    assert out.getvalue().startswith("INFO: ")
