"""No secret ever leaks, from any surface, in any mode.

Every command of every surface (CLI sync and token, Terraform sync and token, pipe sync, action sync and token) runs
as a real process against the emulator, in a fresh working directory and HOME, in each mode: normal, debug, with an
access token, with a token expiring mid-run, as a dry run, pruning, and failing in several ways (wrong consumer
secret, a missing scope, a fatal 503 after retries, bad input, and Bitbucket error texts that echo every secret: a 400
on one write, a fatal 403, a 401 echoing the access token, token endpoint errors, and echoes long enough to be cut
short inside a secret). The run is given recognisable secrets: the consumer secret, a static access token, secured
values (a sensitive Terraform output, a multi-line one, a long one, a key named as secured, a secured --var), and the
tokens the emulator mints during the run are read back from its state. None of them may appear, in any encoding, on
stdout, stderr, in GITHUB_OUTPUT, the step summary, the pipe's result.json or any other file the run leaves behind.
The exceptions are the product itself (the access_token of a token command, exactly once, where it is the answer) and
GitHub's `::add-mask::` lines, which the runner consumes; those must come before anything else is printed."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import yaml

from bbvars.emulator import Emulator, Fault
from bbvars.request.settings import BY_NAME
from tests.support import API_EMAIL, API_TOKEN, CLIENT_ID, CLIENT_SECRET, ROOT, api_writes, clean_env, env_for

# -- the recognisable secrets ---------------------------------------------------------------------------------------

ACCESS_TOKEN = "atok-RECOGNISABLE-5b1e7c0d9a"  # a repository access token (BITBUCKET_ACCESS_TOKEN)
PASSWORD = "pw-Sensitive-Output-3c9d1e"  # a sensitive Terraform output
CERTIFICATE = "-----BEGIN TEST KEY-----\nline-One-Cert-8a7b\nline-Two-Cert-6c5d\n-----END TEST KEY-----"  # multi-line
API_KEY = "key-Secured%Input-8e2f4a"  # secured by naming its key (a % too: GitHub's workflow commands escape it)
VAR_SECRET = "var-Secured-Pair-6d0b2f"  # the CLI's secured --var
LONG_SECRET = "eyJhbGciOiJSUzI1NiJ9.RECOGNISABLE-long-Sensitive-Output." + "0123456789abcdef" * 4  # a JWT-like one
# Characters JSON and URLs escape: a server echoing the request body shows it as "tricky\"Quote\\Back\tTab-\u00e9".
TRICKY = 'tricky"Quote\\Back\tTab-é/&+ sp-4e7a'
WRONG_CLIENT_ID = "other-client"  # a consumer whose real secret is not CLIENT_SECRET
READER_CLIENT_ID = "reader-client"  # a consumer with CLIENT_SECRET but only the scope `pipeline`

DOCUMENT = {  # `terraform output -json`
    "db_host": {"sensitive": False, "type": "string", "value": "db.internal"},
    "db_password": {"sensitive": True, "type": "string", "value": PASSWORD},
    "tls_key": {"sensitive": True, "type": "string", "value": CERTIFICATE},
    "api_key": {"sensitive": False, "type": "string", "value": API_KEY},
    "signing_jwt": {"sensitive": True, "type": "string", "value": LONG_SECRET},
    "tricky_secret": {"sensitive": True, "type": "string", "value": TRICKY},
}
# The same, with a key Bitbucket refuses (found after the secured values were read, before they are known secured).
BAD_DOCUMENT = {**DOCUMENT, "db-user": {"sensitive": False, "type": "string", "value": "admin"}}
SECURED_VALUES = {"sensitive output": PASSWORD, "multi-line sensitive output": CERTIFICATE,
                  "secured key": API_KEY, "long sensitive output": LONG_SECRET, "escaped sensitive output": TRICKY}

STALE = "STALE_KEY"  # in the target before a run with prune, not in the input
TOKEN_PATH = r"^/site/oauth2/access_token$"
LIST_OR_CREATE = r"/pipelines_config/variables/?$"


def error_body(message: str) -> str:
    return json.dumps({"type": "error", "error": {"message": message}})


def minted(emu: Emulator) -> list[str]:
    """Every token the emulator issued, in order (static access tokens never expire, minted ones do)."""
    return emu.minted_tokens()


# -- the modes ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mode:
    name: str
    commands: tuple[str, ...]  # sync, token
    debug: bool = False
    credentials: str = "consumer"  # consumer | wrong-secret | reader | access-token
    faults: Callable[[Emulator, str], list[Fault]] | None = None  # (emulator, surface-command) -> faults
    bad_input: str | None = None  # input (sync: a refused key; token: timeout 0) | var-typo | secret-query
    surfaces: tuple[str, ...] = ("cli", "terraform", "pipe", "action")
    exit: dict[str, int] = field(default_factory=lambda: {"sync": 0, "token": 0})
    options: tuple[str, ...] = ()  # boolean settings turned on, by name: dry_run, prune (the target then holds STALE)
    manifest: bool = False  # sync through a manifest (MANIFEST_TEXT) whose source is the document, not one target


def echo_every_secret(emu: Emulator, case: str, status: int = 400) -> list[Fault]:
    """An error (400) on one create whose message echoes every secret the run holds, the minted token included (read
    when the request arrives): only the redaction safety net stands between it and the output."""
    fault = Fault(method="POST", path=LIST_OR_CREATE, status=status, times=1)
    pair = VAR_SECRET if case == "cli-sync" else ""

    def fill(emulator: Emulator) -> None:
        held = " ".join(minted(emulator))
        fault.body = error_body(f"bad value {PASSWORD} {CERTIFICATE} {API_KEY} {pair} {CLIENT_SECRET} {held}")

    fault.action = fill
    return [fault]


def fatal_403_echoing_every_secret(emu: Emulator, case: str) -> list[Fault]:
    """The same echo in a 403 without scope detail: fatal, so it stops the run and becomes its error."""
    return echo_every_secret(emu, case, status=403)


def echo_cut_short(emu: Emulator, case: str) -> list[Fault]:
    """Long messages are cut short: here the cut falls inside the echoed secured value (at 300 characters)."""
    message = "v" * 270 + " " + LONG_SECRET + " and more"
    return [Fault(method="POST", path=LIST_OR_CREATE, status=400, times=1, body=error_body(message))]


def token_error_cut_short(emu: Emulator, case: str) -> list[Fault]:
    """The token endpoint's error_description is cut at 200 characters: here inside the echoed secret."""
    description = "d" * 168 + " " + CLIENT_SECRET + " and more"
    body = json.dumps({"error": "invalid_request", "error_description": description})
    return [Fault(method="POST", path=TOKEN_PATH, status=400, times=1, body=body)]


