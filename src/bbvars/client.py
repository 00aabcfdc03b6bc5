"""All HTTP to Bitbucket: retries, paging, error meanings. The engine calls these methods and nothing else."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Callable
from urllib.parse import quote, urlsplit

import httpx
import tenacity

from bbvars.auth import Hints, Token
from bbvars.errors import ApiError, ConflictError, NotFoundError
from bbvars.events import RetryWait
from bbvars.models import RemoteVariable, Target, Variable

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
PAGELEN = 100  # Bitbucket's maximum page length: fewest list requests
MAX_PAGES = 1000  # a server that never stops paging must not keep us forever
WRITE_SCOPE = "pipeline:variable"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # per request, the first included
    initial: float = 0.5  # first backoff in seconds, doubled each time, with as much jitter
    max_wait: float = 20.0  # longest single wait (also caps a Retry-After)
    max_total: float = 120.0  # stop retrying a request once this much time has passed since its first try


DEFAULT_RETRY = RetryPolicy()


# Set on a response when an earlier attempt of the same request may have reached Bitbucket and been applied.
MAYBE_APPLIED = "bbvars.maybe_applied"


class RetriedConflict(ConflictError):
    """409 on a create sent again after an attempt that may have been applied: likely our own first attempt."""


class RetryableStatus(Exception):
    def __init__(self, response: httpx.Response):
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def retry_after(exc: BaseException | None) -> float | None:
    if not isinstance(exc, RetryableStatus):
        return None
    header = exc.response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (ValueError, TypeError):
        return None  # unreadable: back off as if it were absent
    return max(0.0, when.timestamp() - time.time())


class WaitRetryAfterOrBackoff(tenacity.wait.wait_base):
    """Honour Retry-After when present; Bitbucket sends none on 429, so back off exponentially with jitter."""

    def __init__(self, policy: RetryPolicy):
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        hinted = retry_after(outcome.exception() if outcome is not None else None)
        if hinted is not None:
            return min(hinted, self.policy.max_wait)
        return self.backoff(retry_state.attempt_number)

    def backoff(self, attempt: int) -> float:
        # tenacity's wait_exponential_jitter, computed here: its `initial` is deprecated and `multiplier` is not in
        # every tenacity this package allows.
        initial = self.policy.initial
        try:
            base = initial * 2 ** (attempt - 1)
        except OverflowError:
            base = self.policy.max_wait
        return min(base + random.uniform(0, initial), self.policy.max_wait)


def is_retryable(exc: BaseException) -> bool:
    # A LocalProtocolError is our own request being malformed (a credential with a newline): no retry can help.
    return isinstance(exc, (httpx.TransportError, RetryableStatus)) and not isinstance(exc, httpx.LocalProtocolError)


def may_have_been_applied(exc: BaseException | None) -> bool:
    """Whether a failed attempt may still have been carried out: not when refused before it reached Bitbucket."""
    if isinstance(exc, RetryableStatus):
        return exc.response.status_code != 429
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def error_message(response: httpx.Response, redact: Callable[[str], str] | None = None) -> str:
    """Bitbucket's own words, from either error shape, on one line; never the request, which may hold a value.
    Known secrets are masked (`redact`) before the text is cut short, so a cut never leaves part of one."""
    text = _error_text(response)
    return " ".join((redact(text) if redact else text).split())[:300]


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip().splitlines()[0] if response.text.strip() else response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message", ""))
        if isinstance(error, str):
            return f"{error}: {body.get('error_description', '')}".strip(": ")
    return response.reason_phrase


def scope_detail(response: httpx.Response) -> tuple[list[str], list[str]]:
    try:
        detail = response.json()["error"]["detail"]
        return list(detail.get("granted", [])), list(detail.get("required", []))
    except (ValueError, KeyError, TypeError, AttributeError):
        return [], []


def segment(value: str) -> str:
    # Braces of uuids stay, percent-encoded; Bitbucket answers 400 without them.
    return quote(value, safe="")


def collection_path(target: Target, environment_uuid: str | None = None) -> str:
    ws = segment(target.workspace)
    if target.scope == "workspace":
        return f"workspaces/{ws}/pipelines-config/variables"
    repo = f"repositories/{ws}/{segment(target.repository or '')}"
    if target.scope == "repository":
        return f"{repo}/pipelines_config/variables"
    return f"{repo}/deployments_config/environments/{segment(environment_uuid or '')}/variables"


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
        hints: Hints | None = None,
        on_retry: Callable[[RetryWait], None] | None = None,
    ):
        self.hints = hints or Hints()  # what messages say for the credential kind in use (scopes, fixes)
        self.api_url = api_url.rstrip("/")
        self.on_retry = on_retry  # told of every retry wait (events.RetryWait), for a surface to show it
        self.redact = redact  # masks known secrets in Bitbucket's error texts before they are cut short
        self.retry = retry or DEFAULT_RETRY  # read at construction, so tests can shorten the module default
        self.log = log
        self.requests_sent = 0
        self.http = httpx.Client(
            base_url=self.api_url + "/",
            auth=auth,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
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

    def send(self, method: str, url: str, *, what: str, **kwargs) -> httpx.Response:
        """One logical request: retried on transport errors, 429 and 5xx; other answers returned as they are."""

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
            stop=tenacity.stop_after_attempt(self.retry.attempts) | tenacity.stop_after_delay(self.retry.max_total),
            before_sleep=before_sleep,
            reraise=True,
        )
        started = time.monotonic()
        try:
            for attempt in retrying:
                with attempt:
                    began = time.monotonic()
                    response = self.http.request(method, url, **kwargs)
                    self._debug(f"{method} {self._show(url)} -> {response.status_code} "
                                f"({(time.monotonic() - began) * 1000:.0f} ms)")
                    if response.status_code in RETRY_STATUSES:
                        raise RetryableStatus(response)
                    response.extensions[MAYBE_APPLIED] = maybe_applied
                    return response
        except RetryableStatus as exc:
            raise self._exhausted(exc.response.status_code, what, retrying, started) from None
        except httpx.LocalProtocolError as exc:
            raise ApiError(
                f"the request {what} could not be sent ({type(exc).__name__}): a credential or setting holds a "
                "character HTTP headers cannot carry, such as a line break: check the credentials as pasted",
                fatal=True,
            ) from None
        except httpx.TimeoutException as exc:
            raise ApiError(
                f"Bitbucket did not answer {what} within the timeout after {retrying.statistics.get('attempt_number')} "
                f"attempts ({type(exc).__name__}): re-run, or allow more time with the timeout setting",
                fatal=True,
            ) from None
        except httpx.TransportError as exc:
            host = urlsplit(str(self.http.base_url.join(url))).hostname
            raise ApiError(
                f"cannot reach Bitbucket at {host} ({type(exc).__name__}: {exc}): check the network and the API URL "
                "(BITBUCKET_API_URL / BITBUCKET_TOKEN_URL)",
                fatal=True,
            ) from None
        except httpx.HTTPError as exc:  # e.g. a body that does not decode as its Content-Encoding says
            raise ApiError(
                f"Bitbucket's answer {what} could not be read ({type(exc).__name__}: {exc}): check the network and "
                "the API URL (BITBUCKET_API_URL / BITBUCKET_TOKEN_URL)",
                fatal=True,
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

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

    # -- meanings of answers -----------------------------------------------------------------------------------

    def check(self, response: httpx.Response, what: str, not_found: str) -> httpx.Response:
        status = response.status_code
        if status < 300:
            return response
        if status < 400:
            # Redirects are never followed (they could carry the token elsewhere): a 3xx is not a success.
            raise ApiError(
                f"Bitbucket answered a redirect (HTTP {status}) {what}, which bbvars does not follow: check the API "
                "URL (BITBUCKET_API_URL)",
                status,
                fatal=True,
            )
        message = error_message(response, self.redact)
        if status == 401:
            raise ApiError(f"Bitbucket refused the credentials {what} (401: {message}): {self.hints.refused}", 401,
                           fatal=True)
        if status == 403:
            granted, required = scope_detail(response)
            if required:
                raise ApiError(
                    f"the credentials lack the scope {', '.join(required)} {what} (granted: "
                    f"{', '.join(granted) or 'none'}): {self.hints.grant}",
                    403,
                    fatal=True,
                )
            raise ApiError(f"Bitbucket denied access {what} (403: {message}): {self.hints.denied}", 403, fatal=True)
        if status == 404:
            raise NotFoundError(f"{not_found} (404: {message})", 404)
        if status == 409:
            raise ConflictError(f"conflict {what} (409: {message})", 409)
        raise ApiError(f"Bitbucket answered HTTP {status} {what}: {message}: check the key and value; --debug "
                       "(DEBUG) logs the requests", status)

    # -- token ---------------------------------------------------------------------------------------------------

    def fetch_token(self, token_url: str, client_id: str, client_secret: str) -> Token:
        return self.request_token(token_url, client_id, client_secret, {"grant_type": "client_credentials"})

    def request_token(self, token_url: str, client_id: str, client_secret: str, form: dict) -> Token:
        """One token request of any grant (client_credentials, authorization_code, refresh_token), with the
        consumer's key and secret as HTTP Basic."""
        response = self.send("POST", token_url, what="for a token", data=form,
                             auth=httpx.BasicAuth(client_id, client_secret))
        return parse_token_answer(response, self.redact, str(form.get("grant_type", "")))

    # -- listing -------------------------------------------------------------------------------------------------

    def list_all(self, path: str, what: str, not_found: str) -> list[dict]:
        """Every item of a paged collection, at 100 a page; robust to a missing `next` (BCLOUD-20639)."""
        items: list[dict] = []
        url, params, page = path, {"pagelen": PAGELEN}, 1
        api = urlsplit(self.api_url)
        for _ in range(MAX_PAGES):
            response = self.check(self.send("GET", url, what=what, params=params), what, not_found)
            try:
                data = response.json()
            except ValueError:
                raise ApiError(
                    f"{self._show(url)} answered {what} with something that is not JSON "
                    f"({response.headers.get('Content-Type', 'no content type')}): check BITBUCKET_API_URL",
                    response.status_code,
                    fatal=True,
                ) from None
            values = data.get("values") if isinstance(data, dict) else None
            values = values if isinstance(values, list) else []
            items.extend(v for v in values if isinstance(v, dict))
            if not values:
                break  # always stop on an empty page
            page = data["page"] if isinstance(data.get("page"), int) else page
            link = data.get("next")
            if isinstance(link, str) and urlsplit(link).netloc == api.netloc and urlsplit(link).scheme == api.scheme:
                url, params, page = link, None, page + 1  # follow `next` as given, but never to another host
                continue
            size = data.get("size")
            # A full page is evidence of more: full by our page length, or by the server's if it gave a shorter one.
            pagelen = data.get("pagelen")
            full = PAGELEN if not isinstance(pagelen, int) or pagelen <= 0 else min(pagelen, PAGELEN)
            # `size`, when given, is the total: trust it, or a collection of exactly 100 costs an extra request.
            more = len(items) < size if isinstance(size, int) else len(values) >= full
            if not more:
                break
            url, params, page = path, {"pagelen": PAGELEN, "page": page + 1}, page + 1
        return items

    def list_variables(self, path: str, target: Target) -> list[RemoteVariable]:
        data = self.list_all(path, f"listing the variables of {target.describe()}", not_found_text(target))
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
        what = f"deleting {key}"
        self.check(
            self.send("DELETE", f"{path}/{segment(uuid)}", what=what),
            what,
            f"variable {key} no longer exists in {target.describe()}",
        )


