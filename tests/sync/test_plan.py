"""The pure plan: what exists + what is wanted -> operations. No server needed."""

from __future__ import annotations

from bbvars.models import RemoteVariable, Variable
from bbvars.sync.plan import (
    FINGERPRINT_DIFFERS,
    NO_FINGERPRINT,
    SECURED_FLAG,
    VALUE_DIFFERS,
    Action,
    PrunePolicy,
    make_plan,
    needs_update,
    update_reason,
)


def remote(key: str, value: str | None, secured: bool = False, uuid: str | None = None) -> RemoteVariable:
    return RemoteVariable(uuid or "{" + key + "}", key, None if secured else value, secured)


def actions(plan) -> list[tuple[str, str]]:
    return [(op.action.value, op.key) for op in plan.operations]


def test_create_update_unchanged_in_input_order():
    plan = make_plan([Variable("NEW", "1"), Variable("UPD", "2"), Variable("SAME", "3")],
                     [remote("SAME", "3"), remote("UPD", "old")])
    assert actions(plan) == [("create", "NEW"), ("update", "UPD"), ("unchanged", "SAME")]
    assert [op.key for op in plan.writes] == ["NEW", "UPD"]
    assert plan.of(Action.UPDATE)[0].remote.uuid == "{UPD}"
    assert plan.of(Action.CREATE)[0].variable == Variable("NEW", "1")


def test_secured_values_are_always_updated():
    assert needs_update(Variable("A", "x", secured=True), remote("A", "x"))
    assert needs_update(Variable("A", "x"), remote("A", None, secured=True))
    assert not needs_update(Variable("A", "x"), remote("A", "x"))
    assert needs_update(Variable("A", "x"), remote("A", "X"))  # case matters
    assert needs_update(Variable("A", ""), remote("A", None))  # a value absent on read is not an empty one
    plan = make_plan([Variable("P", "same", True)], [remote("P", "same", secured=True)])
    assert actions(plan) == [("update", "P")]


def test_prune_only_with_the_flag():
    existing = [remote("KEEP", "k"), remote("EXTRA", "e"), remote("OTHER", "o", secured=True)]
    assert actions(make_plan([Variable("KEEP", "k")], existing)) == [("unchanged", "KEEP")]
    assert actions(make_plan([Variable("KEEP", "k")], existing, prune=True)) == [
        ("unchanged", "KEEP"), ("delete", "EXTRA"), ("delete", "OTHER")]


def test_keys_are_case_sensitive():
    plan = make_plan([Variable("key", "1")], [remote("KEY", "1")], prune=True)
    assert actions(plan) == [("create", "key"), ("delete", "KEY")]


def test_a_key_listed_twice_is_planned_once():
    # Once, and through both records: the twin holding "2" must not be left behind.
    plan = make_plan([Variable("A", "1")], [remote("A", "1", uuid="{1}"), remote("A", "2", uuid="{2}")], prune=True)
    assert actions(plan) == [("update", "A")]
    assert [r.uuid for r in plan.operations[0].remotes] == ["{1}", "{2}"]


def test_nothing_wanted_nothing_there():
    assert make_plan([], []).operations == () and make_plan([], [], prune=True).writes == []


# -- why an update is planned, and what prune may touch --------------------------------------------------------------

def test_each_update_says_why():
    assert update_reason(Variable("A", "x"), remote("A", "y")) == VALUE_DIFFERS
    assert update_reason(Variable("A", "x", True), remote("A", "x")) == SECURED_FLAG
    assert update_reason(Variable("A", "x"), remote("A", None, secured=True)) == SECURED_FLAG
    assert update_reason(Variable("A", "x", True), remote("A", None, secured=True)) == NO_FINGERPRINT
    assert update_reason(Variable("A", "x", True), remote("A", None, secured=True), {}, {"A": "f1"}) == NO_FINGERPRINT
    assert update_reason(Variable("A", "x", True), remote("A", None, secured=True), {"A": "f0"}, {"A": "f1"}) == \
        FINGERPRINT_DIFFERS
    assert update_reason(Variable("A", "x", True), remote("A", None, secured=True), {"A": "f1"}, {"A": "f1"}) is None
    # a recorded fingerprint never makes a plain variable equal: plain values are compared as they are
    assert update_reason(Variable("A", "x"), remote("A", "y"), {"A": "f1"}, {"A": "f1"}) == VALUE_DIFFERS


