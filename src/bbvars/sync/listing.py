"""`list`: what one target holds, in one listing and no write. The target is resolved as a sync resolves it (an
environment by name, slug or uuid), so `list` and `sync` always read the same place."""

from __future__ import annotations

from collections.abc import Callable

from bbvars.bitbucket.client import collection_path
from bbvars.models import RemoteVariable, RunRequest
from bbvars.redaction import Redactor
from bbvars.sync import fingerprints
from bbvars.sync.engine import open_client, resolve_environment


def list_target(request: RunRequest, redactor: Redactor,
                log: Callable[[str], None] | None = None) -> list[RemoteVariable]:
    """The request's one target's variables, sorted by key, without bbvars' own fingerprint variable (no user
    variable: `sync --file` would refuse it read back)."""
    target = request.target
    client, _ = open_client(request, redactor, log)
    with client:
        uuid = resolve_environment(client, target) if target.scope == "deployment" else None
        listed = client.list_variables(collection_path(target, uuid), target)
    return sorted((v for v in listed if v.key != fingerprints.VARIABLE), key=lambda v: v.key)