def json_object(response: httpx.Response) -> dict:
    """A write's answer body; the write succeeded whatever it holds, so an unreadable body is no error."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def not_found_text(target: Target) -> str:
    if target.scope == "workspace":
        return (f"workspace {target.workspace} not found: check the workspace slug, and that the consumer's account "
                "is a member")
    return (f"repository {target.workspace}/{target.repository} not found: check the workspace and repository slugs, "
            "and that the consumer's account can see it")


def parse_token_answer(response: httpx.Response, redact: Callable[[str], str] | None = None,
                       grant: str = "client_credentials") -> Token:
    if response.status_code == 200:
        try:
            body = response.json()
            token = body["access_token"]
        except (ValueError, KeyError, TypeError):
            raise ApiError("the token URL answered 200 without an access_token: check BITBUCKET_TOKEN_URL",
                           fatal=True) from None
        # Bitbucket renamed `scopes` to `scope` in 2026; accept either.
        scopes = body.get("scope", body.get("scopes", ""))
        if isinstance(scopes, list):
            scopes = " ".join(map(str, scopes))
        expires = body.get("expires_in")
        refresh = body.get("refresh_token")
        return Token(str(token), str(body.get("token_type", "bearer")), expires if isinstance(expires, int) else None,
                     str(scopes), str(refresh) if isinstance(refresh, str) and refresh else None)
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error") if isinstance(body, dict) else None
    description = str(body.get("error_description", "")) if isinstance(body, dict) else ""
    if error == "unauthorized_client" or error == "invalid_client" or response.status_code == 401:
        raise ApiError(
            "Bitbucket rejected the OAuth client id or secret (unauthorized_client): check the consumer's Key and "
            "Secret (BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET, or the client_id/client_secret inputs)",
            response.status_code,
            fatal=True,
        )
    if error == "invalid_grant" and grant == "refresh_token":
        raise ApiError(
            "Bitbucket refused the stored login's refresh token (invalid_grant: it expires after 3 months unused, "
            "and the consumer may have been changed or access revoked): run `bbvars login` again",
            response.status_code,
            fatal=True,
        )
    if error == "invalid_grant" and grant == "authorization_code":
        raise ApiError(
            "Bitbucket refused the authorization code (invalid_grant: it is single-use and short-lived, and the "
            "consumer's callback URL must match): run `bbvars login` again",
            response.status_code,
            fatal=True,
        )
    if error == "invalid_grant" and "public" in description.lower():
        raise ApiError(
            "the OAuth consumer is public, and client credentials need a private one: edit the consumer in "
            "Bitbucket (Workspace settings > OAuth consumers) and tick 'This is a private consumer' (or, to act as "
            "yourself after `bbvars login`, unset BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET)",
            response.status_code,
            fatal=True,
        )
    if response.status_code == 404:
        raise ApiError("the token URL answered 404: check BITBUCKET_TOKEN_URL", 404, fatal=True)
    detail = f"{error}: {description}" if error else error_message(response, redact)
    detail = redact(detail) if redact else detail  # before it is cut short
    raise ApiError(f"getting a token failed (HTTP {response.status_code}: {detail[:200]}): check the OAuth consumer",
                   response.status_code, fatal=True)
