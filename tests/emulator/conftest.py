"""Fixtures for the emulator's own tests: a started demo emulator and an httpx client holding a valid token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from bbvars.emulator import Emulator

from .helpers import bearer, client, fetch_token


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator.demo() as emulator:
        yield emulator


@pytest.fixture
def api(emu: Emulator) -> Iterator[httpx.Client]:
    """A client for /2.0 with a bearer token from the demo consumer."""
    with client(base_url=emu.api_url, headers=bearer(fetch_token(emu))) as web:
        yield web


@pytest.fixture
def anon(emu: Emulator) -> Iterator[httpx.Client]:
    """A client for /2.0 without credentials."""
    with client(base_url=emu.api_url) as web:
        yield web
