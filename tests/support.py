"""Helpers shared by the tests: recognisable secrets, the environment that points bbvars at an emulator, and ways
to run bbvars both in-process (main(argv)) and as a real subprocess."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bbvars.bitbucket.client import RetryPolicy
from bbvars.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
# Recognisable secrets: any test may assert they never show up anywhere.
CLIENT_ID = "ci-client"
CLIENT_SECRET = "s3cr3t-CLIENT-7f3a9c"
FAST_RETRY = RetryPolicy(attempts=4, initial=0.01, max_wait=0.05, max_total=5.0)


AMBIENT_PREFIXES = ("BITBUCKET_", "BBVARS_", "INPUT_", "GITHUB_")  # what a CI runner (or a developer's shell) may have set
PIPE_VARIABLES = ("WORKSPACE", "REPOSITORY", "ENVIRONMENT", "VARIABLES", "SECURED", "DEBUG", "COMMAND", "DRY_RUN",
                  "PRUNE", "PREFIX", "UPPER", "CONCURRENCY", "TIMEOUT", "ALLOW_EMPTY", "MANIFEST", "TARGETS",
                  "FINGERPRINT", "EXIT_CODE", "MAX_DELETES", "PROTECT", "MAX_REQUESTS")  # the pipe's own variables


def ambient(name: str) -> bool:
    """Whether a variable of the test process's own environment could configure bbvars."""
    return name.startswith(AMBIENT_PREFIXES) or name in PIPE_VARIABLES


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that could configure bbvars (BITBUCKET_*, INPUT_*, GITHUB_*, the
    pipe's variables), plus `extra`: for a subprocess that must see only what the test gives it."""
    base = {k: v for k, v in os.environ.items() if not ambient(k)}
    base.update(extra)
    return base


def env_for(emu: Emulator, **extra: str) -> dict[str, str]:
    """A clean environment (see clean_env) pointing at the emulator with the recognisable consumer."""
    pointing = dict(BITBUCKET_API_URL=emu.api_url, BITBUCKET_TOKEN_URL=emu.token_url, BITBUCKET_CLIENT_ID=CLIENT_ID,
                    BITBUCKET_CLIENT_SECRET=CLIENT_SECRET)
    return clean_env(**{**pointing, **extra})


def use_env(monkeypatch, env: dict[str, str]) -> None:
    """Make this process's environment `env` for an in-process run: ambient variables removed, `env` set."""
    for key in [k for k in os.environ if ambient(k)]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


class FakeStdin(io.TextIOWrapper):
    """Standard input for in-process runs: `data` behind a real text wrapper (so .buffer works), a pipe by default,
    a terminal with tty=True."""

    def __init__(self, data: str | bytes = b"", tty: bool = False) -> None:
        super().__init__(io.BytesIO(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data))
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self):
        return json.loads(self.stdout)


