"""A safety net: secrets known to the run are replaced before any text leaves the process.

bbvars never puts a value, token or secret in a message on purpose; this catches what an error text from elsewhere
(an exception, a server message) might carry: the secret as it is, or in one of the forms a server echoes it in (the
JSON-escaped request body, a URL-encoded query, the base64 of an HTTP Basic `Authorization` header)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterable
from urllib.parse import quote, quote_plus

from bbvars.errors import speak

MASK = "***"
# Shorter strings (a secured "1" or "yes") would garble ordinary text if masked; they also carry no secret.
MIN_LENGTH = 4


class Redactor:
    """Every text a surface prints passes through it: secrets are masked, and settings named by marker are said in
    the surface's words (`voice`, see bbvars.errors.speak)."""

    def __init__(self, secrets: Iterable[str | None] = (), voice: Callable[[str], str] | None = None):
        self.voice = voice
        self._secrets: set[str] = set()
        self._variants: set[str] = set()  # what is masked: each secret and the forms it takes in messages
        self._ordered: list[str] | None = []  # _variants longest first, kept until the next one is added
        self._lock = threading.Lock()
        # Told of every new form of a secret, the raw secret first (e.g. GitHub's ::add-mask::).
        self.listeners: list[Callable[[str], None]] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        with self._lock:
            new = secret not in self._secrets
            self._secrets.add(secret)
        if new and len(secret) < MIN_LENGTH:
            # Not masked in messages (it would garble them), but a listener (GitHub's ::add-mask::) still hears it.
            for listener in self.listeners:
                listener(secret)
        self._register([secret, *sorted(variants(secret) - {secret})])

    def add_basic(self, user: str | None, secret: str | None) -> None:
        """A secret sent as HTTP Basic credentials: the header carries base64(`user:secret`), which a server's error
        may echo. (The OAuth consumer's id:secret; an Atlassian account's email:API token.)"""
        if not secret:
            return
        self.add(secret)
        header = base64.b64encode(f"{user or ''}:{secret}".encode("utf-8", "surrogatepass")).decode("ascii")
        self._register([header])

    def _register(self, forms: list[str]) -> None:
        with self._lock:
            new = [form for form in forms if form not in self._variants and len(form) >= MIN_LENGTH]
            self._variants.update(new)
            if new:
                self._ordered = None
        for form in new:
            for listener in self.listeners:
                listener(form)

    @property
    def secrets(self) -> list[str]:
        with self._lock:
            return sorted(self._secrets, key=len, reverse=True)  # longest first, so a part never unmasks a whole

    @property
    def forms(self) -> list[str]:
        """Everything masked: each secret and each form of it."""
        with self._lock:
            if self._ordered is None:
                self._ordered = sorted(self._variants, key=len, reverse=True)
            return self._ordered

    def __call__(self, text: str) -> str:
        # Masked before the markers are spoken: a secret that holds a marker's text must still be found whole.
        masked = self.mask(text)
        spoken = speak(masked, self.voice)
        return masked if spoken == masked else self.mask(spoken)

    def mask(self, text: str) -> str:
        """Only the secrets masked: for data (a listed value), whose text is never a message of bbvars'."""
        for secret in self.forms:  # longest first, so a part never unmasks a whole
            text = text.replace(secret, MASK)
        return text


def variants(secret: str) -> set[str]:
    """A secret as it may show in a message: as it is; with its whitespace collapsed (error texts are put on one
    line); when it has several lines, each line (GitHub masks so too; and a cut message may hold only some); and
    escaped as JSON (a request body echoed back, `ensure_ascii` or not), as a Python repr, and URL-encoded."""
    found = {secret, " ".join(secret.split())}
    if len(secret.splitlines()) > 1:
        found.update(line.strip() for line in secret.splitlines())
    for form in list(found):
        found.update({json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1], repr(form)[1:-1]})
        try:
            found.update({quote(form, safe=""), quote(form), quote_plus(form)})
        except UnicodeEncodeError:
            pass  # not UTF-8 text: refused as input before it could be sent anywhere
    return {variant for variant in found if len(variant) >= MIN_LENGTH}
