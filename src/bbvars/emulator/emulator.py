"""The public `Emulator`: set-up helpers, test knobs, the request log, and the per-request policy (log, fault,
latency, then the API) that the socket server calls."""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, NamedTuple

from bbvars.emulator.api import Api, Request, Response, error_response, fault_response
from bbvars.emulator.faults import Fault, FaultRules
from bbvars.emulator.identity import API_TOKEN_SCOPES, DEMO_USER, REFRESH_TTL, Identities, User
from bbvars.emulator.ratelimit import HourlyBudget
from bbvars.emulator.server import EmulatorServer
from bbvars.emulator.state import DEFAULT_SCOPES, Scope, State

DEMO_CLIENT_ID = "demo-client"
DEMO_CLIENT_SECRET = "demo-secret"  # public demo data, safe to print
DEMO_WORKSPACE = "acme"
DEMO_REPOSITORY = "api"
DEMO_ENVIRONMENTS = ("Test", "Staging", "Production")
DEMO_CALLBACK_URL = "http://localhost:8976/callback"  # `bbvars login`'s default, so it works against the demo


class RequestRecord(NamedTuple):
    method: str
    path: str  # decoded, without the query string
    query: dict[str, str]
    status: int  # 0 while unanswered, and for a request answered by a connection reset


class Emulator:
    """An in-memory Bitbucket Cloud API for tests and demos, served over real HTTP on a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.token_ttl: float = 7200
        self.scope_field = "scope"
        self.omit_next = False
        self.omit_size = False
        self.refresh_ttl: float = REFRESH_TTL
        self.rate_limit = 1000  # X-RateLimit-Limit for access tokens (Bitbucket's base: 1,000 an hour)
        # API requests each credential may send per rolling hour, then 429 (`--rate-limit 1000/h`); None: no limit.
        # When set it is also the access tokens' X-RateLimit-Limit. See ratelimit.py.
        self.hourly_limit: int | None = None
        self.budget = HourlyBudget()  # its `clock` can be replaced, so a test lets an hour pass at once
        self.consent_user: User = DEMO_USER  # who the consent page says is logged in
        self._state = State()
        self._identities = Identities()
        # Tests written before identity.py read issued tokens as `_state._tokens`: the same dict, kept reachable.
        self._state._tokens = self._identities._tokens  # type: ignore[attr-defined]
        self._api = Api(self._state, self._identities, self)
        self._faults = FaultRules()
        self._requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()
        self._requests_generation = 0
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    # --- quirks: ways the real API misbehaves that a client must survive ---

    QUIRKS = ("lag=SECONDS", "nonext", "nosize")

    @property
    def lag(self) -> float:
        """Seconds listings trail writes by: a listing shows each scope as it was that long ago (0: none)."""
        return self._state.lag

    @lag.setter
    def lag(self, seconds: float) -> None:
        self._state.lag = float(seconds)

    @property
    def total_characters(self) -> int | None:
        """The most characters a scope's names and values may hold together: Bitbucket's 120,000; None: no limit."""
        return self._state.total_characters

    @total_characters.setter
    def total_characters(self, limit: int | None) -> None:
        self._state.total_characters = limit

    def quirk(self, spec: str) -> Emulator:
        """Turn on one quirk by name, as `bbvars emulator --quirk` does: `lag=SECONDS` (listings trail writes),
        `nonext` (pages carry no `next` link, Atlassian's BCLOUD-20639), `nosize` (pages carry no `size`)."""
        name, _, value = spec.partition("=")
        if name == "lag" and value:
            seconds = float(value)  # ValueError for a non-number
            if not 0 <= seconds <= 3600:
                raise ValueError("lag takes 0 to 3600 seconds")
            self.lag = seconds
        elif name == "nonext" and not value:
            self.omit_next = True
        elif name == "nosize" and not value:
            self.omit_size = True
        else:
            raise ValueError(f"unknown quirk (known: {', '.join(self.QUIRKS)})")
        return self

    # --- life cycle ---

    def start(self) -> Emulator:
        if self._server is None:
            self._server = EmulatorServer(self.host, self.port, self._respond)
            self.port = self._server.server_port
            self._thread = threading.Thread(target=self._server.serve, name="bbvars-emulator", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.wake()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        server.server_close()
        server.close_connections()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self.port == 0:
            raise RuntimeError("the emulator picks its port when started: call start() first")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/2.0"

    @property
    def token_url(self) -> str:
        return self.url + "/site/oauth2/access_token"

    @property
    def authorize_url(self) -> str:
        return self.url + "/site/oauth2/authorize"

    # --- set-up ---

    def add_consumer(
        self, client_id: str, client_secret: str, scopes: tuple[str, ...] = DEFAULT_SCOPES, private: bool = True,
        callback_url: str | None = None,
    ) -> None:
        """A consumer; `callback_url` is where its consent page sends the browser back (authorization code)."""
        self._identities.add_consumer(client_id, client_secret, tuple(scopes), private, callback_url)

    def add_access_token(self, token: str, scopes: tuple[str, ...] = DEFAULT_SCOPES) -> None:
        """A static repository/workspace access token: sent as Bearer, never expires (not even by expire_tokens)."""
        self._identities.add_access_token(token, tuple(scopes))

    def add_api_token(
        self, email: str, token: str, scopes: tuple[str, ...] = API_TOKEN_SCOPES, user: User = DEMO_USER
    ) -> None:
        """An Atlassian API token: accepted as HTTP Basic `email:token` on every API call, with Atlassian's granular
        scopes (read:pipeline:bitbucket to read, admin:pipeline:bitbucket to write variables)."""
        self._identities.add_api_token(email, token, tuple(scopes), user)

    def add_workspace(self, workspace: str) -> None:
        self._state.add_workspace(workspace)

    def add_repository(self, workspace: str, repository: str) -> None:
        self._state.add_repository(workspace, repository)

    def add_environment(
        self,
        workspace: str,
        repository: str,
        name: str,
        slug: str | None = None,
        environment_type: str | None = None,
    ) -> str:
        """Add a deployment environment; returns its "{uuid}"."""
        return self._state.add_environment(workspace, repository, name, slug, environment_type)

    def seed_variable(
        self,
        workspace: str,
        key: str,
        value: str,
        secured: bool = False,
        repository: str | None = None,
        environment: str | None = None,
    ) -> str:
        """Create a variable directly (no HTTP, no request record); `environment` is a uuid or a name."""
        return self._state.create_variable(Scope(workspace, repository, environment), key, value, secured).uuid

    def seed_demo(self, client_id: str = DEMO_CLIENT_ID, client_secret: str = DEMO_CLIENT_SECRET) -> Emulator:
        self.add_repository(DEMO_WORKSPACE, DEMO_REPOSITORY)
        for name in DEMO_ENVIRONMENTS:
            self.add_environment(DEMO_WORKSPACE, DEMO_REPOSITORY, name)
        self.add_consumer(client_id, client_secret, callback_url=DEMO_CALLBACK_URL)
        return self

    @classmethod
    def demo(
        cls, *, client_id: str = DEMO_CLIENT_ID, client_secret: str = DEMO_CLIENT_SECRET, **kwargs: Any
    ) -> Emulator:
        """An emulator (not yet started) seeded with the demo data; kwargs go to the constructor."""
        return cls(**kwargs).seed_demo(client_id, client_secret)

    # --- inspection and out-of-band changes ---

    def variables(
        self, workspace: str, repository: str | None = None, environment: str | None = None
    ) -> list[dict[str, Any]]:
        """Every variable of a scope in creation order, secured values included (for assertions only)."""
        return [
            {"uuid": v.uuid, "key": v.key, "value": v.value, "secured": v.secured}
            for v in self._state.list_variables(Scope(workspace, repository, environment))
        ]

    def environments(self, workspace: str, repository: str) -> list[dict[str, str]]:
        """The repository's environments in creation order: [{"uuid", "name", "slug", "environment_type"}]."""
        return [
            {"uuid": e.uuid, "name": e.name, "slug": e.slug, "environment_type": e.environment_type}
            for e in self._state.environments(workspace, repository)
        ]

    def delete_variable(
        self, workspace: str, key: str, repository: str | None = None, environment: str | None = None
    ) -> None:
        """Delete by key behind the client's back; KeyError when there is no such key."""
        self._state.delete_variable_by_key(Scope(workspace, repository, environment), key)

    def pass_time(self, seconds: float) -> None:
        """Let `seconds` pass for the hourly budget (hourly_limit): requests older than an hour no longer count."""
        self.budget.advance(seconds)

    def expire_tokens(self) -> None:
        """Expire every token issued so far; the next API call with one answers 401 "Access token expired."."""
        self._identities.expire_tokens()

    def minted_tokens(self) -> list[str]:
        """Every token issued by a grant so far, in order (static access tokens left out): for leak assertions."""
        return self._identities.minted()

    def expire_refresh_tokens(self) -> None:
        """Expire every refresh token issued so far (as 3 months unused would); using one answers invalid_grant."""
        self._identities.expire_refresh_tokens()

    @property
    def requests(self) -> list[RequestRecord]:
        with self._requests_lock:
            return list(self._requests)

    def reset_requests(self) -> None:
        with self._requests_lock:
            self._requests.clear()
            self._requests_generation += 1

    def inject(self, fault: Fault) -> Fault:
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    # --- per request, called on the server's handler threads ---

    def _respond(self, request: Request) -> Response | None:
        # Recorded on arrival (so the log is in arrival order), completed with the status once answered.
        with self._requests_lock:
            index, generation = len(self._requests), self._requests_generation
            self._requests.append(RequestRecord(request.method, request.path, request.query, 0))
        response = self._answer(request)
        with self._requests_lock:
            if generation == self._requests_generation:  # else reset_requests() dropped the record meanwhile
                self._requests[index] = self._requests[index]._replace(status=response.status if response else 0)
        return response

    def _answer(self, request: Request) -> Response | None:
        fault = self._faults.take(request.method, request.path)
        pause = self.latency + (fault.delay if fault else 0.0)
        if pause > 0:
            time.sleep(pause)
        if fault is not None:
            if fault.action is not None:
                try:
                    fault.action(self)
                except Exception as error:  # surface a broken test action to the client, not as a hang
                    return error_response(500, f"Fault action failed: {type(error).__name__}: {error}")
            if fault.reset:
                return None
            if fault.status is not None:
                return fault_response(fault.status, fault.body, fault.content_type, fault.headers)
        try:
            return self._api.handle(request)
        except Exception as error:  # a bug in the emulator: answer it rather than drop the connection
            return error_response(500, f"Emulator error: {type(error).__name__}: {error}")

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<Emulator {where}>"