def run_cli(args: list[str], *, env: dict[str, str], input: str | None = None, timeout: float = 60) -> Run:
    """bbvars as a user runs it: a real process."""
    proc = subprocess.run(
        [sys.executable, "-m", "bbvars", *args],
        input=input,
        # Without input, an empty stdin as CI gives, not whatever the test runner's own stdin is.
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def run_in_process(args: list[str], *, env: dict[str, str], input: str | bytes | None = None, timeout: int = 60,
                   binary: bool = False, cwd: str | Path | None = None) -> Run:
    """What run_cli checks, without a new interpreter (each costs half a second of CPU): `python -m bbvars`'s entry
    in this process with the environment exactly `env` (in `cwd` if given), standard input /dev/null or a real pipe holding `input`, and
    stdout/stderr captured as bytes and decoded as subprocess.run would (text: universal newlines; binary=True: as
    UTF-8, untouched). Signal handlers, the environment and the streams are restored afterwards. Signals, FIFOs,
    a terminal and the real exit of a process stay with run_cli."""
    import threading

    from bbvars.surfaces.cli.main import main

    if input is None:
        stdin = open(os.devnull, encoding="utf-8")
        writer = None
    else:
        data = input if isinstance(input, bytes) else input.encode("utf-8")
        read_fd, write_fd = os.pipe()

        def feed() -> None:
            with contextlib.suppress(BrokenPipeError), os.fdopen(write_fd, "wb") as pipe:
                pipe.write(data)

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        stdin = os.fdopen(read_fd, encoding="utf-8")
    out, err = io.BytesIO(), io.BytesIO()
    saved_env, saved_streams, saved_cwd = dict(os.environ), (sys.stdin, sys.stdout, sys.stderr), os.getcwd()
    saved_signals = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    # Held here, not only in sys: a wrapper dropped on restore would close its buffer before it is read.
    text_out = io.TextIOWrapper(out, encoding="utf-8", errors="strict", write_through=True)
    text_err = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True)
    sys.stdin, sys.stdout, sys.stderr = stdin, text_out, text_err
    os.environ.clear()
    os.environ.update(env)
    if cwd is not None:
        os.chdir(cwd)
    try:
        with deadline(timeout) if threading.current_thread() is threading.main_thread() else contextlib.nullcontext():
            try:
                code = main(args)
            except SystemExit as exc:  # what sys.exit(main()) would have ended the process with
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        text_out.flush()
        text_err.flush()
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        for signum, handler in saved_signals.items():
            signal.signal(signum, handler)
        stdin.close()
        if writer is not None:
            writer.join(timeout=5)

    def decode(raw: bytes) -> str:
        if binary:
            return raw.decode("utf-8")
        return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", newline=None).read()

    run = Run(code, decode(out.getvalue()), decode(err.getvalue()))
    text_out.detach()
    text_err.detach()
    return run


def run_main(args: list[str], *, env: dict[str, str], input: str = "", monkeypatch, capsys) -> Run:
    """bbvars in-process (so monkeypatched retry timings apply), with its real argv/env/stdin handling."""
    from bbvars.surfaces.cli.main import main

    use_env(monkeypatch, env)
    monkeypatch.setattr(sys, "stdin", FakeStdin(input))
    code = main(args)
    out, err = capsys.readouterr()
    return Run(code, out, err)


def stored(emu: Emulator, repository: str | None = "api", environment: str | None = None,
           workspace: str = "acme") -> dict[str, tuple[str, bool]]:
    """What the emulator holds in one target, {key: (value, secured)}; a duplicate key fails the test."""
    found = emu.variables(workspace, repository, environment)
    assert len({v["key"] for v in found}) == len(found), f"a duplicate key in {found}"
    return {v["key"]: (v["value"], v["secured"]) for v in found}


def api_writes(emu: Emulator, method: str | None = None) -> list:
    """The writes (POST/PUT/DELETE, or only `method`) bbvars sent to the API, token requests left out."""
    return [r for r in emu.requests if r.path.startswith("/2.0/") and r.method in ("POST", "PUT", "DELETE")
            and (method is None or r.method == method)]


def token_requests(emu: Emulator) -> list:
    """The requests to the token endpoint (first tokens and renewals)."""
    return [r for r in emu.requests if r.path == "/site/oauth2/access_token"]


def seed(emu: Emulator, values: dict[str, str], secured: bool = False, workspace: str = "acme", **where) -> None:
    """Create variables directly in the emulator (no request); by default in repository acme/api, else where
    `where` (repository=..., environment=...) says."""
    where = where or {"repository": "api"}
    for key, value in values.items():
        emu.seed_variable(workspace, key, value, secured=secured, **where)


# Recognisable credentials of the other kinds (Atlassian API tokens start with ATATT).
API_EMAIL = "dev@example.com"
API_TOKEN = "ATATT3xFfGF0-recognisable-api-token-5e1d"
ACCESS_TOKEN = "repo-access-token-recognisable-77c1"
LOGIN_CLIENT_ID = "login-client"
LOGIN_CLIENT_SECRET = "l0gin-SECRET-recognisable-91b2"
LOGIN_SCOPES = ("pipeline", "pipeline:variable", "account")


