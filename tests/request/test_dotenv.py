"""dotenv.py: .env text read as users write it, written so that it reads back exactly, never a value in an error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbvars.errors import InputError
from bbvars.request import dotenv
from bbvars.request.documents import parse_document

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)


@given(st.dictionaries(KEYS, st.text(st.characters(blacklist_categories=("Cs",))), max_size=8))
def test_what_render_writes_parse_reads_back_exactly(variables):
    text = dotenv.render([(key, value, False) for key, value in variables.items()])
    assert dotenv.parse(text, "t") == list(variables.items())
    if variables:
        assert dotenv.looks_like_dotenv(text)


def test_the_usual_forms():
    text = """
# a comment
export A=1
B = spaced value   # trailing comment
C='single # kept, \\n kept'
D="double \\"q\\" \\n \\t \\\\ \\$X \\q"
E=
F=x#not-a-comment
G="multi
line"
H='also
multi'
"""
    assert dotenv.parse(text, "t") == [
        ("A", "1"), ("B", "spaced value"), ("C", "single # kept, \\n kept"),
        ("D", 'double "q" \n \t \\ $X \\q'), ("E", ""), ("F", "x#not-a-comment"), ("G", "multi\nline"),
        ("H", "also\nmulti")]


@pytest.mark.parametrize("text, expected", [
    ("A=1\n", True), ("export A=1", True), ("# c\n\nA=1", True), ("db-host=x", True),
    ('{"A": "1"}', False), ("A: 1\n", False), ("URL: http://x?a=b\n", False), ("- a=b\n", False), ("", False),
    ("# only a comment\n", True), ("\n\n", False),
])
def test_recognised_by_its_first_meaningful_line(text, expected):
    assert dotenv.looks_like_dotenv(text) is expected


@pytest.mark.parametrize("text, message", [
    ("A=1\nA=2\n", "key 'A' appears twice (lines 1 and 2)"),
    ("A=1\nhunter2-secret\n", "line 2 is not KEY=VALUE (its text is not shown)"),
    ("A=1\nB='hunter2-secret\n", "line 2: a ' quote is never closed"),
    ('A="hunter2" secret-tail\n', "line 1: text after the closing quote (its text is not shown)"),
])
def test_errors_name_the_line_never_the_value(text, message):
    with pytest.raises(InputError) as caught:
        parse_document(text, "file x.env")
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value) and "secret-tail" not in str(caught.value)


def test_documents_read_dotenv_and_still_yaml_and_json():
    assert [(e.key, e.value) for e in parse_document("export A='1'\nB=two\n", "s")] == [("A", "1"), ("B", "two")]
    assert [(e.key, e.value) for e in parse_document("A: 1\nB: x=y\n", "s")] == [("A", "1"), ("B", "x=y")]
    assert [(e.key, e.value) for e in parse_document('{"A": "x=y"}', "s")] == [("A", "x=y")]


def test_secured_variables_are_comments_naming_the_key_only():
    assert dotenv.render([("S", None, True), ("P", "v", False)]) == (
        "# S: secured, its value cannot be read back\nP=\"v\"\n")


def test_render_leaves_out_a_listed_key_that_is_no_variable_name_so_it_cannot_add_a_line():
    text = dotenv.render([("GOOD", "1", False), ("EVIL\nINJECTED=x", "2", False), ("A B", "3", False)])
    assert text.splitlines() == ["GOOD=\"1\"", "# left out: 'EVIL\\nINJECTED=x' is not a valid variable name",
                                 "# left out: 'A B' is not a valid variable name"]
    assert dotenv.parse(text, "listing") == [("GOOD", "1")]


def test_what_list_writes_is_never_taken_for_terraform_s_human_output():
    """`bbvars list --format dotenv` writes KEY="value" (no spaces around =): read back as .env, never refused as the
    text `terraform output` prints, whatever the values look like."""
    variables = [("NAME", '"db" = <sensitive>', False), ("LIST", "[1, 2]", False), ("N", "3", False)]
    text = dotenv.render(variables)
    assert {e.key: e.value for e in parse_document(text, "input")} == {k: v for k, v, _ in variables}
