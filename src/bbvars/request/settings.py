"""The one settings table. CLI flags, pipe variables, action inputs, Terraform query keys, validation and the
README table all derive from SETTINGS; each surface only turns its raw input into a Settings."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from bbvars.errors import InputError
from bbvars.request.places import check_name, check_slug  # the one rule for place names, on every surface

# The URL rule lives in bbvars.urls (the stored login's file is checked by it too); importable from here as before.
from bbvars.urls import USER_INFO, check_url, is_loopback  # noqa: F401

DEFAULT_API_URL = "https://api.bitbucket.org/2.0"
DEFAULT_TOKEN_URL = "https://bitbucket.org/site/oauth2/access_token"
ENGINE_COMMANDS = ("sync", "check", "token")  # what `command` may say (the CLI's subcommands are in main.py)


CLI_ENV_PREFIXES = ("BITBUCKET_", "ATLASSIAN_", "BBVARS_")  # the only environment variables the CLI reads
API_TOKEN_PREFIX = "ATATT"  # how Atlassian API tokens begin


@dataclass(frozen=True)
class Setting:
    name: str  # the attribute of Settings
    kind: str  # text | secret | url | bool | int | number | keys | document | choice | files | pairs
    help: str
    flags: tuple[str, ...] = ()  # CLI; secrets never get one
    env: str | None = None  # pipe variable / `docker run -e`; the CLI reads only the BITBUCKET_*/ATLASSIAN_* ones
    env_fallback: str | None = None  # Bitbucket Pipelines' own variable used when `env` is unset
    action_input: str | None = None
    query_key: str | None = None  # Terraform external data source
    default: object = None
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    per_target: bool = False  # a per-sync setting each target of a manifest may set (`defaults:` or the target)
    metavar: str | None = None  # the CLI's name for the value, when the kind's (KEY, PATH, ...) would mislead

    @property
    def cli_reads_env(self) -> bool:
        # Only bbvars' own, Bitbucket's and Atlassian's names: an ambient ENVIRONMENT=staging must not change the
        # CLI's target.
        return bool(self.env and self.env.startswith(CLI_ENV_PREFIXES))


SETTINGS: tuple[Setting, ...] = (
    Setting("client_id", "text", "OAuth consumer key", env="BITBUCKET_CLIENT_ID",
            action_input="client_id", query_key="client_id"),
    Setting("client_secret", "secret", "OAuth consumer secret", env="BITBUCKET_CLIENT_SECRET",
            action_input="client_secret", query_key="client_secret"),
    Setting("access_token", "secret", "repository/workspace access token, instead of an OAuth consumer",
            env="BITBUCKET_ACCESS_TOKEN", action_input="access_token", query_key="access_token"),
    Setting("api_url", "url", "Bitbucket API base URL", env="BITBUCKET_API_URL", default=DEFAULT_API_URL),
    Setting("token_url", "url", "OAuth token URL", env="BITBUCKET_TOKEN_URL", default=DEFAULT_TOKEN_URL),
    Setting("command", "choice", "what to do: sync, check or token", env="COMMAND", action_input="command",
            query_key="command", default="sync", choices=ENGINE_COMMANDS),
    Setting("workspace", "text", "workspace slug or {uuid}", flags=("--workspace", "-w"), env="WORKSPACE",
            env_fallback="BITBUCKET_WORKSPACE", action_input="workspace", query_key="workspace"),
    Setting("repository", "text", "repository slug (omit for workspace variables)",
            flags=("--repository", "--repo", "-r"), env="REPOSITORY", env_fallback="BITBUCKET_REPO_SLUG",
            action_input="repository", query_key="repository"),
    Setting("environment", "text", "deployment environment: name, slug or uuid (needs a repository)",
            flags=("--environment", "-e"), env="ENVIRONMENT", action_input="environment", query_key="environment"),
    Setting("variables", "document", "the variables: JSON, YAML, .env or `terraform output -json` text",
            env="VARIABLES", action_input="variables", query_key="variables"),
    Setting("files", "files",
            "read variables from a JSON/YAML/.env/terraform-output file ('-' = stdin); repeatable, later ones win",
            flags=("--file", "-f"), default=()),
    Setting("pairs", "pairs", "one variable KEY=VALUE; repeatable; overrides the files", flags=("--var",), default=()),
    Setting("secured", "keys", "keys to store as secured ('*' = all); sensitive Terraform outputs always are",
            flags=("--secured",), env="SECURED", action_input="secured", query_key="secured", default=(),
            per_target=True),
    Setting("prefix", "text", "prefix added to every key", flags=("--prefix",), env="PREFIX",
            action_input="prefix", query_key="prefix", default="", per_target=True),
    Setting("upper", "bool", "upper-case keys and turn hyphens into underscores (db-host -> DB_HOST)",
            flags=("--upper",), env="UPPER", action_input="upper", query_key="upper", default=False,
            per_target=True),
    Setting("dry_run", "bool", "send no write; report what would change", flags=("--dry-run",), env="DRY_RUN",
            action_input="dry_run", query_key="dry_run", default=False),
    Setting("prune", "bool", "also delete variables of the target that are not in the input",
            flags=("--prune",), env="PRUNE", action_input="prune", query_key="prune", default=False,
            per_target=True),
    Setting("concurrency", "int", "writes in flight at once", flags=("--concurrency",), env="CONCURRENCY",
            action_input="concurrency", query_key="concurrency", default=8, bounds=(1, 32)),
    Setting("timeout", "number", "seconds allowed for each request as a whole, answer included",
            flags=("--timeout",), env="TIMEOUT", action_input="timeout", query_key="timeout", default=30.0,
            bounds=(1, 600)),
    Setting("debug", "bool", "log every request (never a secret)", flags=("--debug",), env="DEBUG",
            action_input="debug", default=False),
    Setting("quiet", "bool", "no human summary on stderr", flags=("--quiet", "-q"), default=False),
    Setting("variables_file", "text", "read the variables from this file in the workspace instead (keeps them out of "
            "the log)", action_input="variables_file"),
    Setting("output", "choice", "what stdout carries: the JSON report, or nothing", flags=("--output",),
            default="json", choices=("json", "none")),
    Setting("yes", "bool", "delete without asking (--prune on a terminal asks first)", flags=("--yes", "-y"),
            default=False),
    Setting("format", "choice", "`bbvars list` output: JSON, or dotenv that --file reads back", flags=("--format",),
            default="json", choices=("json", "dotenv")),
    Setting("allow_empty", "bool", "accept an input with no variables (else refused: `terraform output -json` "
            "prints {} away from the state)", flags=("--allow-empty",), env="ALLOW_EMPTY",
            action_input="allow_empty", query_key="allow_empty", default=False, per_target=True),
    Setting("manifest", "text", "a manifest (YAML or JSON) of many targets and their sources, instead of one target",
            flags=("--manifest", "-m"), env="MANIFEST", action_input="manifest", metavar="PATH"),
    Setting("targets", "keys", "with a manifest: run only the targets of these names; repeatable",
            flags=("--target",), env="TARGETS", action_input="targets", default=(), metavar="NAME"),
    Setting("fingerprint", "bool", "keep keyed fingerprints of secured values (variable BBVARS_FINGERPRINTS), so an "
            "unchanged secured value is not rewritten", flags=("--fingerprint",), env="FINGERPRINT",
            action_input="fingerprint", query_key="fingerprint", default=False, per_target=True),
    Setting("fingerprint_key", "secret", "key of the fingerprints, needed with fingerprint on: 128+ random bits (32+ "
            "hex or 22+ base64url characters), made by `bbvars fingerprint-key`", env="BBVARS_FINGERPRINT_KEY"),
    Setting("exit_code", "bool", "exit 3 when something changed (with dry run: would change), 0 when nothing did",
            flags=("--exit-code",), env="EXIT_CODE", action_input="exit_code", default=False),
    Setting("max_deletes", "int", "refuse the whole run when prune would delete more variables than this",
            flags=("--max-deletes",), env="MAX_DELETES", action_input="max_deletes", query_key="max_deletes",
            bounds=(0, 1_000_000), per_target=True),
    Setting("protect", "keys", "keys prune never deletes (globs such as 'DEPLOY_*'); repeatable",
            flags=("--protect",), env="PROTECT", action_input="protect", query_key="protect", default=(),
            per_target=True),
    Setting("atlassian_account_email", "text", "Atlassian account email, the user name of an Atlassian API token",
            env="ATLASSIAN_ACCOUNT_EMAIL", action_input="atlassian_account_email",
            query_key="atlassian_account_email"),
    Setting("atlassian_api_token", "secret", "Atlassian API token (with Bitbucket scopes), sent as HTTP Basic",
            env="ATLASSIAN_API_TOKEN", action_input="atlassian_api_token", query_key="atlassian_api_token"),
    Setting("max_requests", "int", "send at most this many requests (Bitbucket allows about 1,000 an hour): the "
            "writes that would pass it are not attempted, exit 4, and a re-run continues",
            flags=("--max-requests",), env="MAX_REQUESTS", action_input="max_requests", query_key="max_requests",
            bounds=(1, 1_000_000)),
)
BY_NAME = {s.name: s for s in SETTINGS}


def voice(label: Callable[[Setting], str]) -> Callable[[str], str]:
    """A surface's label as a Redactor's voice: how it names a setting that a message names by marker."""
    return lambda name: label(BY_NAME[name])

SECRETS = tuple(s.name for s in SETTINGS if s.kind == "secret")  # what every surface registers with its Redactor


@dataclass(frozen=True)
class Settings:
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    command: str = "sync"
    workspace: str | None = None
    repository: str | None = None
    environment: str | None = None
    variables: str | None = field(default=None, repr=False)
    files: tuple[str, ...] = ()
    pairs: tuple[str, ...] = field(default=(), repr=False)
    secured: tuple[str, ...] = ()
    prefix: str = ""
    upper: bool = False
    dry_run: bool = False
    prune: bool = False
    concurrency: int = 8
    timeout: float = 30.0
    debug: bool = False
    quiet: bool = False
    variables_file: str | None = None
    output: str = "json"
    yes: bool = False
    format: str = "json"
    allow_empty: bool = False
    manifest: str | None = None
    targets: tuple[str, ...] = ()
    fingerprint: bool = False
    fingerprint_key: str | None = field(default=None, repr=False)
    exit_code: bool = False
    max_deletes: int | None = None
    protect: tuple[str, ...] = ()
    atlassian_account_email: str | None = None
    atlassian_api_token: str | None = field(default=None, repr=False)
    max_requests: int | None = None


assert [f.name for f in fields(Settings)] == [s.name for s in SETTINGS], "Settings and SETTINGS must agree"

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})


def parse_bool(raw: str, label: str) -> bool:
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise InputError(f"{label} must be true or false (also yes/no, 1/0), got {raw.strip()[:40]!r}")


def parse_number(raw: str, setting: Setting, label: str) -> float | int:
    convert = int if setting.kind == "int" else float
    try:
        number = convert(raw.strip())
    except ValueError:
        kind = "a whole number" if setting.kind == "int" else "a number"
        raise InputError(f"{label} must be {kind}, got {raw.strip()[:40]!r}") from None
    low, high = setting.bounds or (float("-inf"), float("inf"))
    if not low <= number <= high:
        raise InputError(f"{label} must be between {low:g} and {high:g}, got {raw.strip()}")
    return number


def parse_keys(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.replace("\n", ",").split(",") if part.strip())


# Settings whose value is one line: a line break in one could forge a line of a CI log (a GitHub workflow command,
# a pipe's result line), so it is refused rather than printed. Documents and key lists may span lines.
SINGLE_LINE_KINDS = frozenset({"text", "secret", "url", "choice", "bool", "int", "number"})


def check_text(raw: str, label: str) -> None:
    """Text that cannot be written as UTF-8 is refused: Python hands over undecodable argv/environment bytes as
    lone surrogates, which would fail only when a request is sent."""
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{label} is not UTF-8 text: check its encoding (its text is not shown)") from None


def coerce(setting: Setting, raw: str, label: str) -> object:
    """Turn one raw string (env var, action input, query value) into the setting's typed value."""
    check_text(raw, label)
    # Trailing whitespace is forgiven (a pasted secret often ends in a newline); a line break before the end is not.
    if setting.kind in SINGLE_LINE_KINDS and ("\n" in raw.rstrip() or "\r" in raw.rstrip()):
        raise InputError(f"{label} holds a line break, and it must be one line (its text is not shown)")
    if setting.kind == "bool":
        return parse_bool(raw, label)
    if setting.kind in ("int", "number"):
        return parse_number(raw, setting, label)
    if setting.kind == "keys":
        return parse_keys(raw)
    if setting.kind == "choice":
        value = raw.strip().lower()
        if value not in setting.choices:
            raise InputError(f"{label} must be one of {', '.join(setting.choices)}, got {raw.strip()[:40]!r}")
        return value
    if setting.kind == "document":
        return raw
    return raw.strip()  # secrets too: a pasted secret often ends in a newline, which no header can carry


