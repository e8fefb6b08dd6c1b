"""One pooled RapiClient per backend row, shared by every task in a worker process so
connections are reused; a client is replaced when the row's address or credentials change.

The row stores its password sealed: the caller (the services' Context, which holds the keys)
opens it and passes it in, so the clear password lives only in the client's Endpoint."""
from __future__ import annotations

import threading

from .budget import Budget
from .client import RapiClient
from .transport import Endpoint

_clients: dict[tuple, RapiClient] = {}
_clients_lock = threading.Lock()


def client_for(backend, password: str, *, timeout: float = 10.0, ca_file: str | None = None,
               read_retries: int = 3, budget: Budget | None = None) -> RapiClient:
    """The pooled client of a backend row with its clear `password`, rebuilt when its address
    or credentials change; its calls draw from `budget` (the row's limits as read now)."""
    verify: bool | str = (ca_file or True) if backend.verify_tls else False
    endpoint = Endpoint(backend.base_url, backend.username, password, verify, timeout)
    key = (backend.id, endpoint, read_retries)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            for stale in [k for k in _clients if k[0] == backend.id and k[1] != endpoint]:
                _clients.pop(stale).session.close()
            client = _clients[key] = RapiClient(endpoint, read_retries=read_retries)
        client.budget = budget
        return client
