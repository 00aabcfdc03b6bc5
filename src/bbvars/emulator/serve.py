"""`bbvars emulator`: run a demo emulator in the foreground until interrupted."""

from __future__ import annotations

import shlex
import signal
import threading
from collections.abc import Callable
from typing import TextIO

from bbvars.emulator.emulator import (
    DEMO_CLIENT_SECRET,
    DEMO_ENVIRONMENTS,
    DEMO_REPOSITORY,
    DEMO_WORKSPACE,
    Emulator,
)


class StartError(Exception):
    """The emulator could not start listening (port in use, an address not of this machine, ...)."""

    def __init__(self, host: str, port: int, error: OSError):
        super().__init__(f"{host}:{port}: {error}")
        self.host, self.port, self.error = host, port, error


def serve(
    host: str,
    port: int,
    latency: float,
    client_id: str,
    client_secret: str,
    out: TextIO,
    *,
    stop: threading.Event | None = None,
    configure: Callable[[Emulator], None] | None = None,
) -> int:
    """Serve the demo data with the given consumer until Ctrl-C, SIGTERM or `stop` is set; returns 0.

    `configure` gets the seeded emulator before it starts (to set token_ttl, inject faults, ...). Prints where it
    listens and what to export, but never a secret the user chose: only the public demo default.
    """
    emulator = Emulator.demo(host=host, port=port, latency=latency, client_id=client_id, client_secret=client_secret)
    if configure is not None:
        configure(emulator)
    stopped = stop if stop is not None else threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stopped.set())
    try:
        emulator.start()
    except OSError as exc:  # before anything is printed: the caller makes it one line
        raise StartError(host, port, exc) from None
    try:
        with emulator:
            exports = f"BITBUCKET_API_URL={emulator.api_url} BITBUCKET_TOKEN_URL={emulator.token_url} "
            exports += f"BITBUCKET_CLIENT_ID={shlex.quote(client_id)}"
            # The URLs name loopback (what a client on this machine uses); a wildcard bind is said, not hidden.
            everywhere = {"": "IPv4", "0.0.0.0": "IPv4", "::": "IPv6 (and IPv4)"}.get(host)
            listening = (f"  (listening on {host or '0.0.0.0'} port {emulator.port}: every {everywhere} address of "
                         "this machine, not only loopback; anyone who can reach it can use it)") if everywhere else ""
            print(f"bbvars emulator: API {emulator.api_url}  token {emulator.token_url}{listening}", file=out)
            if client_secret == DEMO_CLIENT_SECRET:  # the public demo default; a chosen secret is never printed
                print(f"export {exports} BITBUCKET_CLIENT_SECRET={DEMO_CLIENT_SECRET}", file=out)
            else:
                print(f"export {exports}", file=out)
                print("BITBUCKET_CLIENT_SECRET: the secret the emulator was started with (not printed)", file=out)
            print(
                f"seeded: workspace {DEMO_WORKSPACE}, repository {DEMO_REPOSITORY}, "
                f"environments {', '.join(DEMO_ENVIRONMENTS)}; Ctrl-C to stop",
                file=out,
            )
            out.flush()
            stopped.wait()
    except KeyboardInterrupt:  # anywhere above: Ctrl-C can come as soon as the lines are out
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0