def token_error_echoing_the_secret(emu: Emulator, case: str) -> list[Fault]:
    body = json.dumps({"error": "invalid_request", "error_description": f"malformed client secret {CLIENT_SECRET}"})
    return [Fault(method="POST", path=TOKEN_PATH, status=400, times=1, body=body)]


def echo_the_api_token(emu: Emulator, case: str) -> list[Fault]:
    """A 400 on one create whose message echoes the API token raw and in its Basic header form."""
    basic = base64.b64encode(f"{API_EMAIL}:{API_TOKEN}".encode()).decode()
    return [Fault(method="POST", path=LIST_OR_CREATE, status=400, times=1,
                  body=error_body(f"bad request from {API_TOKEN} (Authorization: Basic {basic})"))]


def echo_encoded_forms(emu: Emulator, case: str) -> list[Fault]:
    """A 400 whose message echoes the request body (so each secured value JSON-escaped, `ensure_ascii` and not) and
    a query string (URL-encoded), as a server or proxy in between may."""
    secrets = [TRICKY, PASSWORD, CERTIFICATE, API_KEY, CLIENT_SECRET] + ([VAR_SECRET] if case == "cli-sync" else [])
    body = json.dumps({"values": secrets}) + " " + json.dumps(secrets, ensure_ascii=False)
    query = " ".join(f"{quote(secret, safe='')} {quote_plus(secret)}" for secret in secrets)
    return [Fault(method="POST", path=LIST_OR_CREATE, status=400, times=1,
                  body=error_body(f"invalid body {body} for ?{query}"))]


def token_error_echoing_the_basic_header(emu: Emulator, case: str) -> list[Fault]:
    """The token endpoint echoes the Authorization header it got: the base64 of client_id:client_secret."""
    header = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    body = json.dumps({"error": "invalid_request", "error_description": f"bad header Authorization: Basic {header}"})
    return [Fault(method="POST", path=TOKEN_PATH, status=400, times=1, body=body)]


def fatal_503(emu: Emulator, case: str) -> list[Fault]:
    """Every attempt at the list (sync) or the token (token) answered 503, Retry-After: 0 keeping the six attempts
    fast; the body echoes secrets too."""
    body = error_body(f"unavailable {CLIENT_SECRET} {PASSWORD}")
    method, path = ("POST", TOKEN_PATH) if case.endswith("-token") else ("GET", LIST_OR_CREATE)
    return [Fault(method=method, path=path, status=503, times=-1, body=body, headers={"Retry-After": "0"})]


def one_503_each(emu: Emulator, case: str) -> list[Fault]:
    """For debug: one retried 503 on the token and on the list, so the retry log lines are written too."""
    return [Fault(method="POST", path=TOKEN_PATH, status=503, times=1, headers={"Retry-After": "0"}),
            Fault(method="GET", path=LIST_OR_CREATE, status=503, times=1, headers={"Retry-After": "0"})]


