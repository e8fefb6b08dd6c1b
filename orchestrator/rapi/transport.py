"""One cluster's HTTP transport: a pooled `requests.Session` with urllib3's Retry, and the
mapping of every failure to a RapiError.

- Reads (GET) are idempotent and retried with backoff on connection errors, read errors
  and 500/502/503/504. Writes (PUT/POST/DELETE) are never retried once the request may
  have reached the cluster: a retried create could start a second job.
- Every call has a timeout: `Endpoint.timeout` for connect and for each read (callers may
  pass a longer one, as the long poll does), and a total deadline (`Endpoint.deadline`,
  by default three timeouts; never less than the call's own timeout and one more), retries
  included, so a cluster that trickles its answer cannot hold the caller (rapi.deadline).
- Credentials go to `requests` as basic auth and are never formatted into messages, logs
  or reprs; credentials in the URL's userinfo are lifted out and hidden too.
- With a `budget` (rapi.budget: the backend's requests per second and in flight, in Redis),
  every request draws from it first, each retried read again, and a call that finds no room
  in time raises RapiThrottled before anything is sent.
"""
from __future__ import annotations

import contextlib
import html
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from .budget import Budget
from .deadline import GuardedAdapter, within
from .errors import (RapiBadRequest, RapiCertificateError, RapiConflict, RapiError, RapiNotFound,
                     RapiUnauthorized, RapiUnavailable, RapiUnsupported)
from .params import encode_query

# The package's logger, as before the split into modules, so logging configuration and
# log records keep naming "orchestrator.rapi".
log = logging.getLogger(__package__)

RETRY_STATUSES = (500, 502, 503, 504)

_STATUS_ERRORS: dict[int, type[RapiError]] = {
    400: RapiBadRequest,
    401: RapiUnauthorized,
    403: RapiUnauthorized,
    404: RapiNotFound,
    405: RapiUnsupported,
    409: RapiConflict,
    415: RapiBadRequest,
    501: RapiUnsupported,
}


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    username: str
    password: str = field(repr=False)
    verify: bool | str = True  # True: system CAs; a path: that CA file; False: no verification
    timeout: float = 10.0
    deadline: float | None = None  # a whole call's limit; None: three timeouts

    def deadline_for(self, timeout: float) -> float:
        """The total deadline of a call whose read timeout is `timeout`."""
        return max(self.deadline or 3 * self.timeout, timeout + self.timeout)


def split_credentials(base_url: str) -> tuple[str, str | None, str | None]:
    """The URL without userinfo, and the userinfo's user and password if it had any."""
    parts = urlsplit(base_url)
    if parts.username is None and parts.password is None:
        return base_url.rstrip("/"), None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return clean.rstrip("/"), parts.username, parts.password


class BudgetedRetry(Retry):
    """urllib3's Retry that draws from the backend's budget before each new try (`draw`,
    when set): the cluster sees every try as a request."""

    draw = None

    def new(self, **kw: Any) -> "BudgetedRetry":
        retry = super().new(**kw)
        retry.draw = self.draw
        return retry

    def increment(self, *args, **kwargs) -> "BudgetedRetry":
        retry = super().increment(*args, **kwargs)  # raises when no try is left
        if self.draw is not None:
            self.draw()
        return retry


def read_retry(read_retries: int, draw=None) -> Retry:
    """urllib3's Retry for reads only: `allowed_methods` limits read and status retries
    to GET, so a write that may have reached Ganeti is never sent twice."""
    retry = BudgetedRetry(
        total=read_retries,
        connect=read_retries,
        read=read_retries,
        status=read_retries,
        backoff_factor=0.2,
        backoff_jitter=0.2,
        backoff_max=5.0,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),  # read and status retries: idempotent reads only
        raise_on_status=False,
    )
    retry.draw = draw
    return retry


def new_session(auth: tuple[str, str], verify: bool | str, read_retries: int, draw=None) -> requests.Session:
    """A session that pools connections (thread-safe) and retries reads (each retry drawn
    from a budget by `draw`, when given)."""
    session = requests.Session()
    session.auth = auth
    session.verify = verify
    session.headers.update({"Accept": "application/json", "User-Agent": "ganeti-orchestrator"})
    adapter = GuardedAdapter(max_retries=read_retry(read_retries, draw), pool_maxsize=16)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def timed_out(exc: Exception) -> bool:
    """Whether a requests error is a timeout (urllib3 wraps exhausted read timeouts in
    MaxRetryError, which requests re-raises as a plain ConnectionError)."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError: refused, unroutable
        return False
    return isinstance(reason, (ReadTimeoutError, ConnectTimeoutError))


def error_for(method: str, path: str, response: requests.Response) -> RapiError:
    """Ganeti's error body is {code, message, explain}, the message HTML-escaped
    (lib/http/server.py); the exception carries it unescaped."""
    code = response.status_code
    message, explain = response.reason or "error", None
    try:
        body = response.json()
        if isinstance(body, dict):
            message = html.unescape(str(body.get("message") or message))
            explain = body.get("explain")
    except ValueError:
        pass
    cls = _STATUS_ERRORS.get(code) or (RapiUnavailable if code >= 500 else RapiError)
    return cls(f"{method} {path}: {code} {message}", code=code, explain=explain)


def decode(method: str, path: str, response: requests.Response) -> Any:
    """A response's JSON body (None when empty); an error status raises its RapiError."""
    if response.status_code >= 300:
        raise error_for(method, path, response)
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise RapiUnavailable(f"{method} {path}: response is not JSON") from None