def free_port() -> int:
    """A port free right now on 127.0.0.1 (never login's default 8976, which a developer may be using)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def login_consumer(emu: Emulator, port: int | None = None) -> str:
    """A public consumer for the authorization-code flow whose callback is a free loopback port; its callback URL."""
    callback = f"http://127.0.0.1:{port or free_port()}/callback"
    emu.add_consumer(LOGIN_CLIENT_ID, LOGIN_CLIENT_SECRET, scopes=LOGIN_SCOPES, private=False, callback_url=callback)
    return callback


def login_env(emu: Emulator, **extra: str) -> dict[str, str]:
    return clean_env(BITBUCKET_API_URL=emu.api_url, BITBUCKET_TOKEN_URL=emu.token_url,
                     BITBUCKET_CLIENT_ID=LOGIN_CLIENT_ID, BITBUCKET_CLIENT_SECRET=LOGIN_CLIENT_SECRET, **extra)


def start_login(emu: Emulator, callback: str, *args: str, env: dict[str, str] | None = None):
    """`bbvars login --no-browser` as a real process, and the consent page URL it printed (None if it printed
    none: then it has exited)."""
    import re

    proc = subprocess.Popen([sys.executable, "-m", "bbvars", "login", "--no-browser", "--callback-url", callback,
                             *args], env=env or login_env(emu), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = proc.stderr.readline()  # returns "" if the process ends first, so this cannot hang
    found = re.search(r"(http://\S+/site/oauth2/authorize\S+)", first)
    return proc, (found.group(1) if found else None), first


def finish(proc, first_line: str = "", timeout: float = 60) -> Run:
    out, err = proc.communicate(timeout=timeout)
    return Run(proc.returncode, out, first_line + err)


def answer_consent(page_url: str, decision: str = "grant") -> str:
    """What a person does on the emulator's consent page, over HTTP: press a button, follow the redirect to the
    callback. Returns the callback URL the browser was sent to."""
    import re

    import httpx

    with httpx.Client(trust_env=False) as web:
        page = web.get(page_url)
        assert page.status_code == 200 and "Grant access" in page.text and "Cancel" in page.text, page.text
        form = dict(re.findall(r"name='(client_id|state)' value='([^']*)'", page.text))
        answer = web.post(page_url.split("?")[0], data={**form, "decision": decision})
        assert answer.status_code == 302, answer.text
        location = answer.headers["location"]
        web.get(location)
    return location


def log_in(emu: Emulator) -> Run:
    """A whole login over HTTP into this test's config directory."""
    callback = login_consumer(emu)
    proc, page, first = start_login(emu, callback)
    assert page, first
    answer_consent(page)
    return finish(proc, first)


class Hung(BaseException):
    """Raised by `deadline`: what the test ran waited (on a FIFO with no writer, say) instead of refusing."""


@contextlib.contextmanager
def deadline(seconds: int):
    """A block that waits longer than `seconds` fails the test instead of holding the suite (main thread only)."""
    def hung(signum, frame):
        raise Hung(f"still waiting after {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def sync_one(settings, variables, redactor=None, log=None, **kwargs):
    """A single-target sync as every surface runs one: the request built once (for_target), then engine.run."""
    from bbvars.redaction import Redactor
    from bbvars.request.run import for_target
    from bbvars.sync import engine

    redactor = redactor if redactor is not None else Redactor()
    return engine.run(for_target(settings, variables, redactor), redactor, log, **kwargs).targets[0]


def run_jobs(settings, jobs, redactor=None, log=None, **kwargs):
    """A run of many jobs with the run-wide settings: the request built once (request_of), then engine.run."""
    from bbvars.redaction import Redactor
    from bbvars.request.run import request_of
    from bbvars.sync import engine

    redactor = redactor if redactor is not None else Redactor()
    return engine.run(request_of(settings, jobs, redactor), redactor, log, **kwargs)
