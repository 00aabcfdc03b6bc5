"""`bbvars emulator`: run a demo emulator in the foreground until interrupted."""

from __future__ import annotations

import shlex
import signal
import threading
from typing import TextIO

from bbvars.emulator.emulator import (
    DEMO_CLIENT_SECRET,
    DEMO_ENVIRONMENTS,
    DEMO_REPOSITORY,
    DEMO_WORKSPACE,
    Emulator,
)


def serve(
    host: str,
    port: int,
    latency: float,
    client_id: str,
    client_secret: str,
    out: TextIO,
    *,
    stop: threading.Event | None = None,
) -> int:
    """Serve the demo data with the given consumer until Ctrl-C, SIGTERM or `stop` is set; returns 0.

    Prints where it listens and what to export, but never a secret the user chose: only the public demo default.
    """
    stop = stop or threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    emulator = Emulator.demo(host=host, port=port, latency=latency, client_id=client_id, client_secret=client_secret)
    try:
        with emulator.start():
            secret = (
                f"BITBUCKET_CLIENT_SECRET={DEMO_CLIENT_SECRET}"
                if client_secret == DEMO_CLIENT_SECRET
                else "BITBUCKET_CLIENT_SECRET=<the secret given with --client-secret>"
            )
            print(f"bbvars emulator: API {emulator.api_url}  token {emulator.token_url}", file=out)
            print(
                f"export BITBUCKET_API_URL={emulator.api_url} BITBUCKET_TOKEN_URL={emulator.token_url} "
                f"BITBUCKET_CLIENT_ID={shlex.quote(client_id)} {secret}",
                file=out,
            )
            print(
                f"seeded: workspace {DEMO_WORKSPACE}, repository {DEMO_REPOSITORY}, "
                f"environments {', '.join(DEMO_ENVIRONMENTS)}; Ctrl-C to stop",
                file=out,
            )
            out.flush()
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
