"""Parsing input documents into Variables: formats, value rendering, Terraform detection, keys, limits."""

from __future__ import annotations

import io
import json

import pytest

from bbvars.errors import InputError
from bbvars.models import Variable
from bbvars.request.documents import (
    MAX_INPUT_BYTES,
    build_variables,
    check_variables,
    collect,
    final_key,
    parse_document,
    parse_pairs,
    read_limited,
    render_value,
    variables_of,
)
from bbvars.request.settings import Settings
from bbvars.surfaces.cli.options import cli_label
from tests.support import deadline


def values(text: str) -> dict[str, str]:
    return {e.key: e.value for e in parse_document(text, "input")}


@pytest.mark.parametrize("value, text", [
    ("plain", "plain"), ("", ""), (5432, "5432"), (-1, "-1"), (0.25, "0.25"), (1e100, "1e+100"), (10**30, str(10**30)),
    (True, "true"), (False, "false"), ([1, "a", None, True], '[1,"a",null,true]'),
    ({"b": {"c": [1]}, "a": "é"}, '{"b":{"c":[1]},"a":"é"}'), ([], "[]"), ({}, "{}"),
])
def test_values_are_rendered_as_bitbucket_stores_them(value, text):
    assert render_value("K", value, "input") == text


@pytest.mark.parametrize("value, words", [
    (None, "K is null"), (float("nan"), "not a finite number"), (float("inf"), "not a finite number"),
    ([float("nan")], "cannot be written as JSON"), (b"bytes", r"cannot store \(binary data\)"),
    ({1, 2}, r"cannot store \(a set\)"),
])
def test_values_that_cannot_be_stored_name_the_key(value, words):
    with pytest.raises(InputError, match=words):
        render_value("K", value, "input")


def test_flat_json():
    assert values('{"A": "1", "B": 2, "C": false, "D": [1, 2]}') == {"A": "1", "B": "2", "C": "false", "D": "[1,2]"}


def test_yaml_mapping_with_dates_and_nesting():
    text = "A: 1\nB: yes\nC: 2024-01-02\nD:\n  e: [1, 2]\n  when: 2024-01-02T03:04:05Z\nE: '007'\n"
    assert values(text) == {"A": "1", "B": "true", "C": "2024-01-02",
                            "D": '{"e":[1,2],"when":"2024-01-02T03:04:05Z"}', "E": "007"}


@pytest.mark.parametrize("text, expected", [
    ("VERSION: 1.10\nMODE: 0755\nHEX: 0x1F\nBIG: 1_000\nAT: 2024-01-01 10:00:00\n",
     {"VERSION": "1.10", "MODE": "0755", "HEX": "0x1F", "BIG": "1_000", "AT": "2024-01-01 10:00:00"}),
    ('{"VERSION": 1.10, "E": 1e2, "L": [1.10, 2, 0.5]}', {"VERSION": "1.10", "E": "1e2", "L": "[1.1,2,0.5]"}),
    ("PORTS: [80, 0x1BB]\n", {"PORTS": "[80,443]"}),
])
def test_numbers_and_dates_keep_the_text_written(text, expected):
    # Alone, a value is stored as written (YAML 1.1 would make 1.10 into 1.1 and 0755 into 493); inside a list or
    # map it is the number it stands for.
    assert values(text) == expected


@pytest.mark.parametrize("text", ["A: !!int hunter2-secret", "A: !!float hunter2-secret"])
def test_a_value_that_does_not_fit_its_yaml_tag_is_refused_without_echo(text):
    with pytest.raises(InputError, match="does not fit its YAML tag") as caught:
        parse_document(text, "input")
    assert "hunter2" not in str(caught.value)


def test_yaml_merge_keys_are_merged_and_may_be_overridden():
    text = "base: &base {x: 1, z: 0}\nchild:\n  <<: *base\n  y: 2\n  x: 3\n"
    assert values(text) == {"base": '{"x":1,"z":0}', "child": '{"x":3,"z":0,"y":2}'}


