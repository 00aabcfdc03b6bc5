"""An in-memory Bitbucket Cloud API emulator (pipelines variables, environments, OAuth tokens and the consent page,
Atlassian API tokens, access tokens) over real HTTP.

Standard library only, so it starts fast and needs nothing the client code needs.
"""

from bbvars.emulator.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_ENVIRONMENTS,
    DEMO_REPOSITORY,
    DEMO_WORKSPACE,
    Emulator,
    RequestRecord,
)
from bbvars.emulator.faults import Fault
from bbvars.emulator.identity import API_TOKEN_SCOPES, DEMO_USER, User
from bbvars.emulator.serve import serve

__all__ = [
    "API_TOKEN_SCOPES",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "DEMO_ENVIRONMENTS",
    "DEMO_REPOSITORY",
    "DEMO_USER",
    "DEMO_WORKSPACE",
    "Emulator",
    "Fault",
    "RequestRecord",
    "User",
    "serve",
]