def from_strings(raw: Mapping[str, str], label: Callable[[Setting], str]) -> Settings:
    """Build Settings from {setting name: raw string}; empty strings mean unset (GitHub passes unset inputs so)."""
    values: dict[str, Any] = {}
    for name, text in raw.items():
        setting = BY_NAME[name]
        if text is None or (text.strip() == "" and setting.kind != "document"):
            continue
        values[name] = coerce(setting, text, label(setting))
    return Settings(**values)




PROTECT_PATTERN = re.compile(r"[A-Za-z0-9_*?\[\]!]+\Z")


def check_protect(patterns: tuple[str, ...], label: str) -> None:
    for pattern in patterns:
        if not PROTECT_PATTERN.match(pattern):
            raise InputError(f"{label} {pattern[:60]!r} can never match a variable name: use letters, digits, '_' "
                             "and the glob characters * ? [ ]")


def check_credentials(settings: Settings, labels: Callable[[Setting], str]) -> None:
    """Credentials that cannot work, before any request. Which kind is used when several are set is decided by
    bbvars.auth.choose; here only whether there is one that can be used."""
    def label(name: str) -> str:
        return labels(BY_NAME[name])

    email, api_token = settings.atlassian_account_email, settings.atlassian_api_token
    if api_token and not email:
        raise InputError(f"{label('atlassian_account_email')} is not set: an Atlassian API token is sent with the "
                         "Atlassian account's email as the user name")
    if email and not api_token:
        raise InputError(f"{label('atlassian_api_token')} is not set: set it to the Atlassian API token of "
                         f"{label('atlassian_account_email')}")
    if settings.access_token and settings.access_token.startswith(API_TOKEN_PREFIX):
        raise InputError(
            f"{label('access_token')} holds an Atlassian API token (it starts with {API_TOKEN_PREFIX}), which is "
            f"sent as HTTP Basic with its account's email, not as a Bearer access token: set it as "
            f"{label('atlassian_api_token')}, with {label('atlassian_account_email')}"
        )
    has_consumer = bool(settings.client_id and settings.client_secret)
    other = bool(settings.access_token or api_token)
    if settings.client_id and not settings.client_secret and not other:
        raise InputError(f"{label('client_secret')} is not set: set it to the OAuth consumer's secret")
    if settings.client_secret and not settings.client_id and not other:
        raise InputError(f"{label('client_id')} is not set: set it to the OAuth consumer's key")
    if settings.command == "token":
        if not has_consumer:
            raise InputError(f"token needs an OAuth consumer: set {label('client_id')} and {label('client_secret')}")
        return
    if not has_consumer and not other:
        from bbvars.auth import store  # only here: importing the settings table must stay light

        if not store.exists():
            raise InputError(
                f"no credentials: set {label('atlassian_account_email')} and {label('atlassian_api_token')} (an "
                f"Atlassian API token), or {label('access_token')}, or {label('client_id')} and "
                f"{label('client_secret')} (an OAuth consumer), or run `bbvars login`"
            )