@pytest.mark.parametrize("text", ['{"A": 1, "A": 2}', '{"A": {"b": 1, "b": 2}}', "A: 1\nA: 2\n"])
def test_a_key_given_twice_is_refused_in_json_as_in_yaml(text):
    with pytest.raises(InputError, match="appears twice"):
        parse_document(text, "input")


def test_terraform_output_json_marks_sensitive_outputs():
    text = json.dumps({
        "host": {"sensitive": False, "type": "string", "value": "h"},
        "password": {"sensitive": True, "type": "string", "value": "p"},
        "ports": {"sensitive": False, "type": ["list", "number"], "value": [1, 2]},
    })
    entries = parse_document(text, "input")
    assert [(e.key, e.value, e.sensitive) for e in entries] == [
        ("host", "h", False), ("password", "p", True), ("ports", "[1,2]", False)]
    assert [v.secured for v in build_variables(entries)] == [False, True, False]


def test_a_flat_document_whose_values_are_maps_is_not_mistaken_for_terraform():
    assert values('{"A": {"value": 1}, "B": {"type": "x"}}') == {"A": '{"value":1}', "B": '{"type":"x"}'}


@pytest.mark.parametrize("document", [
    {"version": 4, "terraform_version": "1.9.0", "outputs": {}},
    {"format_version": "1.0", "values": {"outputs": {}, "root_module": {}}},
    {"values": {"root_module": {}}},
    {"outputs": {"a": {"value": 1, "type": "number"}}},
    {"a": {"value": 1, "sensitive": False}},
    {"a": {"value": 1, "type": "number", "sensitive": "no"}},
])
def test_terraform_documents_that_are_not_output_json_are_refused(document):
    with pytest.raises(InputError, match="not `terraform output -json`"):
        parse_document(json.dumps(document), "input")


@pytest.mark.parametrize("text, words", [
    ("", "is empty"), ("  \n", "is empty"), ("[1]", "top level is a list"), ("3", "top level is a number"),
    ('{"a": 1', "neither valid JSON nor YAML"), ("a: [", "neither valid JSON nor YAML"),
    ("a: 1\na: 2", "'a' appears twice"), ("[" * 100_000, "nested too deeply"), ("? [1]\n: 2\n", "neither valid"),
    ("on: 1", "not text"), ("~: 1", "not text"),
    ("a: !!python/object:os.system ls", "neither valid"),
])
def test_documents_that_are_refused(text, words):
    with pytest.raises(InputError, match=words):
        parse_document(text, "input")


def test_yaml_aliases_cannot_blow_a_small_document_up():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join(['*' + prev] * 10)}]")
    with pytest.raises(InputError, match="larger than 16 MiB"):
        parse_document("\n".join(lines), "input")


def test_a_self_referencing_yaml_value_is_refused():
    with pytest.raises(InputError, match="cannot be written as JSON .it contains itself"):
        parse_document("a: &a [*a]", "input")


def test_number_and_date_keys_are_taken_as_written():
    # YAML reads `1:` and `2024-01-01:` as a number and a date; bbvars keeps the text, as for values.
    assert [e.key for e in parse_document("1: x\n2024-01-01: y\n", "input")] == ["1", "2024-01-01"]


def test_messages_stay_on_one_line():
    with pytest.raises(InputError) as caught:
        parse_document('{"a\\nb": null}', "input")
    assert "\n" not in str(caught.value) and "'a\\nb'" in str(caught.value)


@pytest.mark.parametrize("key, prefix, upper, final", [
    ("db-host", "", True, "DB_HOST"), ("host", "app_", False, "app_host"), ("host", "app-", True, "APP_HOST"),
    ("MixedCase", "", False, "MixedCase"),
])
def test_final_key(key, prefix, upper, final):
    assert final_key(key, prefix, upper) == final