class Transport:
    """Sends RAPI requests to one endpoint; every failure comes out as a RapiError whose
    message names the method and path only (never the URL's credentials)."""

    def __init__(self, endpoint: Endpoint, read_retries: int = 3, budget: Budget | None = None):
        self.endpoint = endpoint
        self.budget = budget  # replaced as the backend's limits change (rapi.pool)
        self.base, url_user, url_password = split_credentials(endpoint.base_url)
        if endpoint.username or url_user is None:
            auth = (endpoint.username, endpoint.password)
        else:  # credentials only in the URL: use them, but never show them
            auth = (url_user, url_password or "")
        self.session = new_session(auth, endpoint.verify, read_retries, draw=self._draw_retry)

    def _draw_retry(self) -> None:
        budget = self.budget
        if budget is not None:
            budget.draw_retry()

    def budgeted(self, timeout: float) -> contextlib.AbstractContextManager:
        """Room for one call in the budget, its slot leased for the call's whole deadline."""
        budget = self.budget
        if budget is None:
            return contextlib.nullcontext()
        return budget.slot(self.endpoint.deadline_for(timeout) + 1.0)

    def request(self, method: str, path: str, *, query: Iterable[tuple[str, Any]] | dict | None = None,
                body: Any = None, timeout: float | None = None) -> Any:
        """One RAPI call: `query` pairs (a dict, or pairs for repeated names like `tag`),
        a JSON `body`, and a read timeout other than the endpoint's."""
        if isinstance(query, dict):
            query = list(query.items())
        params = encode_query(query or [])
        timeout = self.endpoint.timeout if timeout is None else timeout
        with self.budgeted(timeout):
            started = time.monotonic()
            response = self.send(method, path, params, body, timeout)
        log.debug("RAPI %s %s%s -> %s in %.3fs", method, self.base, path, response.status_code,
                  time.monotonic() - started)
        return decode(method, path, response)

    def exchange(self, method: str, path: str, params: list[tuple[str, Any]], body: Any,
                 timeout: float) -> requests.Response:
        """The HTTP exchange, its body read, within the call's total deadline."""
        deadline = self.endpoint.deadline_for(timeout)
        with within(deadline) as watch:
            try:
                response = self.session.request(
                    method, self.base + path, params=params or None, json=body, timeout=timeout,
                    # Per request, not only on the session: requests lets REQUESTS_CA_BUNDLE /
                    # CURL_CA_BUNDLE override a session's verify (psf/requests#3829).
                    verify=self.endpoint.verify,
                    allow_redirects=False,  # RAPI never redirects; a followed POST would turn into a GET
                )
            except (requests.RequestException, OSError):
                if not watch.expired:
                    raise
                response = None
        if watch.expired:  # a cut connection may also read as a short, complete-looking answer
            raise RapiUnavailable(f"{method} {path}: no complete answer within {deadline:g}s")
        return response

    def send(self, method: str, path: str, params: list[tuple[str, Any]], body: Any,
             timeout: float) -> requests.Response:
        """The HTTP exchange; errors before an answer become RapiUnavailable (or
        RapiCertificateError), each raised `from None` to keep requests' detail out."""
        try:
            return self.exchange(method, path, params, body, timeout)
        except requests.exceptions.SSLError:
            raise RapiCertificateError(
                f"{method} {path}: TLS certificate verification failed"
                " (set the cluster's CA file, or turn verification off explicitly)") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            if timed_out(exc):
                raise RapiUnavailable(f"{method} {path}: no answer within {timeout}s") from None
            raise RapiUnavailable(f"{method} {path}: {type(exc).__name__}: cannot reach cluster") from None
        except requests.RequestException as exc:
            raise RapiUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        except OSError:  # requests' own check of the CA file path
            raise RapiCertificateError(f"{method} {path}: the configured CA file cannot be read") from None

    def collection(self, path: str, bulk: bool, key: str) -> list:
        """A collection: with bulk, one dict per item; without, just the names (or ids)."""
        items = self.request("GET", path, query=[("bulk", 1)] if bulk else None)
        if bulk:
            return items
        return [item[key] for item in items]

    def close(self) -> None:
        self.session.close()
