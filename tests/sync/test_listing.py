"""`list` (sync/listing.py): one target resolved as a sync resolves it, listed once, bbvars' own variable left out."""

from __future__ import annotations

from bbvars.redaction import Redactor
from bbvars.request.run import for_target
from bbvars.request.settings import Settings
from bbvars.sync import fingerprints
from bbvars.sync.listing import list_target
from tests.support import CLIENT_ID, CLIENT_SECRET, seed


def settings_for(emulator, **where) -> Settings:
    return Settings(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, api_url=emulator.api_url,
                    token_url=emulator.token_url, workspace="acme", **where)


def test_an_environment_named_by_its_slug_is_listed_sorted_without_the_fingerprint_variable(emulator):
    seed(emulator, {"B_KEY": "2", "A_KEY": "1", fingerprints.VARIABLE: "{}"}, repository="api", environment="Staging")
    seed(emulator, {"OTHER": "x"}, repository="api", environment="Production")
    request = for_target(settings_for(emulator, repository="api", environment="staging"), (), Redactor())
    listed = list_target(request, Redactor())
    assert [(v.key, v.value, v.secured) for v in listed] == [("A_KEY", "1", False), ("B_KEY", "2", False)]
    gets = [r for r in emulator.requests if r.method == "GET"]
    assert len(gets) == 2, "one listing of the environments, one of the variables"