@pytest.mark.parametrize("key", ["1abc", "db-host", "a b", "", "clé", "a.b", "_ok-not"])
def test_invalid_keys_are_refused(key):
    with pytest.raises(InputError, match="not a valid Bitbucket variable name"):
        collect([("input", json.dumps({key: "v"}))], (), prefix="", upper=False, secured=())


def test_a_hyphen_hints_at_upper():
    with pytest.raises(InputError, match="use --upper"):
        collect([("input", '{"db-host": 1}')], (), prefix="", upper=False, secured=())


def test_keys_colliding_after_upper_or_across_sources():
    with pytest.raises(InputError, match="two inputs give the key DB_HOST: 'db-host' from input and 'DB_HOST'"):
        collect([("input", '{"db-host": 1, "DB_HOST": 2}')], (), prefix="", upper=True, secured=())
    # Across sources, keys that differ as given but meet after --upper are still an error, not an override.
    with pytest.raises(InputError, match="two inputs give the key DB_HOST: 'db-host' from file a and 'DB_HOST' from "
                                         "--var"):
        collect([("file a", '{"db-host": 1}')], ["DB_HOST=2"], prefix="", upper=True, secured=())


def test_later_sources_override_earlier_ones_files_in_order_then_var():
    variables = collect([("file a", '{"A": "a1", "B": "a2", "C": "a3"}'), ("file b", "B=b2\nC=b3\n")], ["C=var"],
                        prefix="", upper=False, secured=())
    assert [(v.key, v.value) for v in variables] == [("A", "a1"), ("B", "b2"), ("C", "var")]


def test_overriding_a_sensitive_output_keeps_it_secured():
    terraform = json.dumps({"db_password": {"value": "from-terraform", "type": "string", "sensitive": True}})
    (variable,) = collect([("terraform", terraform)], ["db_password=from-var"], prefix="", upper=False, secured=())
    assert (variable.value, variable.secured) == ("from-var", True)


def test_a_var_given_twice_is_refused():
    with pytest.raises(InputError, match="--var numbers 1 and 2 both give the key A"):
        collect([], ["A=1", "A=2"], prefix="", upper=False, secured=())


def test_secured_by_final_or_original_key_or_star():
    entries = parse_pairs(["db-password=x", "user=u", "token=t"])
    variables = build_variables(entries, prefix="app-", upper=True, secured=["APP_DB_PASSWORD", "token"])
    assert {v.key: v.secured for v in variables} == {"APP_DB_PASSWORD": True, "APP_USER": False, "APP_TOKEN": True}
    assert all(v.secured for v in build_variables(entries, upper=True, secured=["*"]))


def test_secured_naming_a_missing_key_is_refused():
    with pytest.raises(InputError, match="the secured keys name NOPE, which the input does not have"):
        build_variables(parse_pairs(["A=1"]), secured=["NOPE", "A"])


def test_pairs():
    assert [(e.key, e.value) for e in parse_pairs(["A=1", " B =x=y", "C="])] == [("A", "1"), ("B", "x=y"), ("C", "")]
    with pytest.raises(InputError, match="has no '='"):
        parse_pairs(["A"])


