"""A client for Ganeti's Remote API (RAPI 2) over one pooled `requests.Session`.

Follows ganeti/ganeti doc/rapi.rst (resources, query arguments, error bodies) and
lib/rapi/client.py (how Ganeti's own client encodes them):

- Reads (GET) are idempotent and retried by urllib3's Retry with backoff on connection
  errors, read errors and 500/502/503/504. Writes (PUT/POST/DELETE) are never retried
  once the request may have reached the cluster: a retried create could start a second
  job. Callers decide, and find a write that did reach Ganeti by its `reason` trail.
- Every call has a timeout: `Endpoint.timeout` for connect and for each read, and the
  long poll of `/2/jobs/[id]/wait` gets the server's hold time on top. A GET's worst
  case is (read_retries + 1) timeouts plus the backoff.
- Every write takes `reason`, appended by Ganeti to the job's reason trail, so a job can
  be traced back to the operation that submitted it; `dry_run` and `force` are offered
  where rapi.rst documents the `dry-run` and `force` arguments.
- Credentials go to `requests` as basic auth and are never formatted into messages,
  logs or reprs (credentials in the URL's userinfo are lifted out and hidden too).
- TLS verification is on by default (`Endpoint.verify=True`); `verify` may name a CA
  file (Ganeti's rapi.pem is self-signed) and is off only when set to False.
"""
from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

from .ganeti import FINAL_JOB_STATUSES

log = logging.getLogger(__name__)

JOB_PENDING_STATUSES = frozenset({"queued", "waiting", "running", "canceling"})

# How long ganeti-rapi holds /2/jobs/[id]/wait before answering "no change" (rlib2's
# _WFJC_TIMEOUT); the client's read timeout for that call is this plus Endpoint.timeout.
WAIT_FOR_JOB_CHANGE_HOLD_S = 10.0

RETRY_STATUSES = (500, 502, 503, 504)


