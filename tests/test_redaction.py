"""The redactor: the safety net that masks known secrets in any text leaving the process."""

from __future__ import annotations

import threading

from bbvars.redaction import MASK, MIN_LENGTH, Redactor


def test_masks_every_occurrence_of_every_secret():
    redact = Redactor(["s3cr3t-value", None, ""])
    redact.add("another-one")
    assert redact("a s3cr3t-value b s3cr3t-value c another-one") == f"a {MASK} b {MASK} c {MASK}"


def test_the_longest_secret_is_masked_first_so_no_part_is_left():
    redact = Redactor(["abcd", "abcdefgh"])
    assert redact("xx abcdefgh yy") == f"xx {MASK} yy"


def test_short_values_are_not_masked():
    redact = Redactor(["yes", "1"])
    assert MIN_LENGTH == 4
    assert redact("yes, 1 of them") == "yes, 1 of them"


def test_listeners_hear_each_new_secret_once():
    heard: list[str] = []
    redact = Redactor()
    redact.listeners.append(heard.append)
    for secret in ("one-secret", "one-secret", "two-secret", None):
        redact.add(secret)
    assert heard == ["one-secret", "two-secret"]
    assert sorted(redact.secrets) == ["one-secret", "two-secret"]


def test_adding_from_many_threads():
    redact = Redactor()
    threads = [threading.Thread(target=redact.add, args=(f"secret-{i:03d}",)) for i in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(redact.secrets) == 50 and redact("secret-042") == MASK
