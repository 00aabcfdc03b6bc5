"""report.py: failures told once per cause, with a count when many keys share it, lines of bounded length;
secured keys marked, and the reason for an update said when it is not obvious."""

from __future__ import annotations

from bbvars.models import Target
from bbvars.sync import report
from bbvars.sync.engine import NOT_ATTEMPTED, RunResult, SyncResult
from tests.support import env_for, run_cli

TARGET = Target("acme", "api")


def test_a_cause_shared_by_many_keys_is_told_once_with_the_count():
    cause = "Bitbucket answered HTTP 503 after 6 attempts over 17s: Bitbucket may be having trouble; re-run later"
    result = SyncResult(TARGET, False, error=cause)
    result.failed = [{"key": "K00", "error": cause.replace("503", "503 creating K00", 1)}]
    result.failed += [{"key": f"K{i:02}", "error": NOT_ATTEMPTED + cause} for i in range(1, 30)]
    [line] = report.failure_lines(RunResult.of(result))
    assert line == f"repository acme/api: 30 keys not written (29 not attempted): {cause}"
    assert report.change_lines(result) == []  # told once, in the failure line, not per key


def test_few_keys_are_named_and_distinct_causes_each_get_a_line_of_bounded_length():
    long_cause = "Bitbucket answered HTTP 400: " + "x" * 500
    result = SyncResult(TARGET, False, created=["OK"])
    result.failed = [{"key": "A", "error": long_cause}, {"key": "B", "error": "conflict creating B (409: exists)"},
                     {"key": "C", "error": "conflict creating C (409: exists)"}]
    lines = report.change_lines(result)
    assert lines[0] == "+ OK"
    assert lines[1].startswith("! A: Bitbucket answered HTTP 400: xxx") and len(lines[1]) <= report.LINE_LIMIT
    assert lines[2] == "! B, C failed: conflict (409: exists)"  # the request each named is dropped: same cause
    [line] = report.failure_lines(RunResult.of(result))
    assert "A failed: Bitbucket answered HTTP 400" in line and "B, C failed: conflict (409: exists)" in line
    assert line.endswith("(still done: 1 created)") and len(line) <= 260


def test_many_distinct_causes_are_summed_up_after_the_first_few():
    result = SyncResult(TARGET, False)
    result.failed = [{"key": f"K{i}", "error": f"Bitbucket answered HTTP 400: reason {i}"} for i in range(10)]
    [line] = report.failure_lines(RunResult.of(result))
    assert "7 more keys failed for 7 other causes (see the JSON report)" in line
    assert len(line) <= 300


def test_a_misspelled_environment_with_30_keys_is_at_most_3_lines(emulator):
    document = "{" + ", ".join(f'"K{i:02}": "v"' for i in range(30)) + "}"
    run = run_cli(["sync", "-w", "acme", "-r", "api", "-e", "Prodution"], env=env_for(emulator), input=document)
    assert run.code == 1
    lines = run.stderr.splitlines()
    assert len(lines) <= 3, lines
    assert lines[-1].startswith("bbvars: error: environment Prodution of acme/api: 30 keys not written: "
                                "deployment environment 'Prodution' not found"), lines
    assert all(len(line) <= 200 for line in lines), [len(line) for line in lines]
    assert "K00" not in run.stderr  # the keys are in the JSON report only
    assert [f["key"] for f in run.json["failed"]] == [f"K{i:02}" for i in range(30)]



def test_secured_keys_are_marked_and_unobvious_reasons_said():
    result = SyncResult(Target("acme", "api"), dry_run=False, created=["NEW_SECRET", "NEW"],
                        updated=["DB_PASSWORD", "API_KEY", "TOKEN", "NOW_SECURED", "URL"], deleted=["OLD_SECRET"],
                        secured={"NEW_SECRET", "DB_PASSWORD", "API_KEY", "NOW_SECURED", "OLD_SECRET"},
                        reasons={"DB_PASSWORD": "no fingerprint", "API_KEY": "fingerprint differs",
                                 "TOKEN": "secured flag changes", "NOW_SECURED": "secured flag changes",
                                 "URL": "value differs"})
    assert report.change_lines(result) == [
        "+ NEW",
        "+ NEW_SECRET (secured)",
        "~ API_KEY (secured, fingerprint differs)",
        "~ DB_PASSWORD (secured, no fingerprint)",
        "~ NOW_SECURED (secured, was plain)",
        "~ TOKEN (was secured: deleted and created plain)",
        "~ URL",  # a new plain value: obvious, nothing added
        "- OLD_SECRET (secured)",
    ]
    assert result.as_json()["reasons"]["URL"] == "value differs"


def test_a_report_without_reasons_keeps_todays_shape():
    plain = SyncResult(Target("acme"), dry_run=True, created=["A"])
    assert set(plain.as_json()) == {"target", "dry_run", "created", "updated", "unchanged", "deleted", "failed"}
    assert report.change_lines(plain) == ["+ A"]


def test_json_text_keeps_unicode_but_escapes_what_a_terminal_acts_on():
    import json

    from bbvars.sync.report import json_text

    document = {"k": "é☃\x1b\x7f\x9b\u2028"}
    text = json_text(document)
    assert json.loads(text) == document and "é☃" in text
    assert not set(text) & {"\x1b", "\x7f", "\x9b", "\u2028"}


def test_the_json_report_carries_no_raw_c1_or_line_separator_from_a_server():
    import json

    from bbvars.models import Target
    from bbvars.sync.report import to_json
    from bbvars.sync.result import RunResult, SyncResult

    result = SyncResult(Target("acme", "api"), False, failed=[{"key": "A", "error": "bad\x9b2J\u2028answer\x7f"}])
    text = to_json(RunResult.of(result))
    assert not set(text) & {"\x9b", "\u2028", "\x7f"} and "\\u009b2J" in text
    assert json.loads(text)["failed"] == [{"key": "A", "error": "bad\x9b2J\u2028answer\x7f"}]


def test_a_run_of_one_is_told_as_one_target_and_a_manifest_s_with_headings_and_totals():
    import json

    result = SyncResult(TARGET, False, created=["A"])
    single = RunResult.of(result)
    assert json.loads(report.to_json(single)) == result.as_json()
    assert report.summary(single) == ["repository acme/api: 1 created, 0 updated, 0 unchanged, 0 deleted", "+ A"]
    assert report.counts(single) == "1 created, 0 updated, 0 unchanged, 0 deleted"
    many = RunResult(False, [result], manifest=True)  # a manifest of one target keeps the manifest's shape
    assert json.loads(report.to_json(many)) == {"dry_run": False, "targets": [result.as_json()], "ok": True}
    assert report.summary(many) == ["repository acme/api: 1 created, 0 updated, 0 unchanged, 0 deleted", "  + A",
                                    "1 target: 1 created, 0 updated, 0 unchanged, 0 deleted"]
    assert report.failure_lines(single) == report.failure_lines(many) == []
