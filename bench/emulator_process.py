"""The emulator in a child process, so the client under test and the server do not share one GIL.

`EmulatorProcess` exposes the parts of `bbvars.emulator.Emulator` the benchmark uses (urls, set-up helpers, the
request log); every call is forwarded over a pipe and runs in the child, on the real emulator object.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
from typing import Any


def _serve(conn: multiprocessing.connection.Connection, latency: float) -> None:
    from bbvars.emulator import Emulator

    emulator = Emulator(latency=latency).seed_demo()
    emulator.total_characters = None  # the scale runs (10,000 variables) go past Bitbucket's 120,000-character total
    emulator.start()
    conn.send((emulator.url, emulator.api_url, emulator.token_url))
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            kind, name, args, kwargs = message
            try:
                if kind == "set":
                    setattr(emulator, name, args[0])
                    result = None
                else:
                    attribute = getattr(emulator, name)
                    result = attribute(*args, **kwargs) if kind == "call" else attribute
                conn.send((True, result))
            except Exception as error:  # hand it back to the caller
                conn.send((False, error))
    finally:
        emulator.stop()


class EmulatorProcess:
    """A started demo `Emulator` (acme/api, Test/Staging/Production, demo-client/demo-secret) in a child process."""

    def __init__(self, latency: float = 0.0) -> None:
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no threads or state inherited
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, latency), name="bbvars-emulator", daemon=True)
        self._process.start()
        child.close()
        self.url, self.api_url, self.token_url = self._conn.recv()
        self.mode = "process"

    def _ask(self, kind: str, name: str, *args: Any, **kwargs: Any) -> Any:
        self._conn.send((kind, name, args, kwargs))
        ok, result = self._conn.recv()
        if not ok:
            raise result
        return result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: self._ask("call", name, *args, **kwargs)

    @property
    def requests(self) -> list:
        return self._ask("get", "requests")

    @property
    def latency(self) -> float:
        return self._ask("get", "latency")

    @latency.setter
    def latency(self, value: float) -> None:
        self._ask("set", "latency", value)

    @property
    def hourly_limit(self) -> int | None:
        return self._ask("get", "hourly_limit")

    @hourly_limit.setter
    def hourly_limit(self, value: int | None) -> None:
        self._ask("set", "hourly_limit", value)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def stop(self) -> None:
        if self._process.is_alive():
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._process.join(5)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)
        self._conn.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class InProcessEmulator:
    """The same interface over an `Emulator` running on a thread of this process."""

    def __init__(self, latency: float = 0.0) -> None:
        from bbvars.emulator import Emulator

        self._emulator = Emulator(latency=latency).seed_demo()
        self._emulator.total_characters = None  # as in _serve: the scale runs go past Bitbucket's total
        self._emulator.start()
        self.url, self.api_url, self.token_url = self._emulator.url, self._emulator.api_url, self._emulator.token_url
        self.mode = "in-process"
        self.pid = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._emulator, name)

    @property
    def latency(self) -> float:
        return self._emulator.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self._emulator.latency = value

    @property
    def hourly_limit(self) -> int | None:
        return self._emulator.hourly_limit

    @hourly_limit.setter
    def hourly_limit(self, value: int | None) -> None:
        self._emulator.hourly_limit = value

    def stop(self) -> None:
        self._emulator.stop()

    def __enter__(self) -> InProcessEmulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(mode: str, latency: float) -> EmulatorProcess | InProcessEmulator:
    if mode == "process":
        return EmulatorProcess(latency)
    if mode == "in-process":
        return InProcessEmulator(latency)
    raise ValueError(f"emulator mode must be process or in-process, got {mode!r}")