def test_reasons_are_in_the_operations_and_secured_to_plain_is_a_replace():
    plan = make_plan([Variable("P", "1"), Variable("S", "2", True), Variable("U", "3")],
                     [remote("P", "0"), remote("S", None, secured=True), remote("U", None, secured=True)])
    assert [(op.key, op.reason, op.replace) for op in plan.operations] == [
        ("P", VALUE_DIFFERS, False), ("S", NO_FINGERPRINT, False), ("U", SECURED_FLAG, True)]


def test_prune_with_a_prefix_touches_only_the_keys_the_input_owns():
    existing = [remote("APP_OLD", "o"), remote("APP_KEEP", "k"), remote("OTHER", "x"), remote("app_lower", "l")]
    plan = make_plan([Variable("APP_KEEP", "k")], existing, prune=PrunePolicy(True, "APP_"))
    assert actions(plan) == [("unchanged", "APP_KEEP"), ("delete", "APP_OLD")]


def test_protected_keys_are_never_deleted():
    existing = [remote(k, "v") for k in ("DEPLOY_KEY", "DEPLOY_HOOK", "SSH_KEY", "GONE", "deploy_x")]
    policy = PrunePolicy(True, protect=("DEPLOY_*", "SSH_KE?"))
    assert actions(make_plan([], existing, prune=policy)) == [("delete", "GONE"), ("delete", "deploy_x")]
    assert not PrunePolicy(False).may_delete("ANY")  # nothing without prune


def test_a_key_listed_twice_is_deleted_once():
    plan = make_plan([], [remote("A", "1", uuid="{1}"), remote("A", "1", uuid="{2}")], prune=True)
    assert actions(plan) == [("delete", "A")]
def test_a_key_listed_twice_keeps_every_record():
    twice = [remote("DUP", "v", uuid="{1}"), remote("DUP", "old", uuid="{2}"), remote("SAME", "s", uuid="{3}"),
             remote("SAME", "s", uuid="{4}")]
    plan = make_plan([Variable("DUP", "v"), Variable("SAME", "s")], twice)
    # One operation a key; an update goes to both records when either differs; equal twins stay unchanged.
    assert actions(plan) == [("update", "DUP"), ("unchanged", "SAME")]
    assert [r.uuid for r in plan.operations[0].remotes] == ["{1}", "{2}"]
    pruned = make_plan([], twice, prune=True)
    assert actions(pruned) == [("delete", "DUP"), ("delete", "SAME")]
    assert [[r.uuid for r in op.remotes] for op in pruned.operations] == [["{1}", "{2}"], ["{3}", "{4}"]]


def test_secured_to_plain_of_a_key_listed_twice_replaces_through_every_record():
    twice = [remote("T", None, secured=True, uuid="{1}"), remote("T", None, secured=True, uuid="{2}")]
    op = make_plan([Variable("T", "plain")], twice).operations[0]
    assert op.action is Action.UPDATE and op.reason == SECURED_FLAG and op.replace
    assert [r.uuid for r in op.remotes] == ["{1}", "{2}"]
    mixed = make_plan([Variable("T", "plain")], [remote("T", "plain", uuid="{1}"), twice[1]]).operations[0]
    assert mixed.reason == SECURED_FLAG and mixed.replace  # one record is right, the other must go


# -- foreign keys: listed, but no valid variable name ----------------------------------------------------------------


def test_a_listed_key_that_is_no_variable_name_is_foreign_never_planned():
    hostile = ['x"; touch PWNED; echo "', "KEY\n", "1ST", "", "Ä", "A-B", 'x"; touch PWNED; echo "']
    existing = [remote(key, "v", uuid=f"{{{n}}}") for n, key in enumerate(hostile)] + [remote("OLD", "o")]
    plan = make_plan([Variable("KEEP", "k")], existing, prune=True)
    assert actions(plan) == [("create", "KEEP"), ("delete", "OLD")]
    # Each once, in listing order; `KEY\n` too: a trailing line break is not part of a name.
    assert plan.foreign == ('x"; touch PWNED; echo "', "KEY\n", "1ST", "", "Ä", "A-B")
    assert make_plan([], [remote("_ok9", "v")], prune=True).foreign == ()


def test_delete_requests_count_every_record_of_a_key():
    existing = [remote("DUP", "1", uuid="{1}"), remote("DUP", "2", uuid="{2}"), remote("DUP", "3", uuid="{3}"),
                remote("OLD", "o")]
    plan = make_plan([Variable("KEEP", "k")], existing, prune=True)
    assert len(plan.of(Action.DELETE)) == 2 and plan.delete_requests == 4
