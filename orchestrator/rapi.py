"""A client for Ganeti's Remote API (RAPI 2) over one pooled `requests.Session`.

Reads are idempotent and retried by urllib3's Retry with backoff; writes are never
retried blindly (a retried create could start a second job), so callers decide.
Credentials are given to `requests` and never formatted into messages or logs.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

JOB_FINAL_STATUSES = frozenset({"success", "error", "canceled"})
JOB_PENDING_STATUSES = frozenset({"queued", "waiting", "running", "canceling"})


class RapiError(Exception):
    """A RAPI call failed; carries Ganeti's code, message and explanation."""

    def __init__(self, message: str, code: int | None = None, explain: Any = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.explain = explain


class RapiUnavailable(RapiError):
    """Transient: connection refused or dropped, timeout, or a 5xx. Safe to retry later."""


class RapiBadRequest(RapiError):
    pass


class RapiUnauthorized(RapiError):
    """401 (bad credentials) or 403 (a read-only user tried to write)."""


class RapiNotFound(RapiError):
    pass


class RapiConflict(RapiError):
    pass


class JobFailed(RapiError):
    """A Ganeti job ended in error or was canceled."""

    def __init__(self, message: str, error_class: str | None = None, ecode: str | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.ecode = ecode


_STATUS_ERRORS: dict[int, type[RapiError]] = {
    400: RapiBadRequest,
    401: RapiUnauthorized,
    403: RapiUnauthorized,
    404: RapiNotFound,
    409: RapiConflict,
}


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    username: str
    password: str = field(repr=False)
    verify: bool | str = True
    timeout: float = 10.0


def job_error(job: dict[str, Any]) -> JobFailed:
    """Ganeti's message for a failed job: the first failed opcode's [class, [msg, ecode]]."""
    statuses = job.get("opstatus") or []
    results = job.get("opresult") or []
    for status, result in zip(statuses, results):
        if status in ("error", "canceled"):
            if isinstance(result, list) and len(result) == 2 and isinstance(result[0], str):
                err_class, args = result
                args = args if isinstance(args, list) else [args]
                message = str(args[0]) if args else err_class
                ecode = args[1] if len(args) > 1 and isinstance(args[1], str) else None
                return JobFailed(f"{err_class}: {message}", err_class, ecode)
            return JobFailed(str(result) if result else f"opcode {status}")
    return JobFailed(f"job {job.get('id')} ended {job.get('status')}")


class RapiClient:
    """One cluster's RAPI. Thread-safe: `requests.Session` pools connections."""

    def __init__(self, endpoint: Endpoint, read_retries: int = 3):
        self.endpoint = endpoint
        self.session = requests.Session()
        self.session.auth = (endpoint.username, endpoint.password)
        self.session.verify = endpoint.verify
        self.session.headers.update({"Accept": "application/json", "User-Agent": "ganeti-orchestrator"})
        retry = Retry(
            total=read_retries,
            connect=read_retries,
            read=read_retries,
            status=read_retries,
            backoff_factor=0.2,
            backoff_jitter=0.2,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    # -- transport ---------------------------------------------------------
    def _request(self, method: str, path: str, *, params: dict | None = None, body: Any = None) -> Any:
        url = self.endpoint.base_url.rstrip("/") + path
        try:
            response = self.session.request(
                method, url, params=params, json=body, timeout=self.endpoint.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RapiUnavailable(f"{method} {path}: {type(exc).__name__}: cannot reach cluster") from None
        except requests.RequestException as exc:
            raise RapiUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise self._error(method, path, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise RapiUnavailable(f"{method} {path}: response is not JSON") from None

    @staticmethod
    def _error(method: str, path: str, response: requests.Response) -> RapiError:
        code = response.status_code
        message, explain = response.reason or "error", None
        try:
            body = response.json()
            if isinstance(body, dict):
                message = str(body.get("message") or message)
                explain = body.get("explain")
        except ValueError:
            pass
        cls = RapiUnavailable if code >= 500 else _STATUS_ERRORS.get(code, RapiError)
        return cls(f"{method} {path}: {code} {message}", code=code, explain=explain)

    @staticmethod
    def _write_params(reason: str | None, **extra: Any) -> dict[str, Any]:
        params = {k: v for k, v in extra.items() if v is not None}
        if reason:
            params["reason"] = reason
        return params

    # -- cluster -----------------------------------------------------------
    def version(self) -> int:
        return int(self._request("GET", "/version"))

    def info(self) -> dict[str, Any]:
        return self._request("GET", "/2/info")

    def features(self) -> list[str]:
        return self._request("GET", "/2/features")

    def nodes(self) -> list[dict[str, Any]]:
        return self._request("GET", "/2/nodes", params={"bulk": 1})

    # -- instances ---------------------------------------------------------
    def instances(self) -> list[dict[str, Any]]:
        return self._request("GET", "/2/instances", params={"bulk": 1})

    def instance(self, name: str) -> dict[str, Any]:
        return self._request("GET", f"/2/instances/{name}")

    def create_instance(self, spec: dict[str, Any], *, reason: str | None = None) -> int:
        body = {"__version__": 1, **spec}
        return int(self._request("POST", "/2/instances", params=self._write_params(reason), body=body))

    def delete_instance(self, name: str, *, reason: str | None = None) -> int:
        return int(self._request("DELETE", f"/2/instances/{name}", params=self._write_params(reason)))

    def startup(self, name: str, *, reason: str | None = None) -> int:
        return int(self._request("PUT", f"/2/instances/{name}/startup", params=self._write_params(reason)))

    def shutdown(self, name: str, *, reason: str | None = None, timeout: int | None = None) -> int:
        body = {"timeout": timeout} if timeout is not None else None
        return int(self._request("PUT", f"/2/instances/{name}/shutdown", params=self._write_params(reason),
                                 body=body))

    def reboot(self, name: str, *, reboot_type: str = "soft", reason: str | None = None) -> int:
        params = self._write_params(reason, type=reboot_type)
        return int(self._request("POST", f"/2/instances/{name}/reboot", params=params))

    def modify(self, name: str, *, reason: str | None = None, **changes: Any) -> int:
        return int(self._request("PUT", f"/2/instances/{name}/modify", params=self._write_params(reason),
                                 body=changes))

    # -- jobs --------------------------------------------------------------
    def job(self, job_id: int) -> dict[str, Any]:
        return self._request("GET", f"/2/jobs/{int(job_id)}")

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the cluster still holds, with its opcodes (one bulk call)."""
        return self._request("GET", "/2/jobs", params={"bulk": 1})


_clients: dict[tuple, RapiClient] = {}
_clients_lock = threading.Lock()


def client_for(backend, *, timeout: float = 10.0, ca_file: str | None = None) -> RapiClient:
    """The pooled client of a backend row, rebuilt when its address or credentials change."""
    verify: bool | str = (ca_file or True) if backend.verify_tls else False
    endpoint = Endpoint(backend.base_url, backend.username, backend.password, verify, timeout)
    key = (backend.id, endpoint)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            for stale in [k for k in _clients if k[0] == backend.id]:
                _clients.pop(stale).session.close()
            client = _clients[key] = RapiClient(endpoint)
        return client
