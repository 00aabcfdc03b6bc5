"""Fingerprints of secured values: how bbvars can tell a secured value it wrote is still the one wanted, although
Bitbucket never returns it. Pure: no I/O here (the engine reads and writes the variable).

bbvars keeps one plain variable, BBVARS_FINGERPRINTS, in each target it syncs with fingerprints on. Its value is
`v2 KEY=FP KEY=FP ...` (keys sorted), one entry per secured variable as bbvars last wrote it, where FP is an
HMAC-SHA-256 of the target, the key name, the variable's uuid and the value, truncated to 128 bits and
base64url-encoded (22 characters). The HMAC key comes only from BBVARS_FINGERPRINT_KEY, a random key of at least 128
bits that only its owner holds (never from the credential: whoever holds the credential could otherwise test guesses
of a short secret offline against the plain variable). The uuid binds an entry to the variable it was written to: a
secured variable deleted and re-created by hand, even with the same value, no longer matches and is rewritten.
Entries of the older format v1 (no uuid) are not read: each such value is rewritten once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping

from bbvars.models import RemoteVariable, Variable
from bbvars.sync.plan import Action, Operation, Plan

VARIABLE = "BBVARS_FINGERPRINTS"
VERSION = "v2"
DIGEST_BYTES = 16  # 128 bits: collisions need ~2^64 tries, and only the key holder can compute a fingerprint
ENCODED_LENGTH = 22  # base64url of 16 bytes, unpadded
# Domain separation: the HMAC key is the setting's text run through its own HMAC, never that text as it is.
KEY_CONTEXT = b"bbvars fingerprint key v1"
ENTRY = re.compile(rf"([A-Za-z_][A-Za-z0-9_]*)=([A-Za-z0-9_-]{{{ENCODED_LENGTH}}})\Z")

# The key's strength, counted from its text: 4 bits per character of a hex key, 6 per character of a base64 or
# base64url one ('=' padding not counted). Anything else (a passphrase) is refused: no count of its characters says
# how guessable it is. A key of one character repeated, or of a short run repeated, is refused too.
KEY_BITS = 128
KEY_DISTINCT = 8  # a random key of 32 hex digits has fewer than 8 distinct ones about once in 30 million
HEX_KEY = re.compile(r"[0-9A-Fa-f]+\Z")
BASE64_KEY = re.compile(r"[A-Za-z0-9+/_-]+=*\Z")
KEY_HOW = ("make one with `bbvars fingerprint-key` or `python3 -c \"import secrets; "
           "print(secrets.token_urlsafe(32))\"`, and keep it as a secured variable (a secret) of the CI, never in "
           "the repository")
KEY_RULE = f"a random key of at least {KEY_BITS} bits: 32 or more hex digits, or 22 or more base64url characters"


def new_key() -> str:
    """A fresh key: 256 random bits, base64url (43 characters)."""
    return secrets.token_urlsafe(32)


def key_bits(text: str) -> int:
    """The bits the key's text is counted as holding (see KEY_BITS); 0 when it is neither hex nor base64."""
    body = text.strip()
    if HEX_KEY.match(body):
        return 4 * len(body)
    if BASE64_KEY.match(body):
        return 6 * len(body.rstrip("="))
    return 0


def repeats(text: str) -> bool:
    """Whether `text` is a shorter run repeated ("password123password123")."""
    return any(len(text) % size == 0 and text == text[:size] * (len(text) // size)
               for size in range(1, len(text) // 2 + 1))


def key_problem(text: str | None) -> str | None:
    """Why `text` cannot be the fingerprint key, as the end of a sentence naming the setting; None when it can.
    Never quotes the key."""
    body = (text or "").strip()
    if not body:
        return f"is not set, and fingerprints need it: {KEY_RULE}; {KEY_HOW}"
    bits = key_bits(body)
    if bits == 0:
        return f"is neither hex nor base64, and fingerprints need {KEY_RULE}; {KEY_HOW}"
    if bits < KEY_BITS or len(set(body.rstrip("="))) < KEY_DISTINCT or repeats(body.rstrip("=")):
        counted = f"counted as {bits} bits" if bits < KEY_BITS else "it repeats a few characters"
        return f"is too weak ({counted}): fingerprints need {KEY_RULE}; {KEY_HOW}"
    return None


def derive_key(material: str) -> bytes:
    """The HMAC key from the text of BBVARS_FINGERPRINT_KEY (checked by key_problem first)."""
    return hmac.new(KEY_CONTEXT, material.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


def fingerprint(key: bytes, scope: str, name: str, uuid: str, value: str) -> str:
    """The fingerprint of `value` stored as `name`, in the variable `uuid`, in the target identified by `scope` (its
    API collection path). The value comes last, so the NUL separators cannot be confused (key names, uuids and paths
    never hold a NUL)."""
    message = "\0".join((VERSION, scope, name, uuid.lower(), value)).encode("utf-8", "surrogatepass")
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
        # An older format's entries are not read (v1 had no uuid): each of its secured values is rewritten once.
        self.outdated = bool(self.text) and (self.text or "").split()[0:1] == ["v1"]
        self.present_secured = {remote.key for remote in self.user if remote.secured}
        self.uuids: dict[str, str] = {}  # key -> uuid of its first listed record, as the plan's op.remote
        for remote in self.user:
            self.uuids.setdefault(remote.key, remote.uuid)

    @property
    def on(self) -> bool:
        return self.key is not None

    def of(self, variable: Variable, uuid: str | None) -> str | None:
        """The fingerprint of `variable` written to the record `uuid`; None when off or the uuid is unknown."""
        if self.key is None or not uuid:
            return None
        return fingerprint(self.key, self.scope, variable.key, uuid, variable.value)

    def expected(self, desired: Iterable[Variable]) -> dict[str, str] | None:
        """The fingerprints of the wanted secured values as their listed records would hold them (a key not listed
        has none: it is created anyway), or None with fingerprints off."""
        if self.key is None:
            return None
        found = {v.key: self.of(v, self.uuids.get(v.key)) for v in desired if v.secured}
        return {key: fp for key, fp in found.items() if fp is not None}

    def pending(self, plan: Plan, succeeded: set[str], written_uuids: Mapping[str, str]) -> Operation | None:
        """The write of the fingerprint variable after the plan's writes, given the keys whose operation succeeded
        and the uuid of the record each write left (create and update answer it); None when its value stays as it
        is. A written key whose uuid is unknown gets no entry: it is rewritten next time, which is always safe."""
        written: dict[str, str | None] = {}
        gone = []
        for op in plan.operations:
            ok = op.key in succeeded
            if op.action is Action.DELETE:
                if ok:
                    gone.append(op.key)
            elif op.variable is not None and (op.action is not Action.UNCHANGED or op.variable.secured):
                unchanged = op.action is Action.UNCHANGED and op.remote is not None
                uuid = op.remote.uuid if unchanged and op.remote is not None else written_uuids.get(op.key)
                written[op.key] = self.of(op.variable, uuid) if ok and op.variable.secured else None
        entries = next_entries(self.recorded, self.present_secured, written, gone)
        if not self.on and entries == self.recorded and not self.outdated:
            return None  # off, and nothing to take back: leave it alone
        text = render(entries)
        if text == self.text or (self.remote is None and not entries):
            return None
        variable = Variable(VARIABLE, text, False)
        if self.remote is None:
            return Operation(Action.CREATE, VARIABLE, variable=variable)
        return Operation(Action.UPDATE, VARIABLE, variable=variable, remote=self.remote, others=self.others)
