"""The live suite run against the emulator, so the suite itself is known to work before anyone points it at real
Bitbucket: every case runs (none skipped), every credential kind is used, and nothing it wrote is left behind."""

from __future__ import annotations

import subprocess
import sys

from bbvars.emulator import Emulator
from tests.support import ROOT, clean_env

ACCESS_TOKEN = "live-selfcheck-access-token-4c1e"
EMAIL, API_TOKEN = "live@example.com", "ATATT3x-live-selfcheck-token-9d2f"


def test_the_live_suite_passes_against_the_emulator_and_cleans_up(tmp_path):
    with Emulator() as emu:
        emu.seed_demo()
        emu.add_consumer("live-client", "live-secret-3b7a", scopes=("pipeline", "pipeline:variable"))
        emu.add_access_token(ACCESS_TOKEN)
        emu.add_api_token(EMAIL, API_TOKEN)
        emu.seed_variable("acme", "KEEP_ME", "untouched", repository="api", environment="Production")
        env = clean_env(
            BBVARS_LIVE="1", BBVARS_LIVE_WORKSPACE="acme", BBVARS_LIVE_REPOSITORY="api",
            BBVARS_LIVE_ENVIRONMENT="Production", BBVARS_LIVE_API_URL=emu.api_url,
            BBVARS_LIVE_TOKEN_URL=emu.token_url, BBVARS_LIVE_CLIENT_ID="live-client",
            BBVARS_LIVE_CLIENT_SECRET="live-secret-3b7a", BBVARS_LIVE_EMAIL=EMAIL, BBVARS_LIVE_API_TOKEN=API_TOKEN,
            BBVARS_LIVE_ACCESS_TOKEN=ACCESS_TOKEN, XDG_CONFIG_HOME=str(tmp_path))
        # -n 0: one process, so -v prints "name PASSED" lines (in several, the live tests are one xdist_group).
        run = subprocess.run([sys.executable, "-m", "pytest", "-n", "0", "-v", "-p", "no:cacheprovider", "-rs",
                              str(ROOT / "tests" / "live" / "test_live.py")],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
        # 3 kinds x 3 scopes less the access token's workspace case, 3 checks, fingerprint, manifest.
        assert "13 passed, 1 skipped" in summary, run.stdout[-3000:]
        for kind in ("consumer", "api-token", "access-token"):
            assert f"test_check_names_the_credential_and_writes_nothing[{kind}] PASSED" in run.stdout
            for scope in ("repository", "environment") + (("workspace",) if kind != "access-token" else ()):
                assert f"test_sync_list_resync_update_prune[{kind}-{scope}] PASSED" in run.stdout, run.stdout
        assert "cannot reach workspace variables" in run.stdout
        left = [(scope, v["key"]) for scope, where in (("workspace", {}), ("repository", {"repository": "api"}),
                                                      ("environment", {"repository": "api",
                                                                       "environment": "Production"}))
                for v in emu.variables("acme", **where) if v["key"].startswith("BBVARS_")]
        assert left == [], f"the live suite left {left} behind"
        assert [v["key"] for v in emu.variables("acme", "api", "Production")] == ["KEEP_ME"]
