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
- The network writes, instance create and modify (and its `add_nic`/`remove_nic`) take
  `depends` (a list of job ids, or of (job id, final statuses) pairs; `params.job_depends`),
  sent in the body, from which rlib2 passes it to the opcode
  (baserlib.OpcodeResource._GetDepends), so a job waits for the ones it needs.
- TLS verification is on by default (`Endpoint.verify=True`); `verify` may name a CA
  file (Ganeti's rapi.pem is self-signed) and is off only when set to False.

Modules: `errors` (exceptions, `job_error`), `params` (argument encoding), `transport`
(`Endpoint`, session, retries, error mapping), `cluster`, `instances`, `jobs` and
`networks` (the calls per resource), `client` (`RapiClient`) and `pool` (`client_for`).
"""
from .client import RapiClient
from .errors import (JobFailed, JobTimeout, RapiBadRequest, RapiCertificateError, RapiConflict, RapiError,
                     RapiNotFound, RapiUnauthorized, RapiUnavailable, RapiUnsupported, job_error)
from .instances import NIC_PARAMS, nic_params
from .jobs import JOB_PENDING_STATUSES, WAIT_FOR_JOB_CHANGE_HOLD_S
from .params import job_depends
from .pool import client_for
from .transport import RETRY_STATUSES, Endpoint

__all__ = [
    "JOB_PENDING_STATUSES", "NIC_PARAMS", "RETRY_STATUSES", "WAIT_FOR_JOB_CHANGE_HOLD_S",
    "Endpoint", "JobFailed", "JobTimeout", "RapiBadRequest", "RapiCertificateError", "RapiClient",
    "RapiConflict", "RapiError", "RapiNotFound", "RapiUnauthorized", "RapiUnavailable", "RapiUnsupported",
    "client_for", "job_depends", "job_error", "nic_params",
]
