"""A safety net: secrets known to the run are replaced before any text leaves the process.

bbvars never puts a value, token or secret in a message on purpose; this catches what an error text from elsewhere
(an exception, a server message) might carry."""

from __future__ import annotations

import threading
from typing import Callable, Iterable

MASK = "***"
# Shorter strings (a secured "1" or "yes") would garble ordinary text if masked; they also carry no secret.
MIN_LENGTH = 4


class Redactor:
    def __init__(self, secrets: Iterable[str | None] = ()):
        self._secrets: set[str] = set()
        self._variants: set[str] = set()  # what is masked: each secret and the forms it takes in one-line messages
        self._lock = threading.Lock()
        self.listeners: list[Callable[[str], None]] = []  # e.g. GitHub's ::add-mask::, told of every new secret
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if not secret:
            return
        with self._lock:
            new = secret not in self._secrets
            self._secrets.add(secret)
            self._variants.update(variants(secret))
        if new:
            for listener in self.listeners:
                listener(secret)

    def add_basic(self, user: str | None, password: str | None) -> None:
        """A credential sent as HTTP Basic: the password, and the base64 form of `user:password` a header or a
        debug dump of one would show."""
        if not password:
            return
        import base64  # only here: most runs send no Basic credential

        self.add(password)
        self.add(base64.b64encode(f"{user or ''}:{password}".encode()).decode("ascii"))

    @property
    def secrets(self) -> list[str]:
        with self._lock:
            return sorted(self._secrets, key=len, reverse=True)  # longest first, so a part never unmasks a whole

    def __call__(self, text: str) -> str:
        with self._lock:
            masked = sorted(self._variants, key=len, reverse=True)  # longest first, so a part never unmasks a whole
        for secret in masked:
            text = text.replace(secret, MASK)
        return text


def variants(secret: str) -> set[str]:
    """A secret as it may show in a message: as it is, with its whitespace collapsed (error texts are put on one
    line), and, when it has several lines, each line (GitHub masks so too; and a cut message may hold only some)."""
    found = {secret, " ".join(secret.split())}
    if len(secret.splitlines()) > 1:
        found.update(line.strip() for line in secret.splitlines())
    return {variant for variant in found if len(variant) >= MIN_LENGTH}