class RapiError(Exception):
    """A RAPI call failed; carries Ganeti's HTTP code, message and explanation."""

    def __init__(self, message: str, code: int | None = None, explain: Any = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.explain = explain


class RapiUnavailable(RapiError):
    """Transient: connection refused or dropped, timeout, or a 5xx. Safe to retry later
    (for a write: after checking, by its reason, whether it reached the cluster)."""


class RapiCertificateError(RapiUnavailable):
    """The cluster's TLS certificate did not verify against the configured CA (or the CA
    file is missing). Retrying will not help until the configuration changes."""


class RapiBadRequest(RapiError):
    """400 (or 415): Ganeti refused the request's parameters; resending it will not help."""


class RapiUnauthorized(RapiError):
    """401 (bad credentials) or 403 (a read-only user tried to write)."""


class RapiNotFound(RapiError):
    """404: no such resource (instance, node, network, group, job, or path)."""


class RapiConflict(RapiError):
    """409."""


class RapiUnsupported(RapiError):
    """405 or 501: this cluster does not serve that method on that resource."""


class JobFailed(RapiError):
    """A Ganeti job ended in error or was canceled. `error_class` and `ecode` are Ganeti's
    (e.g. "OpPrereqError", "already_exists"); see rapi.rst ``/2/jobs/[job_id]``."""

    def __init__(self, message: str, error_class: str | None = None, ecode: str | None = None,
                 *, job_id: int | None = None, status: str | None = None):
        super().__init__(message)
        self.error_class = error_class
        self.ecode = ecode
        self.job_id = job_id
        self.status = status


class JobTimeout(RapiError):
    """`wait_for_job` gave up while the job was still pending (the job goes on)."""


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


def job_error(job: dict[str, Any]) -> JobFailed:
    """Ganeti's message for a failed job: the first failed opcode's [class, [msg, ecode]]."""
    job_id, job_status = job.get("id"), job.get("status")
    statuses = job.get("opstatus") or []
    results = job.get("opresult") or []
    for status, result in zip(statuses, results):
        if status in ("error", "canceled"):
            if isinstance(result, list) and len(result) == 2 and isinstance(result[0], str):
                err_class, args = result
                args = args if isinstance(args, list) else [args]
                message = str(args[0]) if args else err_class
                ecode = args[1] if len(args) > 1 and isinstance(args[1], str) else None
                return JobFailed(f"{err_class}: {message}", err_class, ecode, job_id=job_id, status=job_status)
            return JobFailed(str(result) if result else f"opcode {status}", job_id=job_id, status=job_status)
    return JobFailed(f"job {job_id} ended {job_status}", job_id=job_id, status=job_status)


def _split_credentials(base_url: str) -> tuple[str, str | None, str | None]:
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


def _encode_query(query: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """rapi.rst "Generic parameter types": booleans are sent as 1 or 0."""
    out = []
    for name, value in query:
        if value is None:
            continue
        out.append((name, int(value) if isinstance(value, bool) else value))
    return out


def _timed_out(exc: Exception) -> bool:
    """Whether a requests error is a timeout (urllib3 wraps exhausted read timeouts in
    MaxRetryError, which requests re-raises as a plain ConnectionError)."""
    if isinstance(exc, requests.Timeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError: refused, unroutable
        return False
    return isinstance(reason, (ReadTimeoutError, ConnectTimeoutError))


def _seg(value: Any) -> str:
    """One path segment (an instance, node, group or network name), percent-encoded."""
    return quote(str(value), safe="")


class RapiClient:
    """One cluster's RAPI. Thread-safe: `requests.Session` pools connections."""

    def __init__(self, endpoint: Endpoint, read_retries: int = 3):
        self.endpoint = endpoint
        self.read_retries = read_retries
        self._base, url_user, url_password = _split_credentials(endpoint.base_url)
        self.session = requests.Session()
        if endpoint.username or url_user is None:
            self.session.auth = (endpoint.username, endpoint.password)
        else:  # credentials only in the URL: use them, but never show them
            self.session.auth = (url_user, url_password or "")
        self.session.verify = endpoint.verify
        self.session.headers.update({"Accept": "application/json", "User-Agent": "ganeti-orchestrator"})
        retry = Retry(
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
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __repr__(self) -> str:
        return (f"RapiClient(base_url={self._base!r}, username={self.session.auth[0]!r}, "
                f"verify={self.endpoint.verify!r}, timeout={self.endpoint.timeout!r})")

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "RapiClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- transport ---------------------------------------------------------
    def _request(self, method: str, path: str, *, query: Iterable[tuple[str, Any]] | dict | None = None,
                 body: Any = None, timeout: float | None = None) -> Any:
        url = self._base + path
        if isinstance(query, dict):
            query = list(query.items())
        params = _encode_query(query or [])
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, params=params or None, json=body,
                timeout=self.endpoint.timeout if timeout is None else timeout,
                # Per request, not only on the session: requests lets REQUESTS_CA_BUNDLE /
                # CURL_CA_BUNDLE override a session's verify (psf/requests#3829).
                verify=self.endpoint.verify,
                allow_redirects=False,  # RAPI never redirects; a followed POST would turn into a GET
            )
        except requests.exceptions.SSLError:
            raise RapiCertificateError(
                f"{method} {path}: TLS certificate verification failed"
                " (set the cluster's CA file, or turn verification off explicitly)") from None
        except (requests.Timeout, requests.ConnectionError) as exc:
            if _timed_out(exc):
                raise RapiUnavailable(f"{method} {path}: no answer within "
                                      f"{self.endpoint.timeout if timeout is None else timeout}s") from None
            raise RapiUnavailable(f"{method} {path}: {type(exc).__name__}: cannot reach cluster") from None
        except requests.RequestException as exc:
            raise RapiUnavailable(f"{method} {path}: {type(exc).__name__}") from None
        except OSError:  # requests' own check of the CA file path
            raise RapiCertificateError(f"{method} {path}: the configured CA file cannot be read") from None
        log.debug("RAPI %s %s%s -> %s in %.3fs", method, self._base, path, response.status_code,
                  time.monotonic() - started)
        if response.status_code >= 300:
            raise self._error(method, path, response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise RapiUnavailable(f"{method} {path}: response is not JSON") from None

    @staticmethod
    def _error(method: str, path: str, response: requests.Response) -> RapiError:
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

    @staticmethod
    def _write_params(reason: str | None, **extra: Any) -> list[tuple[str, Any]]:
        """Query arguments of a write: the given ones that are set (`dry_run` is rapi.rst's
        ``dry-run``), then the reason."""
        params = [("dry-run" if k == "dry_run" else k, v) for k, v in extra.items()
                  if v is not None and v is not False]
        if reason:
            params.append(("reason", reason))
        return params

    @staticmethod
    def _job_id(value: Any) -> int:
        """Writes answer a job id (an int; older Ganeti sent it as a string)."""
        try:
            return int(value)
        except (TypeError, ValueError):
            raise RapiError(f"expected a job id, got {type(value).__name__}") from None

    def _list(self, path: str, bulk: bool, key: str) -> list:
        """A collection: with bulk, one dict per item; without, just the names (or ids)."""
        items = self._request("GET", path, query=[("bulk", 1)] if bulk else None)
        if bulk:
            return items
        return [item[key] for item in items]

    # -- cluster -----------------------------------------------------------
    def version(self) -> int:
        """rapi.rst ``/version`` GET: the RAPI version, 2."""
        return int(self._request("GET", "/version"))

    def info(self) -> dict[str, Any]:
        """rapi.rst ``/2/info`` GET."""
        return self._request("GET", "/2/info")

    def features(self) -> list[str]:
        """rapi.rst ``/2/features`` GET."""
        return self._request("GET", "/2/features")

    # -- nodes and groups --------------------------------------------------
    def nodes(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/nodes`` GET: every node's N_FIELDS in one call (names without bulk)."""
        return self._list("/2/nodes", bulk, "id")

    def node(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/nodes/[node_name]`` GET."""
        return self._request("GET", f"/2/nodes/{_seg(name)}")

    def groups(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/groups`` GET."""
        return self._list("/2/groups", bulk, "name")

    def group(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/groups/[group_name]`` GET."""
        return self._request("GET", f"/2/groups/{_seg(name)}")

    # -- instances ---------------------------------------------------------
    def instances(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/instances`` GET: every instance's I_FIELDS in one call."""
        return self._list("/2/instances", bulk, "id")

    def instance(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/instances/[instance_name]`` GET; RapiNotFound if unknown."""
        return self._request("GET", f"/2/instances/{_seg(name)}")

    def create_instance(self, spec: dict[str, Any], *, reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances`` POST with request version 1; the job's result is the
        list of nodes chosen (also with dry_run, which creates nothing)."""
        body = {"__version__": 1, **spec}
        return self._job_id(self._request("POST", "/2/instances", query=self._write_params(reason, dry_run=dry_run),
                                          body=body))

    def delete_instance(self, name: str, *, reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]`` DELETE."""
        return self._job_id(self._request("DELETE", f"/2/instances/{_seg(name)}",
                                          query=self._write_params(reason, dry_run=dry_run)))

    def instance_info(self, name: str, *, static: bool = False, reason: str | None = None) -> int:
        """rapi.rst ``/2/instances/[instance_name]/info`` GET: submits a job whose result
        is {name: details}; `static` skips asking the nodes for live state."""
        query = [("static", 1)] if static else []
        if reason:
            query.append(("reason", reason))
        return self._job_id(self._request("GET", f"/2/instances/{_seg(name)}/info", query=query))

    def startup(self, name: str, *, reason: str | None = None, force: bool = False, dry_run: bool = False,
                no_remember: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/startup`` PUT."""
        params = self._write_params(reason, force=force, dry_run=dry_run, no_remember=no_remember)
        return self._job_id(self._request("PUT", f"/2/instances/{_seg(name)}/startup", query=params))

    def shutdown(self, name: str, *, reason: str | None = None, timeout: int | None = None,
                 dry_run: bool = False, no_remember: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/shutdown`` PUT; `timeout` (seconds before
        the hypervisor forces it off) is a body parameter."""
        body = {"timeout": timeout} if timeout is not None else None
        params = self._write_params(reason, dry_run=dry_run, no_remember=no_remember)
        return self._job_id(self._request("PUT", f"/2/instances/{_seg(name)}/shutdown", query=params, body=body))

    def reboot(self, name: str, *, reboot_type: str = "soft", reason: str | None = None, dry_run: bool = False,
               ignore_secondaries: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/reboot`` POST, type soft, hard or full."""
        params = self._write_params(reason, type=reboot_type, dry_run=dry_run,
                                    ignore_secondaries=ignore_secondaries)
        return self._job_id(self._request("POST", f"/2/instances/{_seg(name)}/reboot", query=params))

    def modify(self, name: str, *, reason: str | None = None, dry_run: bool = False, force: bool = False,
               **changes: Any) -> int:
        """rapi.rst ``/2/instances/[instance_name]/modify`` PUT; `changes` are the body
        (OP_INSTANCE_SET_PARAMS: beparams, hvparams, nics [[op, index, params]], disks,
        hotplug, runtime_mem, ...). This resource takes no query arguments, so `dry_run`
        and `force` travel as the opcode's body parameters."""
        body = dict(changes)
        if dry_run:
            body["dry_run"] = True
        if force:
            body["force"] = True
        return self._job_id(self._request("PUT", f"/2/instances/{_seg(name)}/modify",
                                          query=self._write_params(reason), body=body))

    def rename_instance(self, name: str, new_name: str, *, ip_check: bool | None = None,
                        name_check: bool | None = None, reason: str | None = None) -> int:
        """rapi.rst ``/2/instances/[instance_name]/rename`` PUT (the instance must be down)."""
        body: dict[str, Any] = {"new_name": new_name}
        if ip_check is not None:
            body["ip_check"] = ip_check
        if name_check is not None:
            body["name_check"] = name_check
        return self._job_id(self._request("PUT", f"/2/instances/{_seg(name)}/rename",
                                          query=self._write_params(reason), body=body))

    def instance_tags(self, name: str) -> list[str]:
        """rapi.rst ``/2/instances/[instance_name]/tags`` GET."""
        return self._request("GET", f"/2/instances/{_seg(name)}/tags")

    def add_instance_tags(self, name: str, tags: Iterable[str], *, reason: str | None = None,
                          dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/tags`` PUT: tags as repeated `tag` arguments."""
        query = [("tag", t) for t in tags] + self._write_params(reason, dry_run=dry_run)
        return self._job_id(self._request("PUT", f"/2/instances/{_seg(name)}/tags", query=query))

    def delete_instance_tags(self, name: str, tags: Iterable[str], *, reason: str | None = None,
                             dry_run: bool = False) -> int:
        """rapi.rst ``/2/instances/[instance_name]/tags`` DELETE ``?tag=[tag]&tag=[tag]``."""
        query = [("tag", t) for t in tags] + self._write_params(reason, dry_run=dry_run)
        return self._job_id(self._request("DELETE", f"/2/instances/{_seg(name)}/tags", query=query))

    # -- jobs --------------------------------------------------------------
    def job(self, job_id: int) -> dict[str, Any]:
        """rapi.rst ``/2/jobs/[job_id]`` GET: id, ops, status, summary, opstatus, opresult,
        oplog and the received/start/end timestamps."""
        return self._request("GET", f"/2/jobs/{int(job_id)}")

    def jobs(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/jobs`` GET: every job the cluster still holds, with its opcodes
        (one bulk call); without bulk, the job ids."""
        if bulk:
            return self._request("GET", "/2/jobs", query=[("bulk", 1)])
        return [int(j["id"]) for j in self._request("GET", "/2/jobs")]

    def cancel_job(self, job_id: int) -> tuple[bool, str]:
        """rapi.rst ``/2/jobs/[job_id]`` DELETE: cancel a not-yet-started job. Ganeti answers
        (success, message); a running job is not canceled (False)."""
        result = self._request("DELETE", f"/2/jobs/{int(job_id)}")
        if isinstance(result, (list, tuple)) and len(result) == 2:
            return bool(result[0]), str(result[1])
        return bool(result), str(result)

    def wait_for_job_change(self, job_id: int, fields: list[str], prev_job_info: list | None = None,
                            prev_log_serial: int | None = None, timeout: float | None = None) -> dict | None:
        """rapi.rst ``/2/jobs/[job_id]/wait`` GET (needs a user with write access): blocks
        until the job's `fields` differ from `prev_job_info` or it logs past
        `prev_log_serial`; None if nothing changed within the server's hold time, else
        {"job_info": [...], "log_entries": [[serial, [sec, usec], type, message], ...]}.
        `timeout` is the HTTP read timeout, by default the server's hold time plus the
        endpoint's timeout."""
        body = {"fields": fields, "previous_job_info": prev_job_info, "previous_log_serial": prev_log_serial}
        if timeout is None:
            timeout = WAIT_FOR_JOB_CHANGE_HOLD_S + self.endpoint.timeout
        return self._request("GET", f"/2/jobs/{int(job_id)}/wait", body=body, timeout=timeout)

    def wait_for_job(self, job_id: int, *, timeout: float = 60.0) -> dict[str, Any]:
        """Follow a job with the long poll until it ends; its full record on success,
        JobFailed if it failed or was canceled, JobTimeout if still pending at `timeout`
        (which may be overrun by up to the server's hold time). For the CLI and tests:
        Celery tasks poll with `job()` and `self.retry`, never by blocking a worker."""
        deadline = time.monotonic() + timeout
        info, serial = None, None
        while True:
            if info is not None and info[0] in FINAL_JOB_STATUSES:
                job = self.job(job_id)
                if job.get("status") == "success":
                    return job
                raise job_error(job)
            if time.monotonic() >= deadline:
                raise JobTimeout(f"job {int(job_id)} still {info[0] if info else 'pending'} after {timeout}s")
            change = self.wait_for_job_change(job_id, ["status"], info, serial)
            if change is None:
                continue
            info = change["job_info"]
            for entry in change.get("log_entries") or []:
                serial = max(serial or 0, int(entry[0]))

    # -- networks ----------------------------------------------------------
    def networks(self, *, bulk: bool = True) -> list:
        """rapi.rst ``/2/networks`` GET: every network's NET_FIELDS in one call."""
        return self._list("/2/networks", bulk, "name")

    def network(self, name: str) -> dict[str, Any]:
        """rapi.rst ``/2/networks/[network_name]`` GET."""
        return self._request("GET", f"/2/networks/{_seg(name)}")

    def create_network(self, name: str, network: str, *, gateway: str | None = None,
                       network6: str | None = None, gateway6: str | None = None, mac_prefix: str | None = None,
                       add_reserved_ips: list[str] | None = None, tags: list[str] | None = None,
                       conflicts_check: bool | None = None, reason: str | None = None,
                       dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks`` POST (OP_NETWORK_ADD)."""
        body: dict[str, Any] = {"network_name": name, "network": network}
        for key, value in (("gateway", gateway), ("network6", network6), ("gateway6", gateway6),
                           ("mac_prefix", mac_prefix), ("add_reserved_ips", add_reserved_ips),
                           ("tags", tags), ("conflicts_check", conflicts_check)):
            if value is not None:
                body[key] = list(value) if key in ("add_reserved_ips", "tags") else value
        return self._job_id(self._request("POST", "/2/networks", query=self._write_params(reason, dry_run=dry_run),
                                          body=body))

    def delete_network(self, name: str, *, reason: str | None = None, dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]`` DELETE (it must be disconnected first)."""
        return self._job_id(self._request("DELETE", f"/2/networks/{_seg(name)}",
                                          query=self._write_params(reason, dry_run=dry_run)))

    def connect_network(self, name: str, group_name: str, mode: str, link: str, vlan: str = "", *,
                        conflicts_check: bool | None = None, reason: str | None = None,
                        dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]/connect`` PUT (OP_NETWORK_CONNECT)."""
        body: dict[str, Any] = {"group_name": group_name, "network_mode": mode, "network_link": link,
                                "network_vlan": vlan}
        if conflicts_check is not None:
            body["conflicts_check"] = conflicts_check
        return self._job_id(self._request("PUT", f"/2/networks/{_seg(name)}/connect",
                                          query=self._write_params(reason, dry_run=dry_run), body=body))

    def disconnect_network(self, name: str, group_name: str, *, reason: str | None = None,
                           dry_run: bool = False) -> int:
        """rapi.rst ``/2/networks/[network_name]/disconnect`` PUT (OP_NETWORK_DISCONNECT)."""
        return self._job_id(self._request("PUT", f"/2/networks/{_seg(name)}/disconnect",
                                          query=self._write_params(reason, dry_run=dry_run),
                                          body={"group_name": group_name}))

    def modify_network(self, name: str, *, reason: str | None = None, **changes: Any) -> int:
        """rapi.rst ``/2/networks/[network_name]/modify`` PUT; `changes` are the body
        (OP_NETWORK_SET_PARAMS: gateway, network6, gateway6, mac_prefix, add_reserved_ips,
        remove_reserved_ips)."""
        return self._job_id(self._request("PUT", f"/2/networks/{_seg(name)}/modify",
                                          query=self._write_params(reason), body=changes))


_clients: dict[tuple, RapiClient] = {}
_clients_lock = threading.Lock()


def client_for(backend, *, timeout: float = 10.0, ca_file: str | None = None, read_retries: int = 3) -> RapiClient:
    """The pooled client of a backend row, rebuilt when its address or credentials change."""
    verify: bool | str = (ca_file or True) if backend.verify_tls else False
    endpoint = Endpoint(backend.base_url, backend.username, backend.password, verify, timeout)
    key = (backend.id, endpoint, read_retries)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            for stale in [k for k in _clients if k[0] == backend.id and k[1] != endpoint]:
                _clients.pop(stale).session.close()
            client = _clients[key] = RapiClient(endpoint, read_retries=read_retries)
        return client