def expire_mid_run(emu: Emulator, case: str) -> list[Fault]:
    return [Fault(method="POST", path=LIST_OR_CREATE, times=1, action=lambda e: e.expire_tokens())]


def access_token_rejected(emu: Emulator, case: str) -> list[Fault]:
    return [Fault(method="GET", path=LIST_OR_CREATE, status=401, times=1,
                  body=error_body(f"Token {ACCESS_TOKEN} is invalid or not supported for this endpoint."))]


BOTH = ("sync", "token")
MODES = [
    Mode("normal", BOTH),
    Mode("debug", BOTH, debug=True, faults=one_503_each, surfaces=("cli", "pipe", "action")),
    # An access token is for syncing; the token command refuses it (exit 2) without echoing it.
    Mode("access-token", BOTH, credentials="access-token", exit={"sync": 0, "token": 2}),
    Mode("access-token-debug", BOTH, debug=True, credentials="access-token", exit={"sync": 0, "token": 2},
         surfaces=("cli", "pipe", "action")),
    Mode("fail-wrong-secret", BOTH, credentials="wrong-secret", exit={"sync": 1, "token": 1}),
    Mode("fail-400-echoing-secrets", ("sync",), faults=echo_every_secret, exit={"sync": 1}),
    Mode("fail-403-echoing-secrets", ("sync",), faults=fatal_403_echoing_every_secret, exit={"sync": 1}),
    Mode("fail-400-echo-cut-short", ("sync",), faults=echo_cut_short, exit={"sync": 1}),
    Mode("fail-400-echoing-encoded-forms", ("sync",), faults=echo_encoded_forms, exit={"sync": 1}),
    Mode("fail-token-endpoint-echoing-basic-header", BOTH, faults=token_error_echoing_the_basic_header,
         exit={"sync": 1, "token": 1}),
    Mode("fail-token-endpoint-echo-cut-short", BOTH, faults=token_error_cut_short, exit={"sync": 1, "token": 1}),
    Mode("fail-token-endpoint-echoing-secret", BOTH, faults=token_error_echoing_the_secret,
         exit={"sync": 1, "token": 1}),
    Mode("fail-scope-403", ("sync",), credentials="reader", exit={"sync": 1}),
    Mode("fail-503-fatal", BOTH, faults=fatal_503, exit={"sync": 1, "token": 1}),
    Mode("token-expires-mid-run", ("sync",), faults=expire_mid_run),  # renewed: the run succeeds
    # Reporting what would change (a delete included) instead of doing it, and deleting what the input lacks.
    Mode("dry-run", ("sync",), options=("dry_run", "prune")),
    Mode("prune", ("sync",), options=("prune",)),
    Mode("dry-run-debug", ("sync",), debug=True, options=("dry_run",), surfaces=("cli", "pipe", "action")),
    Mode("fail-401-echoing-access-token", ("sync",), credentials="access-token", faults=access_token_rejected,
         exit={"sync": 1}),
    Mode("fail-bad-input", BOTH, bad_input="input", exit={"sync": 2, "token": 2}),
    # An Atlassian API token (HTTP Basic email:token on every call): the token command refuses it (exit 2).
    Mode("api-token", BOTH, credentials="api-token", exit={"sync": 0, "token": 2}),
    Mode("api-token-debug", ("sync",), debug=True, credentials="api-token", surfaces=("cli", "pipe", "action")),
    Mode("fail-400-echoing-the-api-token", ("sync",), credentials="api-token", faults=echo_the_api_token,
         exit={"sync": 1}),
    # The typo `--var KEY:value` (meant KEY=value, named by --secured): the value must not be echoed.
    Mode("fail-var-typo", ("sync",), bad_input="var-typo", surfaces=("cli",), exit={"sync": 2}),
    # A query giving client_secret as a number: Terraform's type error must not echo it.
    Mode("fail-secret-not-a-string", BOTH, bad_input="secret-query", surfaces=("terraform",),
         exit={"sync": 2, "token": 2}),
    # Through a manifest: the document as a source feeding two targets, and a secured literal variable.
    *(Mode(f"manifest-{mode.name}", ("sync",), debug=mode.debug, credentials=mode.credentials, faults=mode.faults,
           bad_input=mode.bad_input, surfaces=("cli", "pipe", "action"), exit={"sync": mode.exit["sync"]},
           manifest=True)
      for mode in (Mode("normal", BOTH), Mode("debug", BOTH, debug=True, faults=one_503_each),
                   Mode("fail-wrong-secret", BOTH, credentials="wrong-secret", exit={"sync": 1}),
                   Mode("fail-400-echoing-secrets", BOTH, faults=echo_every_secret, exit={"sync": 1}),
                   Mode("fail-bad-input", BOTH, bad_input="input", exit={"sync": 2}))),
]
MANIFEST_SECRET = "lit-Secured-Manifest-2f9a7e"  # a literal variable of the manifest, named as secured
MANIFEST_TEXT = f"""\
version: 1
workspace: acme
sources: {{infra: {{file: outputs.json}}}}
targets:
  - repository: api
    from: infra
    secured: [api_key, MANIFEST_TOKEN]
    variables: {{MANIFEST_TOKEN: {MANIFEST_SECRET}}}
  - from: infra
    include: [db_password, tls_key]
"""
NUMERIC_SECRET = 86753091122334455  # the client secret of fail-secret-not-a-string, given as a JSON number

