"""The pure plan: what exists + what is wanted -> operations. No server needed."""

from __future__ import annotations

from bbvars.models import RemoteVariable, Variable
from bbvars.plan import Action, make_plan, needs_update


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
