"""`bbvars emulator`: a local in-memory Bitbucket API, to try bbvars (or a pipeline script) offline."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys

from bbvars.errors import BbvarsError, InputError
from bbvars.redaction import Redactor


def fault_spec(text: str) -> tuple[int, int]:
    status, _, times = text.partition(":")
    try:
        code, count = int(status), int(times or "1")
    except ValueError:
        raise InputError(f"--fault takes STATUS[:TIMES], e.g. 429:3, got {text!r}") from None
    if not 400 <= code <= 599 or count < 1:
        raise InputError(f"--fault takes an HTTP error status (400-599) and a positive count, got {text!r}")
    return code, count


def quirk_spec(text: str) -> str:
    from bbvars.emulator import Emulator

    try:
        Emulator().quirk(text)  # only checks it; the served emulator gets it in run()
    except ValueError as exc:
        raise InputError(f"--quirk takes {', '.join(Emulator.QUIRKS)}: {exc}") from None
    return text


def rate_spec(text: str) -> int:
    from bbvars.emulator.ratelimit import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise InputError(f"--rate-limit takes requests per hour, e.g. 1000/h, got {text[:40]!r}: {exc}") from None


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise InputError(f"--port takes a number from 0 to 65535, got {text[:20]!r}") from None
    if not 0 <= port <= 65535:
        raise InputError(f"--port takes a number from 0 to 65535 (0 = any free port), got {port}")
    return port


def start_failure(exc) -> BbvarsError:
    """One line for each way listening can fail; a bad --host is bad input, the rest is the machine's state."""
    error, where = exc.error, f"{exc.host}:{exc.port}"
    if isinstance(error, socket.gaierror):
        return InputError(f"--host {exc.host[:80]!r} is not an address this machine can resolve: use 127.0.0.1 "
                          "(the default) or ::1")
    if error.errno == errno.EADDRINUSE:
        return BbvarsError(f"port {exc.port} on {exc.host} is in use: stop what listens there, or pick another "
                           "--port (0 = any free one)")
    if error.errno == errno.EADDRNOTAVAIL:
        return InputError(f"--host {exc.host[:80]} is not an address of this machine: use 127.0.0.1 (the default) "
                          "or ::1")
    if error.errno == errno.EACCES:
        return BbvarsError(f"listening on {where} is not permitted (ports below 1024 need privileges): pick "
                           "another --port")
    return BbvarsError(f"the emulator cannot listen on {where} ({error.strerror or error}): check --host and --port")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=port_number, default=7990,
                        help="port to listen on, 0 = any free (default: 7990)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer (default: 0)")
    parser.add_argument("--fault", type=fault_spec, action="append", default=[], metavar="STATUS[:TIMES]",
                        help="answer the next TIMES API requests with STATUS, e.g. 429:3 or 503; repeatable")
    parser.add_argument("--token-ttl", type=float, default=7200, help="token lifetime in seconds (default: 7200)")
    parser.add_argument("--quirk", type=quirk_spec, action="append", default=[], metavar="QUIRK",
                        help="misbehave as Bitbucket can: lag=SECONDS (listings trail writes), nonext (no next "
                             "links), nosize (no size); repeatable")
    parser.add_argument("--rate-limit", type=rate_spec, default=None, metavar="N/h",
                        help="allow each credential N API requests per rolling hour, then answer 429 as Bitbucket "
                             "does (Bitbucket's: 1000/h); default: no limit")
    seeding = parser.add_argument_group(
        "seeding", "what the emulator holds besides the demo data (workspace acme, repository api, environments "
        "Test/Staging/Production): what exists already is kept")
    seeding.add_argument("--seed", action="append", default=[], metavar="PATH",
                         help="a YAML or JSON file of workspaces, repositories, environments and variables (see "
                              "examples/manifest/seed.yml); repeatable")
    seeding.add_argument("--workspace", action="append", default=[], metavar="W", dest="seed_workspaces",
                         help="add a workspace; repeatable")
    seeding.add_argument("--repository", action="append", default=[], metavar="W/R", dest="seed_repositories",
                         help="add a repository, e.g. acme/web; repeatable")
    seeding.add_argument("--environment", action="append", default=[], metavar="W/R/E", dest="seed_environments",
                         help="add a deployment environment, e.g. acme/web/Production; repeatable")
    seeding.add_argument("--variable", action="append", default=[], metavar="W[/R[/E]]:KEY=VALUE",
                         dest="seed_variables", help="add a plain variable, e.g. acme/web:CDN_URL=https://cdn.example"
                                                     ".com; repeatable")
    parser.epilog = ("The consumer it accepts is BITBUCKET_CLIENT_ID / BITBUCKET_CLIENT_SECRET when set, else the "
                     "public demo pair demo-client / demo-secret.")


def read_seed(path: str) -> object:
    import yaml  # only with --seed: the emulator starts fast without it

    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise InputError(f"cannot read --seed {path[:200]}: {exc.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"--seed {path[:200]} is not YAML or JSON{where}: check its syntax") from None


def seeds(args: argparse.Namespace) -> list[tuple[str, object]]:
    """(source, seed) for every --seed file, then the seeding flags as one more: read and checked before serving."""
    from bbvars.emulator.seed import SeedError, from_flags

    found = [(path, read_seed(path)) for path in args.seed]
    try:
        flags = from_flags(args.seed_workspaces, args.seed_repositories, args.seed_environments, args.seed_variables)
    except SeedError as exc:
        raise InputError(str(exc)) from None
    if flags["workspaces"]:
        found.append(("the seeding flags", flags))
    return found


def seeded_text(found: list[tuple[str, object]]) -> str | None:
    return f"; plus {' and '.join(source for source, _ in found)}" if found else None


def run(args: argparse.Namespace, redactor: Redactor) -> int:
    from bbvars.emulator import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, Emulator, Fault, serve
    from bbvars.emulator.seed import SeedError, apply
    from bbvars.emulator.serve import StartError

    found = seeds(args)
    for source, seed in found:  # every seed tried on a scratch emulator first: a bad one is exit 2, nothing served
        try:
            apply(Emulator.demo(), seed, source)
        except SeedError as exc:
            raise InputError(str(exc)) from None

    client_id = os.environ.get("BITBUCKET_CLIENT_ID") or DEMO_CLIENT_ID
    client_secret = os.environ.get("BITBUCKET_CLIENT_SECRET") or DEMO_CLIENT_SECRET
    redactor.add(client_secret if client_secret != DEMO_CLIENT_SECRET else None)

    def configure(emulator) -> None:
        emulator.token_ttl = args.token_ttl
        emulator.hourly_limit = args.rate_limit
        for source, seed in found:
            apply(emulator, seed, source)
        for quirk in args.quirk:
            emulator.quirk(quirk)
        for status, times in args.fault:
            emulator.inject(Fault(path="^/2.0/", status=status, times=times))

    try:
        return serve(args.host, args.port, args.latency, client_id, client_secret, sys.stderr, configure=configure,
                     seeded=seeded_text(found))
    except StartError as exc:
        raise start_failure(exc) from None