SURFACE_COMMANDS = [("cli", "sync"), ("cli", "token"), ("terraform", "sync"), ("terraform", "token"),
                    ("pipe", "sync"), ("action", "sync"), ("action", "token")]


@dataclass(frozen=True)
class Case:
    surface: str
    command: str
    mode: Mode

    @property
    def id(self) -> str:
        return f"{self.surface}-{self.command}-{self.mode.name}"


CASES = [Case(surface, command, mode) for mode in MODES for surface, command in SURFACE_COMMANDS
         if surface in mode.surfaces and command in mode.commands]


# -- running a surface --------------------------------------------------------------------------------------------


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str
    files: dict[str, str]  # every file left under the run's directory (cwd, HOME, TMPDIR, CI files), by path


@dataclass
class Given:
    """What the run was given: the environment and stdin, and the secrets among it, by name."""

    env: dict[str, str]
    args: list[str]
    stdin: str
    secrets: dict[str, str]
    consumer: tuple[str, str] | None  # (client id, secret) the run authenticates with, for the Basic header's form
    inputs: frozenset[str] = frozenset()  # files the test wrote for the run to read (a manifest and its source)


def credentials_for(mode: Mode) -> tuple[dict[str, str], dict[str, str], tuple[str, str] | None]:
    """(settings, secrets) for the mode's credentials; settings by name: client_id, client_secret, access_token."""
    if mode.credentials == "access-token":
        return {"access_token": ACCESS_TOKEN}, {"access token": ACCESS_TOKEN}, None
    if mode.credentials == "api-token":
        return ({"atlassian_account_email": API_EMAIL, "atlassian_api_token": API_TOKEN}, {"api token": API_TOKEN},
                (API_EMAIL, API_TOKEN))
    client_id = {"consumer": CLIENT_ID, "wrong-secret": WRONG_CLIENT_ID, "reader": READER_CLIENT_ID}[mode.credentials]
    return ({"client_id": client_id, "client_secret": CLIENT_SECRET}, {"client secret": CLIENT_SECRET},
            (client_id, CLIENT_SECRET))


