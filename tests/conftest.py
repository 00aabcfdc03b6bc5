"""Fixtures: a real emulator on loopback and fast retries. Helpers live in tests/support.py."""

from __future__ import annotations

import pytest

from bbvars.bitbucket import client as client_module
from bbvars.emulator import Emulator
from tests.support import CLIENT_ID, CLIENT_SECRET, FAST_RETRY, env_for


@pytest.fixture
def emulator():
    """A started emulator with the demo workspace (acme/api, environments Test/Staging/Production) and a consumer
    whose secret is recognisable (CLIENT_ID/CLIENT_SECRET)."""
    with Emulator() as emu:
        emu.seed_demo()
        emu.add_consumer(CLIENT_ID, CLIENT_SECRET, scopes=("pipeline", "pipeline:variable"))
        yield emu


@pytest.fixture
def bb_env(emulator):
    return env_for(emulator)


@pytest.fixture
def fast_retry(monkeypatch):
    """Retries with millisecond backoff, for in-process runs against injected faults."""
    monkeypatch.setattr(client_module, "DEFAULT_RETRY", FAST_RETRY)
    return FAST_RETRY


@pytest.fixture(autouse=True)
def config_home(tmp_path_factory, monkeypatch):
    """Every test gets an empty config directory of its own: a developer's own `bbvars login` must never be used,
    nor touched, by a test (subprocesses inherit it through clean_env)."""
    home = tmp_path_factory.mktemp("config-home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


# The quick subset (`pytest -m 'not slow'`, README) leaves these out: each needs a browser, a container engine, the
# real terraform, builds a wheel or the docs site, runs the benchmarks, replays every documentation example, or is
# one of the long sweeps (every secret over every surface and mode; fuzzing). Together about half the suite's time.
SLOW = ("tests/container/", "tests/bench/", "tests/auth/test_login_browser.py", "tests/test_distribution.py",
        "tests/surfaces/test_terraform_binary.py", "tests/docs/", "tests/reliability/test_secrets.py",
        "tests/reliability/test_fuzz.py")


# The suite runs in several processes (pytest-xdist, `-n` in pyproject's addopts). These run each in one worker, one
# after the other: the container tests share one private dockerd and one image build (a module fixture, built once);
# the docs site is built once for its module and opened in chromium, as the login test is (two browsers at once on a
# small machine only slow both); the live suite writes to one real scratch place in order.
SERIAL = {"tests/container/": "container", "tests/docs/test_site.py": "browser",
          "tests/auth/test_login_browser.py": "browser", "tests/live/": "live"}


def pytest_xdist_make_scheduler(config, log):
    """Each test is its own unit of work, but for the SERIAL groups. (Not xdist_group marks with --dist loadgroup:
    xdist 3.8 renames the node ids for them by an attribute pytest 9 no longer reads, so the groups were split.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Serialised(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return next((group for path, group in SERIAL.items() if nodeid.startswith(path)), nodeid)

    return Serialised(config, log)


def pytest_collection_modifyitems(items):
    for item in items:
        if item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)