def validate(settings: Settings, labels: Callable[[Setting], str]) -> None:
    """Everything that can be known wrong before a request is sent."""
    check_url(settings.api_url, labels(BY_NAME["api_url"]))
    check_url(settings.token_url, labels(BY_NAME["token_url"]))
    check_credentials(settings, labels)
    if settings.command == "token":
        return
    if settings.manifest is not None:
        check_manifest_settings(settings, labels)
        return  # workspaces, repositories and environments are the manifest's, checked as it is read
    if settings.targets:
        raise InputError(f"{labels(BY_NAME['targets'])} chooses targets of a manifest: give "
                         f"{labels(BY_NAME['manifest'])} too")
    if not settings.workspace:
        raise InputError(f"no workspace: set {labels(BY_NAME['workspace'])}")
    if settings.environment and not settings.repository:
        raise InputError(
            f"{labels(BY_NAME['environment'])} needs {labels(BY_NAME['repository'])}: "
            "deployment environments belong to a repository"
        )
    check_slug(settings.workspace, labels(BY_NAME["workspace"]))
    check_slug(settings.repository, labels(BY_NAME["repository"]))
    check_name(settings.environment, labels(BY_NAME["environment"]))
    check_protect(settings.protect, labels(BY_NAME["protect"]))


CHANGES_PENDING = 3  # Terraform's -detailed-exitcode says 2, which bbvars already means for bad input
STOPPED = 4  # stopped cleanly at the request budget (max_requests) or a lasting rate limit: a re-run continues


