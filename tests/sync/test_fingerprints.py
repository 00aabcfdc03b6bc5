"""Fingerprints of secured values: the pure parts (keyed digests, the variable's format, what a run records), then
the engine against the emulator over real HTTP: converging secured values, one write per change, what the variable
holds (nothing a reader without the key could use, the credential's holder included), and where it is never seen
(reports, prune, plans)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import string

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bbvars.emulator import Emulator, Fault
from bbvars.errors import InputError, setting
from bbvars.models import RemoteVariable, Variable
from bbvars.redaction import Redactor
from bbvars.request.settings import Settings
from bbvars.sync import fingerprints
from bbvars.sync.engine import SyncResult
from bbvars.sync.fingerprints import VARIABLE, Book, derive_key, fingerprint, next_entries, parse, render
from bbvars.sync.plan import Action, make_plan
from tests.support import CLIENT_ID, CLIENT_SECRET, api_writes, env_for, run_main, seed, stored, sync_one

FP_KEY = "Yk3nQ0x9-Fingerprint-Key-Tests_4vR2sLw7uE1"  # 42 base64url characters: 252 bits as counted
KEY = derive_key(FP_KEY)
SCOPE = "repositories/acme/api/pipelines_config/variables"
UUID = "{6f1c2d3e-0000-4000-8000-00000000abcd}"
keys = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)


# -- the pure parts -------------------------------------------------------------------------------------------------


def test_a_fingerprint_is_128_bits_of_a_keyed_hmac_bound_to_key_name_uuid_and_target():
    fp = fingerprint(KEY, SCOPE, "DB_PASSWORD", UUID, "hunter2-value")
    assert len(fp) == 22 and len(base64.urlsafe_b64decode(fp + "==")) == 16
    assert fp == fingerprint(KEY, SCOPE, "DB_PASSWORD", UUID, "hunter2-value")  # stable from run to run
    assert fp == fingerprint(KEY, SCOPE, "DB_PASSWORD", UUID.upper(), "hunter2-value")  # a uuid's case is no change
    others = {
        fingerprint(KEY, SCOPE, "OTHER_PASSWORD", UUID, "hunter2-value"),  # equal values in two keys
        fingerprint(KEY, "repositories/acme/web/pipelines_config/variables", "DB_PASSWORD", UUID, "hunter2-value"),
        fingerprint(derive_key(FP_KEY + "x"), SCOPE, "DB_PASSWORD", UUID, "hunter2-value"),  # another key
        fingerprint(KEY, SCOPE, "DB_PASSWORD", "{6f1c2d3e-0000-4000-8000-00000000abce}", "hunter2-value"),  # re-created
        fingerprint(KEY, SCOPE, "DB_PASSWORD", UUID, "hunter2-valuf"),
    }
    assert fp not in others and len(others) == 5


def test_the_hmac_key_is_not_the_setting_s_text():
    assert derive_key(FP_KEY) != FP_KEY.encode() and len(KEY) == 32
    assert derive_key(FP_KEY) == derive_key(FP_KEY)


@pytest.mark.parametrize("text", [
    secrets.token_urlsafe(32),  # `bbvars fingerprint-key` and the python one-liner: 43 characters, 256 bits
    secrets.token_urlsafe(16),  # 22 characters: 132 bits as counted
    secrets.token_hex(16),  # 32 hex digits: 128 bits
    base64.b64encode(secrets.token_bytes(32)).decode(),  # `openssl rand -base64 32`, padding included
    " " + secrets.token_urlsafe(32) + "\n",  # pasted with a newline
], ids=["urlsafe-32", "urlsafe-16", "hex-16", "base64-32", "pasted"])  # ids, not the random values: the same in every xdist worker
def test_a_random_key_of_128_bits_or_more_is_accepted(text):
    assert fingerprints.key_problem(text) is None and fingerprints.key_bits(text) >= 128
    assert fingerprints.key_problem(fingerprints.new_key()) is None and len(fingerprints.new_key()) == 43


@pytest.mark.parametrize("text, why", [
    (None, "is not set"), ("", "is not set"), ("  ", "is not set"),
    ("a", "is too weak (counted as 4 bits)"),  # a hex digit: 4 bits
    ("password123", "is too weak (counted as 66 bits)"),  # 11 base64url characters: 6 bits each
    ("0123456789abcdef0123456789abcde", "is too weak (counted as 124 bits)"),  # 31 hex digits
    ("Tr0ub4dor3xYz9QwErTy7", "is too weak (counted as 126 bits)"),  # 21 base64url characters
    ("a" * 40, "is too weak (it repeats a few characters)"),
    ("password123password123", "is too weak (it repeats a few characters)"),  # 22 characters: 11 twice
    ("abcdefgabcdefgabcdefgabcdefg", "is too weak (it repeats a few characters)"),
    ("correct horse battery staple", "is neither hex nor base64"),  # a passphrase: no count of it means anything
    ("pässwörd-pässwörd-pässwörd-pässwörd", "is neither hex nor base64"),
])
def test_a_missing_or_weak_key_is_refused_saying_how_to_make_one(text, why):
    problem = fingerprints.key_problem(text)
    assert problem is not None and problem.startswith(why)
    assert "bbvars fingerprint-key" in problem and "secrets.token_urlsafe(32)" in problem
    assert "32 or more hex digits, or 22 or more base64url characters" in problem
    if text and text.strip():
        assert len(text.strip()) < 4 or text.strip() not in problem  # a key, even a weak one, is never shown


def test_how_a_key_s_bits_are_counted():
    assert fingerprints.key_bits("a") == 4 and fingerprints.key_bits("password123") == 66
    assert fingerprints.key_bits("f" * 32) == 128 and fingerprints.key_bits("A" * 22 + "==") == 132
    assert fingerprints.key_bits("correct horse battery staple") == 0


@given(st.dictionaries(keys, st.text(min_size=0, max_size=40), max_size=20))
def test_render_then_parse_gives_the_entries_back(values):
    entries = {key: fingerprint(KEY, SCOPE, key, UUID, value) for key, value in values.items()}
    text = render(entries)
    assert parse(text) == entries
    assert len(VARIABLE) + len(text) == fingerprints.rendered_length(entries)


@pytest.mark.parametrize("text", [None, "", "v1 A=" + "x" * 22, "v3 A=" + "x" * 22, "garbage", "A=" + "x" * 22])
def test_anything_unreadable_counts_as_no_fingerprint(text):
    # v1 entries had no uuid (and their key could come from the credential): not read, so rewritten once
    assert parse(text) == {}


def test_malformed_entries_are_skipped_and_the_rest_kept():
    good = fingerprint(KEY, SCOPE, "A", UUID, "1")
    assert parse(f"v2 A={good} B=short 9BAD={good} C{good}") == {"A": good}


def test_next_entries_keeps_what_is_still_there_and_records_only_successful_writes():
    recorded = {"KEPT": "k" * 22, "REWRITTEN": "o" * 22, "FAILED": "f" * 22, "DELETED": "d" * 22,
                "GONE_BY_HAND": "g" * 22, "NOW_PLAIN": "p" * 22}
    present = {"KEPT", "REWRITTEN", "FAILED", "DELETED", "NOW_PLAIN"}
    written = {"REWRITTEN": "n" * 22, "FAILED": None, "NOW_PLAIN": None, "NEW": "w" * 22}
    assert next_entries(recorded, present, written, ["DELETED"]) == {
        "KEPT": "k" * 22, "REWRITTEN": "n" * 22, "NEW": "w" * 22}


def remote(key: str, value: str | None = None, secured: bool = True) -> RemoteVariable:
    return RemoteVariable("{" + key + "}", key, None if secured else value, secured)


def test_the_book_takes_its_variable_out_of_the_listing():
    fp = fingerprint(KEY, SCOPE, "PW", "{PW}", "v")
    listing = [remote("PW"), remote(VARIABLE, f"v2 PW={fp}", secured=False), remote("PLAIN", "x", secured=False)]
    book = Book(KEY, SCOPE, listing)
    assert [r.key for r in book.user] == ["PW", "PLAIN"] and book.recorded == {"PW": fp}
    wanted = [Variable("PW", "v", True), Variable("PLAIN", "x")]
    expected = book.expected(wanted)
    plan = make_plan(wanted, book.user, prune=True, recorded=book.recorded, expected=expected)
    assert [(op.action, op.key) for op in plan.operations] == [(Action.UNCHANGED, "PW"), (Action.UNCHANGED, "PLAIN")]
    assert book.pending(plan, {"PW", "PLAIN"}, {}) is None  # nothing changed: no write


def test_an_entry_is_bound_to_the_listed_record_s_uuid():
    fp = fingerprint(KEY, SCOPE, "PW", "{PW}", "v")
    recreated = [RemoteVariable("{PW-again}", "PW", None, True), remote(VARIABLE, f"v2 PW={fp}", secured=False)]
    book = Book(KEY, SCOPE, recreated)
    wanted = [Variable("PW", "v", True)]
    plan = make_plan(wanted, book.user, recorded=book.recorded, expected=book.expected(wanted))
    assert [(op.action, op.reason) for op in plan.operations] == [(Action.UPDATE, "fingerprint differs")]
    op = book.pending(plan, {"PW"}, {"PW": "{PW-again}"})  # the PUT kept the record it wrote
    assert parse(op.variable.value) == {"PW": fingerprint(KEY, SCOPE, "PW", "{PW-again}", "v")}
    assert book.pending(plan, {"PW"}, {}).variable.value == "v2"  # no uuid known: no entry, rewritten next time


def test_the_book_writes_only_when_its_value_changes():
    book = Book(KEY, SCOPE, [remote("PW")])
    wanted = [Variable("PW", "v", True)]
    expected = book.expected(wanted)
    plan = make_plan(wanted, book.user, recorded=book.recorded, expected=expected)
    assert plan.operations[0].reason == "no fingerprint"
    op = book.pending(plan, {"PW"}, {"PW": "{PW}"})
    assert op.action is Action.CREATE and op.variable == Variable(VARIABLE, render(expected), False)
    assert op.variable.value == f"v2 PW={expected['PW']}"
    assert book.pending(plan, set(), {}) is None  # the write failed: nothing to record, nothing created


def test_with_fingerprints_off_a_left_variable_loses_the_entries_of_rewritten_keys():
    fp = fingerprint(KEY, SCOPE, "PW", "{PW}", "old")
    book = Book(None, SCOPE, [remote("PW"), remote("OTHER"), remote(VARIABLE, f"v2 OTHER={fp} PW={fp}", False)])
    wanted = [Variable("PW", "new", True)]
    assert book.expected(wanted) is None
    plan = make_plan(wanted, book.user)
    op = book.pending(plan, {"PW"}, {"PW": "{PW}"})
    assert op.action is Action.UPDATE and parse(op.variable.value) == {"OTHER": fp}
    # and a run that rewrites nothing it records leaves the variable alone
    untouched = make_plan([Variable("NEW", "x")], book.user)
    assert book.pending(untouched, {"NEW"}, {"NEW": "{NEW}"}) is None


def test_a_left_v1_variable_is_replaced_even_with_fingerprints_off():
    # Its entries may have been keyed by the credential: whoever holds it could test guesses against them.
    book = Book(None, SCOPE, [remote("PW"), remote(VARIABLE, "v1 PW=" + "x" * 22, False)])
    assert book.outdated and book.recorded == {}
    op = book.pending(make_plan([Variable("NEW", "x")], book.user), {"NEW"}, {"NEW": "{NEW}"})
    assert op.action is Action.UPDATE and op.variable.value == "v2"


# -- the engine, over real HTTP -------------------------------------------------------------------------------------


def settings_for(emu: Emulator, **values) -> Settings:
    base = dict(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=emu.api_url, token_url=emu.token_url,
                workspace="acme", repository="api", fingerprint=True, fingerprint_key=FP_KEY)
    return Settings(**{**base, **values})


def sync(emu: Emulator, variables: list[Variable], **values) -> SyncResult:
    return sync_one(settings_for(emu, **values), variables, Redactor())


SECRETS = {"DB_PASSWORD": "pa55-Word-9f8e7d", "API_KEY": "key-0a1b2c3d4e", "SAME_AS_DB": "pa55-Word-9f8e7d"}


def secured(values: dict[str, str]) -> list[Variable]:
    return [Variable(k, v, True) for k, v in values.items()]


def test_a_second_identical_run_makes_no_write(emulator):
    first = sync(emulator, [*secured(SECRETS), Variable("PLAIN", "p")])
    assert first.ok and sorted(first.created) == ["API_KEY", "DB_PASSWORD", "PLAIN", "SAME_AS_DB"]
    assert first.fingerprints == "created" and VARIABLE not in first.created
    assert stored(emulator)[VARIABLE][1] is False  # a plain variable, so bbvars can read it back

    emulator.reset_requests()
    second = sync(emulator, [*secured(SECRETS), Variable("PLAIN", "p")])
    assert second.ok and not second.changed and second.fingerprints == "unchanged"
    assert sorted(second.unchanged) == ["API_KEY", "DB_PASSWORD", "PLAIN", "SAME_AS_DB"]
    assert api_writes(emulator) == [] and second.as_json()["fingerprints"] == "unchanged"
    assert "reasons" not in second.as_json()


def test_changing_one_secured_value_is_its_write_plus_the_fingerprint_update(emulator):
    sync(emulator, secured(SECRETS))
    emulator.reset_requests()
    result = sync(emulator, secured({**SECRETS, "API_KEY": "key-rotated-5f6e"}))
    assert result.updated == ["API_KEY"] and result.reasons == {"API_KEY": "fingerprint differs"}
    assert result.fingerprints == "updated"
    writes = api_writes(emulator)
    assert [w.method for w in writes] == ["PUT", "PUT"]  # the value, then the fingerprint variable
    assert stored(emulator)["API_KEY"] == ("key-rotated-5f6e", True)
    # ...and the run after that converges
    emulator.reset_requests()
    assert sync(emulator, secured({**SECRETS, "API_KEY": "key-rotated-5f6e"})).changed is False
    assert api_writes(emulator) == []


def test_without_the_key_the_variable_reveals_nothing(emulator):
    sync(emulator, secured(SECRETS))
    value = stored(emulator)[VARIABLE][0]
    assert len(set(parse(value).values())) == 3  # equal values in two keys do not show equal fingerprints

    def encodings(data: bytes) -> set[str]:
        found = {data.decode("utf-8", "replace"), base64.b64encode(data).decode(),
                 base64.urlsafe_b64encode(data).decode(), data.hex()}
        for name in ("sha256", "sha1", "md5"):
            digest = hashlib.new(name, data).digest()
            found |= {digest.hex(), digest.hex().upper(), base64.b64encode(digest).decode(),
                      base64.urlsafe_b64encode(digest).decode()}
        return found

    for key, secret in SECRETS.items():
        for data in (secret.encode(), f"{key}{secret}".encode(), f"{key}={secret}".encode(),
                     f"{key}:{secret}".encode()):
            for form in encodings(data):
                # any 16 characters of a plain digest or encoding, padding aside, would be a leak
                for start in range(max(1, len(form.rstrip("=")) - 15)):
                    assert form.rstrip("=")[start:start + 16] not in value, (key, form)


def test_a_value_deleted_and_re_created_by_hand_is_noticed_by_its_uuid(emulator):
    sync(emulator, secured({"DB_PASSWORD": "one", "API_KEY": "k"}))
    for value in ("set-in-the-web-ui", "one"):  # another value, or even the same one: a new record either way
        emulator.delete_variable("acme", "DB_PASSWORD", repository="api")
        emulator.seed_variable("acme", "DB_PASSWORD", value, secured=True, repository="api")
        emulator.reset_requests()
        result = sync(emulator, secured({"DB_PASSWORD": "one", "API_KEY": "k"}))
        assert result.updated == ["DB_PASSWORD"] and result.reasons == {"DB_PASSWORD": "fingerprint differs"}
        assert result.unchanged == ["API_KEY"] and stored(emulator)["DB_PASSWORD"] == ("one", True)
        assert [w.method for w in api_writes(emulator)] == ["PUT", "PUT"]  # the value, then its new entry
        assert not sync(emulator, secured({"DB_PASSWORD": "one", "API_KEY": "k"})).changed


def test_a_value_changed_in_place_by_hand_is_not_noticed_while_the_input_stays(emulator):
    # The documented trade: Bitbucket never returns a secured value, so only what bbvars wrote is known; an edit
    # in the web UI keeps the record (its uuid).
    sync(emulator, secured({"DB_PASSWORD": "one"}))
    record = next(v for v in emulator.variables("acme", "api") if v["key"] == "DB_PASSWORD")
    emulator.add_access_token("hand-edit-token-1234")
    answer = httpx.put(f"{emulator.api_url}/repositories/acme/api/pipelines_config/variables/{record['uuid']}",
                       json={"key": "DB_PASSWORD", "value": "set-in-the-web-ui", "secured": True},
                       headers={"Authorization": "Bearer hand-edit-token-1234"})
    assert answer.status_code == 200
    result = sync(emulator, secured({"DB_PASSWORD": "one"}))
    assert result.unchanged == ["DB_PASSWORD"] and stored(emulator)["DB_PASSWORD"][0] == "set-in-the-web-ui"


def test_rotating_the_key_rewrites_each_secured_value_once(emulator):
    sync(emulator, secured(SECRETS))
    new_key = fingerprints.new_key()
    rotated = sync(emulator, secured(SECRETS), fingerprint_key=new_key)
    assert sorted(rotated.updated) == sorted(SECRETS) and set(rotated.reasons.values()) == {"fingerprint differs"}
    emulator.reset_requests()
    assert not sync(emulator, secured(SECRETS), fingerprint_key=new_key).changed
    assert api_writes(emulator) == []


@pytest.mark.parametrize("key", [None, "", "a", "password123", CLIENT_SECRET])
def test_without_a_strong_key_fingerprints_are_refused_before_any_request(emulator, key):
    with pytest.raises(InputError, match=re.escape(setting("fingerprint_key")) + r" (is not set|is too weak|is neither).*"
                                         r"bbvars fingerprint-key") as caught:
        sync(emulator, secured(SECRETS), fingerprint_key=key)
    assert emulator.requests == [] and (not key or len(key) < 4 or key not in str(caught.value))
    assert caught.value.exit_code == 2
    # the key is needed only where fingerprints are on
    assert sync(emulator, secured(SECRETS), fingerprint=False, fingerprint_key=key).ok


def test_the_key_is_never_the_credential_s(emulator):
    emulator.add_access_token("repo-access-token-1234")
    sync(emulator, secured(SECRETS))
    other = sync(emulator, secured(SECRETS), client_id=None, client_secret=None,
                 access_token="repo-access-token-1234")
    assert sorted(other.unchanged) == sorted(SECRETS)  # another credential, the same key: nothing rewritten
    # Whoever holds the credential (not the key) and reads the plain variable cannot test a guess of a value:
    # a fingerprint under any key made from the credential matches no entry.
    value = stored(emulator)[VARIABLE][0]
    uuids = {v["key"]: v["uuid"] for v in emulator.variables("acme", "api")}
    for material in (CLIENT_SECRET, "repo-access-token-1234"):
        for key in (derive_key(material), material.encode()):
            for name, secret in SECRETS.items():
                assert fingerprint(key, SCOPE, name, uuids[name], secret) not in value


def test_a_v1_variable_is_read_as_no_fingerprint_then_rewritten_once(emulator):
    seed(emulator, {"DB_PASSWORD": SECRETS["DB_PASSWORD"]}, secured=True)
    seed(emulator, {VARIABLE: "v1 DB_PASSWORD=" + "A" * 22})  # left by an earlier bbvars: entries without uuid
    upgraded = sync(emulator, secured({"DB_PASSWORD": SECRETS["DB_PASSWORD"]}))
    assert upgraded.updated == ["DB_PASSWORD"] and upgraded.reasons == {"DB_PASSWORD": "no fingerprint"}
    assert upgraded.fingerprints == "updated" and stored(emulator)[VARIABLE][0].startswith("v2 DB_PASSWORD=")
    emulator.reset_requests()
    assert not sync(emulator, secured({"DB_PASSWORD": SECRETS["DB_PASSWORD"]})).changed
    assert api_writes(emulator) == []


def test_a_failed_write_is_not_recorded(emulator):
    # One write at a time, in input order: the first POST is DB_PASSWORD's.
    emulator.inject(Fault(status=400, method="POST", path=r"/variables", times=1))
    first = sync(emulator, secured(SECRETS), concurrency=1)
    assert [f["key"] for f in first.failed] == ["DB_PASSWORD"] and first.fingerprints == "created"
    assert set(parse(stored(emulator)[VARIABLE][0])) == {"API_KEY", "SAME_AS_DB"}
    emulator.reset_requests()
    second = sync(emulator, secured(SECRETS))
    assert second.ok and second.created == ["DB_PASSWORD"] and sorted(second.unchanged) == ["API_KEY", "SAME_AS_DB"]
    assert [w.method for w in api_writes(emulator)] == ["POST", "PUT"]


def test_entries_of_keys_still_present_are_kept_and_pruned_ones_dropped(emulator):
    sync(emulator, secured(SECRETS))
    partial = sync(emulator, secured({"DB_PASSWORD": SECRETS["DB_PASSWORD"]}))
    assert partial.unchanged == ["DB_PASSWORD"] and partial.fingerprints == "unchanged"
    pruned = sync(emulator, secured({"DB_PASSWORD": SECRETS["DB_PASSWORD"]}), prune=True)
    assert sorted(pruned.deleted) == ["API_KEY", "SAME_AS_DB"]  # the fingerprint variable is never pruned
    assert set(parse(stored(emulator)[VARIABLE][0])) == {"DB_PASSWORD"} and pruned.fingerprints == "updated"


def test_the_variable_is_never_an_input_key_nor_pruned_nor_counted(emulator):
    sync(emulator, secured(SECRETS))
    for fingerprint_on in (True, False):
        result = sync(emulator, [Variable("ONLY", "x")], prune=True, fingerprint=fingerprint_on, dry_run=True)
        lists = result.as_json()
        assert VARIABLE not in str({k: lists[k] for k in ("created", "updated", "unchanged", "deleted", "failed")})
        assert sorted(result.deleted) == sorted(SECRETS)
    with pytest.raises(InputError, match="BBVARS_FINGERPRINTS is bbvars' own variable"):
        sync(emulator, [Variable(VARIABLE, "mine")])


def test_a_run_without_fingerprints_takes_back_the_entries_of_what_it_rewrote(emulator):
    sync(emulator, secured({"DB_PASSWORD": "one", "API_KEY": "k"}))
    plain_run = sync(emulator, secured({"DB_PASSWORD": "two"}), fingerprint=False)
    assert plain_run.updated == ["DB_PASSWORD"] and plain_run.fingerprints == "updated"
    assert set(parse(stored(emulator)[VARIABLE][0])) == {"API_KEY"}
    # so going back to "one" with fingerprints is seen as a change, as it is
    back = sync(emulator, secured({"DB_PASSWORD": "one"}))
    assert back.updated == ["DB_PASSWORD"] and back.reasons == {"DB_PASSWORD": "no fingerprint"}
    assert stored(emulator)["DB_PASSWORD"] == ("one", True)


def test_dry_run_says_what_fingerprints_would_leave_alone_and_writes_nothing(emulator):
    sync(emulator, secured(SECRETS))
    emulator.reset_requests()
    result = sync(emulator, secured({**SECRETS, "DB_PASSWORD": "new"}), dry_run=True)
    assert result.updated == ["DB_PASSWORD"] and sorted(result.unchanged) == ["API_KEY", "SAME_AS_DB"]
    assert result.fingerprints == "updated" and api_writes(emulator) == []


def test_a_hand_secured_fingerprint_variable_is_recreated_plain(emulator):
    seed(emulator, {VARIABLE: "v1"}, secured=True)
    seed(emulator, {"DB_PASSWORD": "x"}, secured=True)
    result = sync(emulator, secured({"DB_PASSWORD": "x"}))
    assert result.ok and result.updated == ["DB_PASSWORD"] and result.fingerprints == "updated"
    assert stored(emulator)[VARIABLE][1] is False and set(parse(stored(emulator)[VARIABLE][0])) == {"DB_PASSWORD"}


def test_a_failed_fingerprint_write_fails_the_run_but_every_key_is_reported(emulator):
    seed(emulator, {VARIABLE: "v1"})  # so the secured values are POSTs and the fingerprint write the one PUT
    emulator.inject(Fault(status=400, method="PUT"))
    result = sync(emulator, secured(SECRETS))
    assert not result.ok and sorted(result.created) == sorted(SECRETS) and result.failed == []
    assert result.fingerprints == "failed" and "could not write BBVARS_FINGERPRINTS" in result.error


def test_fingerprints_stay_compact(emulator):
    many = {f"SECRET_{i:04d}": f"value-{i}" for i in range(300)}
    sync(emulator, secured(many))
    value = stored(emulator)[VARIABLE][0]
    assert len(value) + len(VARIABLE) == fingerprints.rendered_length(many) and len(value) < 300 * 36
    assert set(value) <= set(string.ascii_letters + string.digits + "_-= ")


@given(st.text(max_size=400))
def test_parse_never_fails_and_keeps_only_well_formed_entries(text):
    for key, fp in parse(text).items():
        assert fingerprints.ENTRY.match(f"{key}={fp}")


def test_a_fingerprint_variable_listed_twice_is_written_through_both_records():
    fp = fingerprint(KEY, SCOPE, "PW", "{PW}", "v")
    listing = [remote("PW"), remote(VARIABLE, "v1", secured=False), remote(VARIABLE, "v1", secured=False)]
    listing[2] = RemoteVariable("{second}", VARIABLE, "v1", False)
    book = Book(KEY, SCOPE, listing)
    assert [r.key for r in book.user] == ["PW"]
    wanted = [Variable("PW", "v", True)]
    plan = make_plan(wanted, book.user, recorded=book.recorded, expected=book.expected(wanted))
    op = book.pending(plan, {"PW"}, {"PW": "{PW}"})
    assert [r.uuid for r in op.remotes] == ["{" + VARIABLE + "}", "{second}"] and parse(op.variable.value) == {"PW": fp}


# -- every surface ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "password123"])
def test_every_surface_refuses_fingerprints_without_a_strong_key_before_any_request(emulator, tmp_path, monkeypatch,
                                                                                    capsys, key):
    from tests.surfaces.test_action import action_env
    from tests.surfaces.test_terraform import go_marshal, query

    secret = json.dumps({"DB_PASSWORD": "pa55-Word-9f8e7d"})
    extra = {} if key is None else {"BBVARS_FINGERPRINT_KEY": key}
    github = {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    manifest = tmp_path / "bbvars.yml"
    manifest.write_text("version: 1\nworkspace: acme\nsources:\n  vault: {file: secrets.json}\ndefaults:\n"
                        "  fingerprint: true\n  secured: ['*']\ntargets:\n  - name: api\n    repository: api\n"
                        "    from: vault\n")
    (tmp_path / "secrets.json").write_text(secret)
    monkeypatch.chdir(tmp_path)
    runs = {
        "cli": (["sync", "-w", "acme", "-r", "api", "--secured", "*", "--fingerprint"], env_for(emulator, **extra),
                secret),
        "manifest": (["sync", "--manifest", str(manifest)], env_for(emulator, **extra), ""),
        "pipe": (["pipe"], env_for(emulator, WORKSPACE="acme", REPOSITORY="api", VARIABLES=secret, SECURED="*",
                                   FINGERPRINT="true", **extra), ""),
        "action": (["action"], {**action_env(emulator, github, workspace="acme", repository="api", variables=secret,
                                             secured="*", fingerprint="true"), **extra}, ""),
        "terraform": (["terraform"], env_for(emulator, **extra),
                      go_marshal(query(variables=secret, secured="*", fingerprint="true")).decode()),
    }
    for surface, (args, env, stdin) in runs.items():
        run = run_main(args, env=env, input=stdin, monkeypatch=monkeypatch, capsys=capsys)
        assert run.code == 2, (surface, run.stdout, run.stderr)
        # (the action registers the key as a mask first, which is how it stays out of the log)
        shown = "\n".join(line for line in (run.stdout + run.stderr).splitlines()
                          if not line.startswith("::add-mask::"))
        assert "BBVARS_FINGERPRINT_KEY" in shown and "bbvars fingerprint-key" in shown, (surface, shown)
        assert "secrets.token_urlsafe(32)" in shown and (key is None or key not in shown), surface
        assert emulator.requests == [], surface


def test_the_fingerprint_key_command_prints_a_new_strong_key(monkeypatch, capsys):
    made = {run_main(["fingerprint-key"], env={}, monkeypatch=monkeypatch, capsys=capsys).stdout for _ in range(3)}
    assert len(made) == 3  # new every time
    for text in made:
        key = text.strip()
        assert text == key + "\n" and len(key) == 43 and fingerprints.key_problem(key) is None
        assert len(base64.urlsafe_b64decode(key + "=")) == 32  # 256 random bits
