"""`RapiClient`: one cluster's RAPI, its calls grouped by resource in the *Calls classes
and sent by a `Transport`."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .budget import Budget
from .cluster import ClusterCalls
from .instances import InstanceCalls
from .jobs import JobCalls
from .networks import NetworkCalls
from .transport import Endpoint, Transport


class RapiClient(ClusterCalls, InstanceCalls, JobCalls, NetworkCalls):
    """One cluster's RAPI. Thread-safe: `requests.Session` pools connections."""

    def __init__(self, endpoint: Endpoint, read_retries: int = 3, budget: Budget | None = None):
        self.endpoint = endpoint
        self.read_retries = read_retries
        self.transport = Transport(endpoint, read_retries, budget)
        self.session = self.transport.session  # callers close it, or inspect its auth and adapters

    def __repr__(self) -> str:
        return (f"RapiClient(base_url={self.transport.base!r}, username={self.session.auth[0]!r}, "
                f"verify={self.endpoint.verify!r}, timeout={self.endpoint.timeout!r})")

    @property
    def budget(self) -> Budget | None:
        """The backend's request budget every call draws from (rapi.budget), if it has one."""
        return self.transport.budget

    @budget.setter
    def budget(self, budget: Budget | None) -> None:
        self.transport.budget = budget

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> "RapiClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _request(self, method: str, path: str, *, query: Iterable[tuple[str, Any]] | dict | None = None,
                 body: Any = None, timeout: float | None = None) -> Any:
        """A raw call on any path, for tests that probe methods no resource call makes."""
        return self.transport.request(method, path, query=query, body=body, timeout=timeout)