def exit_code(settings: Settings, ok: bool, changed: bool, stopped: bool = False) -> int:
    """A sync's exit code: 1 failed; 4 stopped cleanly at the request budget or a lasting rate limit (nothing
    else failed); with exit_code, 3 when something changed (with dry run: would change)."""
    if not ok:
        return STOPPED if stopped else 1
    return CHANGES_PENDING if settings.exit_code and changed else 0


# With a manifest, these belong to its targets; a per-target setting given outside it applies to every target.
SINGLE_TARGET_ONLY = ("repository", "environment", "variables", "files", "pairs", "variables_file")


def check_manifest_settings(settings: Settings, labels: Callable[[Setting], str]) -> None:
    if not (settings.manifest or "").strip():
        raise InputError(f"{labels(BY_NAME['manifest'])} is empty: give the path of the manifest")
    given = [labels(BY_NAME[name]) for name in SINGLE_TARGET_ONLY if getattr(settings, name) not in (None, ())]
    if given:
        raise InputError(f"{', '.join(given)} cannot be combined with {labels(BY_NAME['manifest'])}: the manifest "
                         "names each target and its sources")
    check_slug(settings.workspace, labels(BY_NAME["workspace"]))


def surface_overrides(settings: Settings) -> dict[str, object]:
    """The per-target settings a surface gave (not left at their defaults): with a manifest, they apply to every
    target, over what the manifest says (`--prune` prunes every target)."""
    unset = Settings()
    return {s.name: getattr(settings, s.name) for s in SETTINGS
            if s.per_target and getattr(settings, s.name) != getattr(unset, s.name)}