def test_read_limited_refuses_over_the_limit_and_non_utf8():
    assert read_limited(io.BytesIO(b"x" * MAX_INPUT_BYTES), "input") == "x" * MAX_INPUT_BYTES
    with pytest.raises(InputError, match="larger than 16 MiB"):
        read_limited(io.BytesIO(b"x" * (MAX_INPUT_BYTES + 1)), "input")
    with pytest.raises(InputError, match="larger than 16 MiB"):  # not "not UTF-8": a character cut at the limit
        read_limited(io.BytesIO("é".encode() * (MAX_INPUT_BYTES // 2 + 1)), "input")
    with pytest.raises(InputError, match="input is not UTF-8 text"):
        read_limited(io.BytesIO(b"\xff\xfe{}"), "input")
    assert read_limited(io.StringIO("{}"), "input") == "{}"


def test_entries_and_variables_never_show_a_value():
    entry = parse_pairs(["A=hunter22"])[0]
    assert "hunter22" not in repr(entry) and "hunter22" not in repr(Variable("A", "hunter22", True))


def test_variables_of_a_single_document_setting():
    settings = Settings(variables='{"a-b": 1}', upper=True, prefix="x_", secured=("*",))
    assert variables_of(settings, cli_label) == [Variable("X_A_B", "1", True)]
    with pytest.raises(InputError, match="variables is not set"):
        variables_of(Settings(variables="  "), cli_label)


def test_check_variables_refuses_an_empty_input_unless_allowed_and_counts_the_total():
    from bbvars.errors import InputError
    from bbvars.models import Variable
    from bbvars.request.documents import MAX_TOTAL_CHARACTERS, check_variables
    from bbvars.request.settings import Settings

    label = lambda s: s.name  # noqa: E731
    with pytest.raises(InputError, match="run it where the Terraform state is, after the first apply, or set "
                                         "allow_empty"):
        check_variables([], Settings(), label)
    check_variables([], Settings(allow_empty=True), label)
    check_variables([], Settings(prune=True), label)  # the engine refuses this one, with its own reason
    full = [Variable("AB", "x" * (MAX_TOTAL_CHARACTERS - 2))]
    check_variables(full, Settings(), label)
    with pytest.raises(InputError, match="the input's 2 variables take 120,001 characters") as caught:
        check_variables([*full, Variable("C", "")], Settings(), label)
    assert "xxxx" not in str(caught.value)


def test_with_fingerprints_the_total_counts_the_fingerprint_variable():
    from bbvars.errors import InputError
    from bbvars.models import Variable
    from bbvars.request.documents import MAX_TOTAL_CHARACTERS, check_variables
    from bbvars.request.settings import Settings
    from bbvars.sync.fingerprints import rendered_length

    room = MAX_TOTAL_CHARACTERS - rendered_length(["PW"])
    fits = [Variable("PW", "x" * (room - 2), secured=True)]
    check_variables(fits, Settings(fingerprint=True), lambda s: s.name)
    with pytest.raises(InputError, match=r"take 120,001 characters in names and values \(with their fingerprints\)"):
        check_variables([Variable("PW", "x" * (room - 1), secured=True)], Settings(fingerprint=True),
                        lambda s: s.name)
    check_variables([Variable("PW", "x" * (room - 1), secured=True)], Settings(), lambda s: s.name)


# -- trust, round 2: inputs that were read as something they are not ----------------------------------------------

TERRAFORM_TEXT = {
    "strings and a sensitive output": 'db_host = "db.internal"\ndb_password = <sensitive>\n',
    "a list": 'subnets = [\n  "a",\n  "b",\n]\n',
    "a map": 'tags = {\n  "env" = "prod"\n}\n',
    "a number": "replicas = 3\n",
    "a boolean": "enabled = true\n",
    "a converted list": 'ids = tolist([\n  "a",\n])\n',
    "a heredoc": "script = <<EOT\necho hi\nEOT\n",
    "after a comment": '# outputs\nname = "x"\n',
}


@pytest.mark.parametrize("text", TERRAFORM_TEXT.values(), ids=TERRAFORM_TEXT.keys())
def test_terraform_s_human_output_is_refused_with_the_command_to_pipe_instead(text):
    with pytest.raises(InputError) as caught:
        parse_document(text, "standard input")
    assert "pipe `terraform output -json`" in str(caught.value) and "db.internal" not in str(caught.value)


@pytest.mark.parametrize("text, expected", [
    ('A="x"\n', {"A": "x"}), ("A = x\n", {"A": "x"}), ("A=3\n", {"A": "3"}), ("export A = 3\n", {"A": "3"}),
    ("A: '= <sensitive>'\n", {"A": "= <sensitive>"}),
])
def test_dotenv_and_yaml_that_only_resemble_terraform_s_output_are_read(text, expected):
    assert values(text) == expected


@pytest.mark.parametrize("text", ['{"BIG": ' + "7" * 5000 + "}", "BIG: " + "7" * 5000 + "\n",
                                  "BIG: [" + "7" * 5000 + "]\n"])
def test_a_number_too_long_to_read_is_told_as_such(text):
    with pytest.raises(InputError) as caught:
        parse_document(text, "input")
    message = str(caught.value)
    assert "a number has 5,000 digits, too long to read as a number" in message and "quote it" in message
    assert "YAML tag" not in message and "7777" not in message


def test_a_long_number_in_quotes_is_text():
    assert values('{"BIG": "' + "7" * 5000 + '"}') == {"BIG": "7" * 5000}


@pytest.mark.parametrize("key", ["ſecret", "ﬁle", "ıd", "ǅx", "straße"])
def test_upper_never_turns_a_look_alike_into_an_ascii_key(key):
    assert final_key(key, "", True) == key  # str.upper() would give SECRET, FILE, ID, DŽX, STRASSE
    with pytest.raises(InputError, match="not a valid Bitbucket variable name"):
        collect([("input", json.dumps({key: "v"}))], (), prefix="", upper=True, secured=())


def test_an_omap_is_a_mapping_and_pairs_sets_and_bytes_are_refused():
    assert values("A: !!omap [x: 1, y: [2]]\nB: [!!omap [k: v]]\n") == {"A": '{"x":1,"y":[2]}', "B": '[{"k":"v"}]'}
    for text, words in [("A: !!omap [x: 1, x: 2]\n", "'x' appears twice"),
                        ("A: !!omap [x]\n", "!!omap value is a list of one-key mappings"),
                        ("A: !!pairs [x: 1, x: 2]\n", "tagged !!pairs has no text form"),
                        ("A: !!set {x, y}\n", "tagged !!set has no text form"),
                        ("A: !!binary aGVsbG8=\n", "tagged !!binary has no text form")]:
        with pytest.raises(InputError, match=words):
            parse_document(text, "input")


def test_a_plain_value_holding_the_run_s_credential_is_refused_and_a_secured_one_is_not():
    secret = "s3cr3t-Consumer-0a1b"
    settings = Settings(client_id="id", client_secret=secret, allow_empty=True)
    plain = [Variable("OK", "x", False), Variable("LEAK", f"PATH=/bin\0SECRET={secret}\0", False)]
    with pytest.raises(InputError) as caught:
        check_variables(plain, settings, cli_label)
    assert "plain variable LEAK holds the run's credential BITBUCKET_CLIENT_SECRET" in str(caught.value)
    assert secret not in str(caught.value)
    check_variables([Variable("LEAK", secret, True)], settings, cli_label)  # secured: where a secret may go
    check_variables([Variable("ONE", "abc", False)], Settings(access_token="abc", allow_empty=True), cli_label)


def test_many_keys_naming_one_large_alias_are_refused_before_any_is_expanded():
    # 2 KB of YAML: each value alone stays just under the 16 MiB limit (10**6 items), 200 of them would be GBs.
    lines = ["a0: &a0 [x,x,x,x,x,x,x,x,x,x]"]
    lines += [f"a{n}: &a{n} [{','.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 6)]
    lines += [f"k{n}: *a5" for n in range(200)]
    with deadline(10), pytest.raises(InputError, match="together as JSON .YAML aliases expand."):
        parse_document("\n".join(lines), "bomb.yml")


def test_a_key_given_twice_is_named_shortened():
    long = "K" * 100_000
    with pytest.raises(InputError) as refused:
        parse_document(f'{{"{long}": 1, "{long}": 2}}', "twice.json")
    assert "appears twice" in str(refused.value) and len(str(refused.value)) < 200
