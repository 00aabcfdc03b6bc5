"""The human summary: secured keys marked, and the reason for an update said when it is not obvious."""

from __future__ import annotations

from bbvars import report
from bbvars.models import Target
from bbvars.result import SyncResult


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
