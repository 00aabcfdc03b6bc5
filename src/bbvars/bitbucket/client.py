"""All HTTP to Bitbucket: one logical request with retries (`send`), and the calls the engine makes. Transport
limits live in transport.py, the pager in paging.py, what answers mean in answers.py."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import httpx
import tenacity

from bbvars.auth import Hints, Token
from bbvars.bitbucket import paging, retries, transport
from bbvars.bitbucket.answers import (
    check,
    error_message,
    json_object,
    not_found_text,
    parse_token_answer,
    variable_records,
)
from bbvars.bitbucket.retries import (
    DEFAULT_RETRY,
    MAYBE_APPLIED,
    RETRY_STATUSES,
    Gate,
    RetryableStatus,
    RetryPolicy,
    WaitRetryAfterOrBackoff,
    is_retryable,
    may_have_been_applied,
)
from bbvars.errors import ApiError, Cancelled, ConflictError, setting
from bbvars.events import RetryWait
from bbvars.models import RemoteVariable, Target, Variable


class RetriedConflict(ConflictError):
    """409 on a create sent again after an attempt that may have been applied: likely our own first attempt."""


def segment(value: str) -> str:
    # Braces of uuids stay, percent-encoded; Bitbucket answers 400 without them. An empty part would make the URL
    # name the collection above it (a PUT or DELETE to the wrong place), so it is a bug, never a request.
    if not value:
        raise ValueError("a URL part is missing")
    return quote(value, safe="")


def collection_path(target: Target, environment_uuid: str | None = None) -> str:
    ws = segment(target.workspace)
    if target.scope == "workspace":
        return f"workspaces/{ws}/pipelines-config/variables"
    repo = f"repositories/{ws}/{segment(target.repository or '')}"
    if target.scope == "repository":
        return f"{repo}/pipelines_config/variables"
    return f"{repo}/deployments_config/environments/{segment(environment_uuid or '')}/variables"


class Halted(ApiError):
    """A request not sent (or not retried) because the run already stopped at Bitbucket's lasting rate limit.
    `maybe_applied`: an earlier attempt of it may have reached Bitbucket and been carried out."""

    def __init__(self, maybe_applied: bool):
        super().__init__("no further request was sent: the run stopped at Bitbucket's lasting rate limit", 429,
                         fatal=True)
        self.maybe_applied = maybe_applied


class BitbucketClient:
    def __init__(
        self,
        api_url: str,
        auth: httpx.Auth | None,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_connections: int = 10,
        log: Callable[[str], None] | None = None,
        redact: Callable[[str], str] | None = None,
        on_retry: Callable[[RetryWait], None] | None = None,
        hints: Hints | None = None,
    ):
        self.hints = hints or Hints()  # what messages say for the credential kind in use (scopes, fixes)
        self.api_url = api_url.rstrip("/")
        self.on_retry = on_retry  # told of every retry wait (events.RetryWait), for a surface to show it
        self.redact = redact  # masks known secrets in Bitbucket's error texts before they are cut short
        self.retry = retry or DEFAULT_RETRY  # read at construction, so tests can shorten the module default
        self.timeout = timeout  # for each request as a whole: see transport.deadline
        self.log = log
        self.requests_sent = 0
        self.cancel: threading.Event | None = None  # once set, no new request (or retry) is sent
        # Set once the run concludes Bitbucket's rate limit lasts (sync/applier.py): no retry and no new request is
        # sent, a request waiting to retry ends at once (Halted). At the wall every retry is one more refused request.
        self.halt = threading.Event()
        # Set by a sync's applier, for which a 429 past the retries ends the run: told that 429 before `halt` is set,
        # so the waiters woken by it find the run's stop cause.
        self.on_wall: Callable[[ApiError], None] | None = None
        self.gate = Gate()  # at a 429, one request probes while the others wait (retries.Gate)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.http = httpx.Client(
            base_url=self.api_url + "/",
            auth=auth,
            timeout=timeout,
            transport=transport.Transport(limits),
            trust_env=False,  # proxies and CAs are chosen by transport.Transport, per origin
            headers={"Accept": "application/json", "User-Agent": "bbvars"},
            follow_redirects=False,  # a redirect could carry the token to another host
            event_hooks={"request": [self._count]},
        )

    def __enter__(self) -> BitbucketClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _count(self, request: httpx.Request) -> None:
        self.requests_sent += 1

    def _debug(self, message: str) -> None:
        if self.log:
            self.log(message)

    # -- sending, with retries ---------------------------------------------------------------------------------

    def send(self, method: str, url: str, *, what: str, cap: int = transport.WRITE_CAP,
             auth: httpx.Auth | None = None, **kwargs) -> httpx.Response:
        """One logical request: retried on transport errors, 429 and 5xx; other answers returned as they are, read
        whole (at most `cap` bytes). Each attempt, answer included, must finish within the timeout."""

        maybe_applied = False

        def before_sleep(state: tenacity.RetryCallState) -> None:
            nonlocal maybe_applied
            exc = state.outcome.exception() if state.outcome else None
            maybe_applied = maybe_applied or may_have_been_applied(exc)
            cause = f"HTTP {exc.response.status_code}" if isinstance(exc, RetryableStatus) else type(exc).__name__
            wait = state.next_action.sleep if state.next_action else 0
            self._debug(f"retry {method} {self._show(url)} after {cause} (attempt {state.attempt_number} of "
                        f"{self.retry.attempts}, waiting {wait:.2f}s)")
            if self.on_retry:
                self.on_retry(RetryWait(cause.removeprefix("HTTP "), wait, state.attempt_number + 1,
                                        self.retry.attempts))

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(is_retryable),
            wait=WaitRetryAfterOrBackoff(self.retry),
            stop=tenacity.stop_after_attempt(self.retry.attempts) | tenacity.stop_after_delay(self.retry.max_total)
            | tenacity.stop_when_event_set(self.cancel or threading.Event())  # cancelled: no further attempt
            | tenacity.stop_when_event_set(self.halt),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        started = time.monotonic()
        me = object()  # this request, to the gate
        # A token request (its own endpoint, its own limit) never waits at the gate: a refresh may hold the token lock
        # the probing request needs.
        gated = auth is None
        try:
            with transport.paused():
                for attempt in retrying:
                    if gated:  # outside the deadline: waiting is not the request's time
                        self.gate.turn(me, self.retry.max_total, self.halt, self.cancel)
                    with attempt, transport.deadline(self.timeout):
                        if self.cancel is not None and self.cancel.is_set():
                            raise Cancelled()  # cancelled (SIGINT/SIGTERM): no new request, not even a retry
                        if self.halt.is_set():
                            raise Halted(maybe_applied)
                        response = self._attempt(method, url, cap, auth, kwargs)
                        if gated:
                            self.gate.answered(me, response.status_code)
                        if response.status_code in RETRY_STATUSES:
                            raise RetryableStatus(response)
                        response.extensions[MAYBE_APPLIED] = maybe_applied
                        return response
        except RetryableStatus as exc:
            if self.halt.is_set() and not (maybe_applied or may_have_been_applied(exc)):
                raise Halted(False) from None  # ended by the run's stop, not by its own retries
            error = self._exhausted(exc.response.status_code, what, retrying, started)
            if exc.response.status_code == 429 and self.on_wall is not None:
                self.on_wall(error)
                self.halt.set()  # the decision: set before this request leaves the gate, so no waiter goes on
            raise error from None
        except transport.AnswerTooLarge as exc:
            raise ApiError(
                f"the answer {what} from {self._host(url)} was larger than {transport.human_size(exc.cap)}, far more "
                f"than Bitbucket sends, so bbvars stopped reading it: check {setting('api_url')} / "
                f"{setting('token_url')}",
                fatal=True,
            ) from None
        except httpx.LocalProtocolError as exc:
            raise ApiError(
                f"the request {what} could not be sent ({type(exc).__name__}): a credential or setting holds a "
                "character HTTP headers cannot carry, such as a line break: check the credentials as pasted",
                fatal=True,
            ) from None
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"Bitbucket did not answer {what} within the timeout after "
                f"{retrying.statistics.get('attempt_number')} attempts ({self.timeout:g} s each, the whole answer "
                f"included; {type(exc).__name__}){self._via(url)}: re-run, or allow more time with the timeout setting",
                fatal=True,
            ) from None
        except httpx.TransportError as exc:
            raise self._unreachable(url, exc) from None
        except httpx.HTTPError as exc:  # e.g. a body that does not decode as its Content-Encoding says
            raise ApiError(
                f"Bitbucket's answer {what} could not be read ({type(exc).__name__}: {exc}): check the network and "
                f"the API URL ({setting('api_url')} / {setting('token_url')})",
                fatal=True,
            ) from None
        finally:
            self.gate.leave(me)
        raise AssertionError("unreachable")  # pragma: no cover

    def _sleep(self, seconds: float) -> None:
        retries.nap(seconds, self.halt, self.cancel)  # looked up at each wait: tests replace it

    def _attempt(self, method: str, url: str, cap: int, auth: httpx.Auth | None, kwargs: dict) -> httpx.Response:
        began = time.monotonic()
        request = self.http.build_request(method, url, **kwargs)
        response = self.http.send(request, stream=True, auth=auth if auth is not None else httpx.USE_CLIENT_DEFAULT)
        try:
            transport.read_capped(response, cap)
        finally:
            response.close()
        self._debug(f"{method} {self._show(url)} -> {response.status_code} "
                    f"({(time.monotonic() - began) * 1000:.0f} ms)")
        return response

    def _unreachable(self, url: str, exc: httpx.TransportError) -> ApiError:
        host = self._host(url)
        problem = transport.certificate_problem(exc)
        if problem is not None:
            reason = getattr(problem, "verify_message", None) or "certificate verify failed"
            return ApiError(
                f"the TLS certificate of {host} could not be verified ({reason}){self._via(url)}: if a proxy or "
                "your network re-signs TLS, point SSL_CERT_FILE (a PEM bundle) or SSL_CERT_DIR at its CA; else "
                f"check {setting('api_url')} / {setting('token_url')}",
                fatal=True,
            )
        proxy = transport.proxy_for(self.http.base_url.join(url))
        if proxy is not None:
            return ApiError(
                f"cannot reach {host} through the proxy {proxy.shown} ({type(exc).__name__}: {exc}): check the proxy "
                f"({proxy.variable}), or list the host in NO_PROXY",
                fatal=True,
            )
        return ApiError(
            f"cannot reach Bitbucket at {host} ({type(exc).__name__}: {exc}): check the network and the API URL "
            f"({setting('api_url')} / {setting('token_url')})",
            fatal=True,
        )

    def _via(self, url: str) -> str:
        proxy = transport.proxy_for(self.http.base_url.join(url))
        return f" through the proxy {proxy.shown} ({proxy.variable})" if proxy else ""

    def _host(self, url: str) -> str:
        return urlsplit(str(self.http.base_url.join(url))).hostname or "the server"

    def _exhausted(self, status: int, what: str, retrying: tenacity.Retrying, started: float) -> ApiError:
        attempts = retrying.statistics.get("attempt_number", self.retry.attempts)
        spent = time.monotonic() - started
        if status == 429:
            return ApiError(
                f"Bitbucket's rate limit was still hit {what} after {attempts} attempts over {spent:.0f}s: Bitbucket "
                "allows about 1,000 requests per hour per consumer; wait and re-run (bbvars sends only what changed)",
                429,
                fatal=True,
            )
        return ApiError(
            f"Bitbucket answered HTTP {status} {what} after {attempts} attempts over {spent:.0f}s: Bitbucket may be "
            "having trouble (see status.atlassian.com); re-run later",
            status,
            fatal=True,
        )

    def _show(self, url: str) -> str:
        return str(self.http.base_url.join(url))

    def check(self, response: httpx.Response, what: str, not_found: str) -> httpx.Response:
        return check(response, what, not_found, self.redact, self.hints)

    # -- token ---------------------------------------------------------------------------------------------------

    def fetch_token(self, token_url: str, client_id: str, client_secret: str) -> Token:
        return self.request_token(token_url, client_id, client_secret, {"grant_type": "client_credentials"})

    def request_token(self, token_url: str, client_id: str, client_secret: str, form: dict) -> Token:
        """One token request of any grant (client_credentials, authorization_code, refresh_token), with the
        consumer's key and secret as HTTP Basic."""
        response = self.send("POST", token_url, what="for a token", cap=transport.TOKEN_CAP, data=form,
                             auth=httpx.BasicAuth(client_id, client_secret))
        return parse_token_answer(response, self.redact, str(form.get("grant_type", "")))

    # -- listing -------------------------------------------------------------------------------------------------

    def list_all(self, path: str, what: str, not_found: str) -> list[dict]:
        """Every item of a paged collection, at 100 a page, each an object with a uuid (see paging.py)."""

        def get(url: str, params: dict | None):
            response = self.check(self.send("GET", url, what=what, cap=transport.PAGE_CAP, params=params), what,
                                  not_found)
            try:
                return response.json()
            except ValueError:
                raise ApiError(
                    f"{self._show(url)} answered {what} with something that is not JSON "
                    f"({response.headers.get('Content-Type', 'no content type')}): check {setting('api_url')}",
                    response.status_code,
                    fatal=True,
                ) from None

        return paging.list_all(get, path, self.api_url, what, f"GET {self._show(path)}")

    def list_variables(self, path: str, target: Target) -> list[RemoteVariable]:
        what = f"listing the variables of {target.describe()}"
        data = variable_records(self.list_all(path, what, not_found_text(target)), what, f"GET {self._show(path)}")
        return [RemoteVariable.from_api(item) for item in data]

    def list_environments(self, target: Target) -> list[dict]:
        path = f"repositories/{segment(target.workspace)}/{segment(target.repository or '')}/environments"
        return self.list_all(
            path,
            f"listing the environments of {target.workspace}/{target.repository}",
            f"repository {target.workspace}/{target.repository} not found: check the workspace and repository "
            "slugs, and that the consumer's account can see it",
        )

    # -- writes --------------------------------------------------------------------------------------------------

    def create_variable(self, path: str, variable: Variable, target: Target) -> RemoteVariable:
        what = f"creating {variable.key}"
        body = {"key": variable.key, "value": variable.value, "secured": variable.secured}
        response = self.send("POST", path, what=what, json=body)
        if response.status_code == 409 and response.extensions.get(MAYBE_APPLIED):
            raise RetriedConflict(f"conflict {what} (409: {error_message(response, self.redact)})", 409)
        response = self.check(response, what, not_found_text(target))
        return RemoteVariable.from_api(json_object(response))

    def update_variable(self, path: str, uuid: str, variable: Variable, target: Target) -> RemoteVariable:
        what = f"updating {variable.key}"
        body = {"key": variable.key, "value": variable.value, "secured": variable.secured}
        response = self.check(
            self.send("PUT", f"{path}/{segment(uuid)}", what=what, json=body),
            what,
            f"variable {variable.key} no longer exists in {target.describe()}",
        )
        return RemoteVariable.from_api(json_object(response))

    def delete_variable(self, path: str, uuid: str, key: str, target: Target) -> None:
        """Raises NotFoundError when the variable was already gone, unless an earlier attempt of this request may
        have deleted it: then the 404 is most likely that attempt's work, and this request counts as the delete."""
        what = f"deleting {key}"
        response = self.send("DELETE", f"{path}/{segment(uuid)}", what=what)
        if response.status_code == 404 and response.extensions.get(MAYBE_APPLIED):
            return
        self.check(response, what, f"variable {key} no longer exists in {target.describe()}")
