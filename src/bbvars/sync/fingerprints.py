"""Fingerprints of secured values: how bbvars can tell a secured value it wrote is still the one wanted, although
Bitbucket never returns it. Pure: no I/O here (the engine reads and writes the variable).

bbvars keeps one plain variable, BBVARS_FINGERPRINTS, in each target it syncs with fingerprints on. Its value is
`v1 KEY=FP KEY=FP ...` (keys sorted), one entry per secured variable as bbvars last wrote it, where FP is a keyed
HMAC-SHA-256 of the target, the key name and the value, truncated to 128 bits and base64url-encoded (22 characters).
Without the HMAC key an entry says nothing about the value: no plain hash of it is stored anywhere, and equal values
in two keys or two targets give unrelated fingerprints.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Iterable, Mapping

from bbvars.models import RemoteVariable, Variable
from bbvars.sync.plan import Action, Operation, Plan

VARIABLE = "BBVARS_FINGERPRINTS"
VERSION = "v1"
DIGEST_BYTES = 16  # 128 bits: collisions need ~2^64 tries, and only the key holder can compute a fingerprint
ENCODED_LENGTH = 22  # base64url of 16 bytes, unpadded
# Domain separation: the HMAC key is never the credential itself, so a fingerprint is no oracle for it.
KEY_CONTEXT = b"bbvars fingerprint key v1"
ENTRY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9_-]{%d})\Z" % ENCODED_LENGTH)


def derive_key(material: str) -> bytes:
    """The HMAC key from BBVARS_FINGERPRINT_KEY or the credential's secret (any length, any text)."""
    return hmac.new(KEY_CONTEXT, material.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def fingerprint(key: bytes, scope: str, name: str, value: str) -> str:
    """The fingerprint of `value` stored as `name` in the target identified by `scope` (its API collection path).
    The value comes last, so the NUL separators cannot be confused (key names and paths never hold a NUL)."""
    message = "\0".join((VERSION, scope, name, value)).encode("utf-8", "surrogatepass")
    digest = hmac.new(key, message, hashlib.sha256).digest()[:DIGEST_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def parse(text: str | None) -> dict[str, str]:
    """{key: fingerprint} from the variable's value. Anything unreadable (another version, hand edits) counts as no
    fingerprint: the affected secured values are rewritten once, which is always safe."""
    if not text:
        return {}
    words = text.split()
    if not words or words[0] != VERSION:
        return {}
    entries: dict[str, str] = {}
    for word in words[1:]:
        match = ENTRY.match(word)
        if match:
            entries[match.group(1)] = match.group(2)
    return entries


def render(entries: Mapping[str, str]) -> str:
    """The variable's value: compact (a key's length + 24 characters per entry) and stable (sorted)."""
    return " ".join([VERSION, *(f"{key}={entries[key]}" for key in sorted(entries))])


def rendered_length(keys: Iterable[str]) -> int:
    """The length of the value holding entries for `keys`, plus the variable's name: what it adds to Bitbucket's
    total of names and values."""
    return len(VARIABLE) + len(VERSION) + sum(len(key) + 2 + ENCODED_LENGTH for key in keys)


def next_entries(
    recorded: Mapping[str, str],
    present_secured: Iterable[str],
    written: Mapping[str, str | None],
    gone: Iterable[str],
) -> dict[str, str]:
    """The entries after a run.

    recorded: the entries read before planning; present_secured: keys listed as secured before planning;
    written: for each key the run wrote or meant to write, its new fingerprint when the write succeeded and left the
    key secured with a fingerprint known, else None (a failed write, a plain value, fingerprints off); gone: keys
    the run deleted. Entries of keys still present are kept; no entry is made for a write that did not succeed."""
    present = set(present_secured)
    entries = {key: fp for key, fp in recorded.items() if key in present}
    for key in gone:
        entries.pop(key, None)
    for key, fp in written.items():
        if fp is None:
            entries.pop(key, None)
        else:
            entries[key] = fp
    return entries


class Book:
    """The fingerprint variable of one target: taken out of the listing before planning, and, after that target's
    writes, the write (if any) that keeps it true. `key` None means fingerprints are off: nothing is compared and no
    entry is made, but a variable left by earlier runs still loses the entries of keys this run rewrote or deleted
    (else a later run with fingerprints would trust an entry for a value that is no longer there)."""

    def __init__(self, key: bytes | None, scope: str, existing: Iterable[RemoteVariable]):
        self.key = key
        self.scope = scope.lower()  # the collection path: environments by uuid, so a renamed one keeps its entries
        records: list[RemoteVariable] = []  # the variable's records: one, unless Bitbucket lists it twice
        self.user: list[RemoteVariable] = []  # the listing without the fingerprint variable
        for remote in existing:
            (records if remote.key == VARIABLE else self.user).append(remote)
        self.remote = records[0] if records else None
        self.others = tuple(records[1:])
        self.text = self.remote.value if self.remote is not None else None  # None when secured by hand: unreadable
        self.recorded = parse(self.text)
        self.present_secured = {remote.key for remote in self.user if remote.secured}

    @property
    def on(self) -> bool:
        return self.key is not None

    def expected(self, desired: Iterable[Variable]) -> dict[str, str] | None:
        """The fingerprints of the wanted secured values, or None with fingerprints off."""
        if self.key is None:
            return None
        return {v.key: fingerprint(self.key, self.scope, v.key, v.value) for v in desired if v.secured}

    def pending(self, plan: Plan, expected: Mapping[str, str] | None, succeeded: set[str]) -> Operation | None:
        """The write of the fingerprint variable after the plan's writes, given the keys whose operation succeeded;
        None when its value stays as it is."""
        expected = expected or {}
        written: dict[str, str | None] = {}
        gone = []
        for op in plan.operations:
            ok = op.key in succeeded
            if op.action is Action.DELETE:
                if ok:
                    gone.append(op.key)
            elif op.variable is not None and (op.action is not Action.UNCHANGED or op.variable.secured):
                written[op.key] = expected.get(op.key) if ok and op.variable.secured else None
        entries = next_entries(self.recorded, self.present_secured, written, gone)
        if not self.on and entries == self.recorded:
            return None  # off, and nothing to take back: leave it alone
        text = render(entries)
        if text == self.text or (self.remote is None and not entries):
            return None
        variable = Variable(VARIABLE, text, False)
        if self.remote is None:
            return Operation(Action.CREATE, VARIABLE, variable=variable)
        return Operation(Action.UPDATE, VARIABLE, variable=variable, remote=self.remote, others=self.others)