def prepare(case: Case, emu: Emulator, workdir: Path) -> Given:
    mode = case.mode
    emu.add_access_token(ACCESS_TOKEN)
    emu.add_api_token(API_EMAIL, API_TOKEN)
    emu.add_consumer(WRONG_CLIENT_ID, "s3cr3t-the-REAL-one-0000")
    emu.add_consumer(READER_CLIENT_ID, CLIENT_SECRET, scopes=("pipeline",))
    for fault in (mode.faults(emu, f"{case.surface}-{case.command}") if mode.faults else []):
        emu.inject(fault)
    credentials, secrets, consumer = credentials_for(mode)
    syncing = case.command == "sync"
    if syncing:
        secrets.update(SECURED_VALUES)
    document = json.dumps(BAD_DOCUMENT if mode.bad_input == "input" else DOCUMENT)
    # The plain settings, by setting name; each surface spells them its own way below.
    plain = {"workspace": "acme", "repository": "api", "secured": "api_key", "timeout": "5"} if syncing else {
        "timeout": "5"}
    if mode.bad_input == "input" and not syncing:
        plain["timeout"] = "0"
    if syncing:
        plain.update({name: "true" for name in mode.options})
    if "prune" in mode.options:
        emu.seed_variable("acme", STALE, "stale value", repository="api")
    if mode.manifest:  # the targets, the secured key and the document are the manifest's
        plain = {"timeout": "5", "manifest": "bbvars.yml", **{name: "true" for name in mode.options}}

    for name in ("home", "tmp", "cwd", "ci"):
        (workdir / name).mkdir()
    env = env_for(emu, HOME=str(workdir / "home"), TMPDIR=str(workdir / "tmp"), PYTHONDONTWRITEBYTECODE="1")
    del env["BITBUCKET_CLIENT_ID"], env["BITBUCKET_CLIENT_SECRET"]
    args: list[str] = []
    stdin = ""

    inputs: frozenset[str] = frozenset()
    if mode.manifest:
        (workdir / "cwd" / "outputs.json").write_text(document)
        (workdir / "cwd" / "bbvars.yml").write_text(MANIFEST_TEXT)
        inputs = frozenset({"cwd/outputs.json", "cwd/bbvars.yml"})
        secrets["secured literal of the manifest"] = MANIFEST_SECRET

    if case.surface == "cli":
        env.update({BY_NAME[name].env: value for name, value in credentials.items()})
        args = [case.command, "--timeout", plain["timeout"]] + (["--debug"] if mode.debug else [])
        if mode.manifest:
            args += ["--manifest", "bbvars.yml"] + [f"--{name.replace('_', '-')}" for name in mode.options]
        elif syncing:
            stdin = document
            pair = f"CLI_TOKEN{':' if mode.bad_input == 'var-typo' else '='}{VAR_SECRET}"
            args += ["-f", "-", "-w", "acme", "-r", "api", "--secured", "api_key", "--secured", "CLI_TOKEN",
                     "--var", pair] + [f"--{name.replace('_', '-')}" for name in mode.options]
            secrets["secured --var"] = VAR_SECRET
    elif case.surface == "terraform":
        env.update({BY_NAME[name].env: value for name, value in credentials.items()})
        query = dict(plain, command=case.command)
        if syncing:
            query["variables"] = document
        args = ["terraform"]
        stdin = json.dumps(query)
        if mode.bad_input == "secret-query":
            query.update(client_id=CLIENT_ID, client_secret=NUMERIC_SECRET)  # type: ignore[arg-type]
            stdin = json.dumps(query)
            secrets["client secret given as a number"] = str(NUMERIC_SECRET)
    elif case.surface == "pipe":
        env.update({BY_NAME[name].env: value for name, value in credentials.items()})
        env.update({name.upper(): value for name, value in plain.items()},
                   BITBUCKET_PIPE_STORAGE_DIR=str(workdir / "ci" / "pipe-storage"))
        if not mode.manifest:
            env["VARIABLES"] = document
        if mode.debug:
            env["DEBUG"] = "true"
        args = ["pipe"]
    else:  # action: every input of action.yml, as the runner passes them to a Docker action
        action_inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
        given = {**plain, **credentials, "command": case.command, "debug": "true" if mode.debug else "false"}
        if syncing and not mode.manifest:
            given["variables"] = document
        for name, spec in action_inputs.items():
            env[f"INPUT_{name.upper()}"] = str(given.pop(name, spec.get("default", "")))
        assert not given, given
        for name in ("output", "summary"):
            (workdir / "ci" / name).touch()
        env.update(GITHUB_OUTPUT=str(workdir / "ci" / "output"), GITHUB_STEP_SUMMARY=str(workdir / "ci" / "summary"))
        args = ["action"]
    return Given(env, args, stdin, secrets, consumer, inputs)


def run(given: Given, workdir: Path) -> Ran:
    proc = subprocess.run([sys.executable, "-m", "bbvars", *given.args], input=given.stdin, capture_output=True,
                          text=True, env=given.env, cwd=workdir / "cwd", timeout=60)
    files = {str(path.relative_to(workdir)): path.read_text(errors="replace")
             for path in sorted(workdir.rglob("*")) if path.is_file()
             and str(path.relative_to(workdir)) not in given.inputs}
    return Ran(proc.returncode, proc.stdout, proc.stderr, files)


# -- finding a secret -----------------------------------------------------------------------------------------------


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def forms(secret: str, consumer: tuple[str, str] | None = None) -> set[str]:
    """The secret as it could show up: raw, JSON/URL/workflow-command escaped, whitespace-collapsed, each line of a
    multi-line one, its first 12 characters (what a message cut short would leave); for the consumer secret also the
    Basic authorization header."""
    plain = {secret, " ".join(secret.split())}
    if "\n" in secret:
        plain |= {line.strip() for line in secret.splitlines() if len(line.strip()) >= 8}
    found = set(plain) | {base64.b64encode(secret.encode()).decode()}
    for form in plain:  # each as JSON, a repr, URL-encoded and workflow-command escaped
        found |= {json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1], repr(form)[1:-1],
                  quote(form, safe=""), quote(form), quote_plus(form), escape_data(form)}
    if len(secret) >= 16:
        found.add(secret[:12])
    if consumer and consumer[1] == secret:
        found.add(base64.b64encode(f"{consumer[0]}:{secret}".encode()).decode())
    return {form for form in found if form}


def leaks(text: str, secrets: dict[str, str], consumer) -> list[str]:
    """Each place a secret shows in `text`, as `name: ...context...` with the secret replaced by <name>."""
    found = []
    for name, secret in secrets.items():
        for form in sorted(forms(secret, consumer), key=len, reverse=True):
            at = text.find(form)
            if at >= 0:
                context = text[max(0, at - 80): at + len(form) + 80].replace(form, f"<{name}>")
                found.append(f"{name} as {form[:12]!r}...: {context!r}")
                break
    return found


def parse_heredocs(text: str) -> tuple[dict[str, str], list[str]]:
    """GITHUB_OUTPUT's `name<<delimiter` blocks, and any line outside one (there should be none)."""
    lines, found, stray = text.split("\n"), {}, []
    while lines:
        line = lines.pop(0)
        name, sep, delimiter = line.partition("<<")
        if not sep or delimiter not in lines:
            stray.append(line)
            continue
        end = lines.index(delimiter)
        found[name] = "\n".join(lines[:end])
        del lines[: end + 1]
    return found, [line for line in stray if line]


# -- the checks ---------------------------------------------------------------------------------------------------


ALLOWED_FILES = {
    "cli": set(),
    "terraform": set(),
    "pipe": {"ci/pipe-storage/result.json"},
    "action": {"ci/output", "ci/summary"},
}


def assert_no_leak(case: Case, given: Given, ran: Ran, emu: Emulator) -> None:
    tokens = minted(emu)
    secrets = dict(given.secrets)
    secrets.update({f"minted token #{i + 1}": token for i, token in enumerate(tokens)})
    places: dict[str, str] = {"stderr": ran.stderr}
    stdout = ran.stdout
    files = dict(ran.files)

    if case.command == "token" and ran.code == 0:
        # The token is the product: allowed exactly once, where the command answers it, and nowhere else.
        assert len(tokens) == 1, tokens
        if case.surface in ("cli", "terraform"):
            answer = json.loads(stdout)
            assert answer["access_token"] == tokens[0] and stdout.count(tokens[0]) == 1
            stdout = stdout.replace(tokens[0], "<the answer>")
        else:
            outputs, stray = parse_heredocs(files["ci/output"])
            assert outputs["access_token"] == tokens[0] and files["ci/output"].count(tokens[0]) == 1, outputs
            assert not stray, stray
            files["ci/output"] = files["ci/output"].replace(tokens[0], "<the answer>")

    if case.surface == "action":
        stdout = check_masks(case, given, ran, tokens, secrets)
    places["stdout"] = stdout
    places.update({f"file {path}": text for path, text in files.items()})

    found = [f"{where}: {leak}" for where, text in places.items() for leak in leaks(text, secrets, given.consumer)]
    assert not found, "secret leaked:\n" + "\n".join(found)
    unexpected = set(ran.files) - ALLOWED_FILES[case.surface]
    assert not unexpected, f"the run left files behind: {sorted(unexpected)}"


def check_masks(case: Case, given: Given, ran: Ran, tokens: list[str], secrets: dict[str, str]) -> str:
    """GitHub's `::add-mask::` lines are the one place a secret may be printed: each masks a line of a secret the run
    holds, each secret known at the start (and each secured value, once the document is read) is masked before any
    other line, and each minted token before the result is printed. Returns stdout without the mask lines."""
    lines = ran.stdout.splitlines()
    is_mask = [line.startswith("::add-mask::") for line in lines]
    masked = [unescape_data(line.removeprefix("::add-mask::")) for line, mask in zip(lines, is_mask) if mask]
    leading = next((i for i, mask in enumerate(is_mask) if not mask), len(lines))
    first_masks = {unescape_data(line.removeprefix("::add-mask::")) for line in lines[:leading]}

    # Each mask is a line of a secret the run holds, in one of the forms it may be printed in (JSON-escaped,
    # URL-encoded, the consumer's Basic header, ...): bbvars masks those forms too.
    held_lines = {line for secret in secrets.values() for form in forms(secret, given.consumer)
                  for line in [form, *form.splitlines()] if line.strip()}  # a multi-line one is also masked whole
    assert set(masked) <= held_lines, f"masks of something not a secret: {set(masked) - held_lines}"
    assert len(masked) == len(set(masked)), f"a secret masked twice: {masked}"

    known_at_start = [given.secrets[name] for name in ("client secret", "access token", "api token")
                      if name in given.secrets]
    read = case.command == "sync" and case.mode.bad_input is None  # the document was read, its secrets known
    if read:
        known_at_start += list(SECURED_VALUES.values()) + ([MANIFEST_SECRET] if case.mode.manifest else [])
    for secret in known_at_start:
        for line in secret.splitlines():
            assert line in first_masks, f"{line!r} is not masked before the first other line:\n{ran.stdout}"
    # The printable forms are masked up front too: the consumer's Basic header, a secret's JSON-escaped form.
    if given.consumer:
        header = base64.b64encode(":".join(given.consumer).encode()).decode()
        assert header in first_masks, f"the Basic header is not masked first:\n{ran.stdout}"
    if read:
        assert json.dumps(TRICKY)[1:-1] in first_masks and quote(TRICKY, safe="") in first_masks, ran.stdout

    results = [i for i, line in enumerate(lines)
               if line.startswith(("::group::", "::error::", "✔", "DEBUG: GET "))]
    for token in tokens:
        assert token in masked, f"a minted token is not masked:\n{ran.stdout}"
        at = lines.index(f"::add-mask::{token}")
        if token == tokens[0]:
            # The first token is minted before any request to the API: masked before any is logged or reported.
            assert all(i > at for i in results), f"the first token is masked too late:\n{ran.stdout}"
        else:
            # A renewed one: masked before the result.
            assert all(i > at for i in results if not lines[i].startswith("DEBUG")), ran.stdout
    return "\n".join(line for line, mask in zip(lines, is_mask) if not mask)


# -- the tests ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_no_secret_leaks(case: Case, emulator: Emulator, tmp_path: Path) -> None:
    given = prepare(case, emulator, tmp_path)
    ran = run(given, tmp_path)
    expected = case.mode.exit[case.command]
    assert ran.code == expected, f"exit {ran.code}, expected {expected}\nstdout: {ran.stdout}\nstderr: {ran.stderr}"
    assert "Traceback" not in ran.stderr + ran.stdout and "internal error" not in ran.stderr + ran.stdout

    # The mode did what it is for.
    statuses = [(r.method, r.status) for r in emulator.requests]
    if case.mode.bad_input or expected == 2:
        assert statuses == [], statuses
    if case.mode.faults in (echo_every_secret, echo_cut_short, echo_encoded_forms):
        assert ("POST", 400) in statuses
    if case.mode.faults is fatal_403_echoing_every_secret:
        assert ("POST", 403) in statuses
    if case.mode.faults is expire_mid_run:
        assert len(minted(emulator)) == 2, "the token was not renewed"
    held = {v["key"] for v in emulator.variables("acme", "api")}
    if "dry_run" in case.mode.options:
        assert api_writes(emulator) == [] and held == ({STALE} if "prune" in case.mode.options else set())
    elif "prune" in case.mode.options:
        assert ("DELETE", 204) in statuses and STALE not in held and set(DOCUMENT) <= held
    if case.mode.manifest and expected == 0:  # both targets of the manifest were written
        assert {v["key"] for v in emulator.variables("acme", None)} == {"db_password", "tls_key"}
        assert {"MANIFEST_TOKEN", *DOCUMENT} == held
    if case.mode.name == "fail-scope-403":
        assert ("POST", 403) in statuses
    if case.mode.faults is fatal_503:
        assert statuses.count(("POST", 503) if case.command == "token" else ("GET", 503)) == 6, statuses
    if case.mode.debug and expected != 2:
        debug = ran.stdout if case.surface in ("pipe", "action") else ran.stderr
        assert "debug" in debug.lower() and "-> 200" in debug, debug
        if case.mode.faults is one_503_each:
            assert "retry " in debug, debug

    assert_no_leak(case, given, ran, emulator)


def test_the_cases_cover_every_surface_command_and_mode():
    covered = {(case.surface, case.command) for case in CASES}
    assert covered == set(SURFACE_COMMANDS)
    for surface, command in SURFACE_COMMANDS:
        names = {case.mode.name for case in CASES if (case.surface, case.command) == (surface, command)}
        assert {"normal", "fail-wrong-secret", "fail-503-fatal", "fail-bad-input"} <= names
        assert ("debug" in names) == (surface != "terraform")


# -- secrets are never arguments ------------------------------------------------------------------------------------

ARGUMENT_SECRET = "argv-Secret-VALUE-4d3c2b"


@pytest.mark.parametrize("argv", [
    ["sync", "-w", "acme", "--client-secret", ARGUMENT_SECRET],
    ["sync", "-w", "acme", f"--client-secret={ARGUMENT_SECRET}"],
    ["sync", "--access-token", ARGUMENT_SECRET, "-w", "acme"],
    ["token", "--client-secret", ARGUMENT_SECRET],
    ["token", f"--access-token={ARGUMENT_SECRET}"],
    ["--client-secret", ARGUMENT_SECRET, "sync"],
    ["sync", "-w", "acme", ARGUMENT_SECRET],
], ids=["sync-client-secret", "sync-client-secret=", "sync-access-token", "token-client-secret",
        "token-access-token=", "before-the-command", "a-stray-value"])
def test_the_cli_takes_no_secret_as_an_argument(emulator, tmp_path, argv):
    env = env_for(emulator, HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "bbvars", *argv], input="{}", capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bbvars: error: "), proc.stderr
    assert ARGUMENT_SECRET not in proc.stderr
    assert leaks(proc.stderr, {"argument": ARGUMENT_SECRET, "client secret": CLIENT_SECRET}, None) == []
    assert emulator.requests == []


# -- demo and emulator ----------------------------------------------------------------------------------------------


def test_demo_never_prints_its_sensitive_value(tmp_path):
    from bbvars.surfaces.cli.demo import SAMPLE_OUTPUTS

    sensitive = SAMPLE_OUTPUTS["db_password"]["value"]
    proc = subprocess.run([sys.executable, "-m", "bbvars", "demo"], capture_output=True, text=True,
                          env=clean_env(HOME=str(tmp_path), TMPDIR=str(tmp_path)), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert leaks(proc.stdout + proc.stderr, {"demo sensitive value": sensitive}, None) == []
    assert list(tmp_path.rglob("*")) == []


def test_the_emulator_command_never_prints_its_secret_or_the_tokens_it_mints(tmp_path):
    env = clean_env(HOME=str(tmp_path), TMPDIR=str(tmp_path), BITBUCKET_CLIENT_ID=CLIENT_ID,
                    BITBUCKET_CLIENT_SECRET=CLIENT_SECRET, PYTHONUNBUFFERED="1")
    server = subprocess.Popen([sys.executable, "-m", "bbvars", "emulator", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        first = server.stderr.readline()
        match = re.search(r"API (\S+)  token (\S+)", first)
        assert match, first
        client_env = dict(env, BITBUCKET_API_URL=match[1], BITBUCKET_TOKEN_URL=match[2])
        token = subprocess.run([sys.executable, "-m", "bbvars", "token"], capture_output=True, text=True,
                               env=client_env, cwd=tmp_path, timeout=30)
        assert token.returncode == 0, token.stderr
        minted_token = json.loads(token.stdout)["access_token"]
        synced = subprocess.run(
            [sys.executable, "-m", "bbvars", "sync", "-w", "acme", "-r", "api", "--debug", "--secured", "api_key"],
            input=json.dumps(DOCUMENT), capture_output=True, text=True, env=client_env, cwd=tmp_path, timeout=30)
        assert synced.returncode == 0, synced.stderr
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=10)
    assert server.returncode == 0, err
    secrets = {"client secret": CLIENT_SECRET, "minted token": minted_token, **SECURED_VALUES}
    assert leaks(first + out + err, secrets, (CLIENT_ID, CLIENT_SECRET)) == []
    assert leaks(synced.stdout + synced.stderr, {k: v for k, v in secrets.items() if k != "minted token"},
                 (CLIENT_ID, CLIENT_SECRET)) == []
    assert list(tmp_path.rglob("*")) == []


# -- the safety net itself ------------------------------------------------------------------------------------------


def test_the_redactor_masks_a_multi_line_secret_put_on_one_line():
    from bbvars.redaction import MASK, Redactor

    redact = Redactor([CERTIFICATE])
    assert redact(f"said: {' '.join(CERTIFICATE.split())}.") == f"said: {MASK}."
    assert redact("cut: -----BEGIN TEST KEY----- line-One-Cert-8a7b line-Tw") == f"cut: {MASK} {MASK} line-Tw"


def test_an_error_text_is_redacted_before_it_is_cut_short():
    import httpx

    from bbvars.bitbucket.client import error_message, parse_token_answer
    from bbvars.errors import ApiError
    from bbvars.redaction import Redactor

    redact = Redactor([LONG_SECRET, CLIENT_SECRET])
    response = httpx.Response(400, json={"type": "error", "error": {"message": "v" * 280 + " " + LONG_SECRET}})
    assert leaks(error_message(response, redact), {"long secret": LONG_SECRET}, None) == []
    token = httpx.Response(400, json={"error": "invalid_request", "error_description": "d" * 170 + CLIENT_SECRET})
    with pytest.raises(ApiError) as caught:
        parse_token_answer(token, redact)
    assert leaks(str(caught.value), {"client secret": CLIENT_SECRET}, None) == []


# -- workflow-command injection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["environment", "prefix", "workspace", "repository"])
def test_an_input_cannot_stop_the_runners_command_processing(emulator: Emulator, tmp_path: Path, setting) -> None:
    """`::stop-commands::` on a line of its own would make the runner print every later `::add-mask::` line as
    text, secret included: an input holding one is refused, after the masks, and no such line is ever printed."""
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    given = {"workspace": "acme", "repository": "api", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "variables": json.dumps(DOCUMENT), setting: "\n::stop-commands::x\n"}
    env = clean_env(GITHUB_OUTPUT=str(tmp_path / "output"), GITHUB_STEP_SUMMARY=str(tmp_path / "summary"))
    for name, spec in inputs.items():
        env[f"INPUT_{name.upper()}"] = str(given.pop(name, spec.get("default", "")))
    proc = subprocess.run([sys.executable, "-m", "bbvars", "action"], capture_output=True, text=True, env=env,
                          timeout=60)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 2 and emulator.requests == [], proc.stdout
    assert not any(line.lstrip().startswith("::stop-commands::") for line in lines), proc.stdout
    masks = [i for i, line in enumerate(lines) if line.startswith("::add-mask::")]
    assert masks and masks == list(range(len(masks))), proc.stdout  # every mask before any other line
    assert lines[len(masks):] == [f"::error::input {setting} holds a line break, and it must be one line (its text "
                                  "is not shown)"]
    rest = "\n".join(lines[len(masks):]) + proc.stderr
    assert leaks(rest, {"client secret": CLIENT_SECRET}, (CLIENT_ID, CLIENT_SECRET)) == []
