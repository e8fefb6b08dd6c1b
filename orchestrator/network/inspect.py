"""A network beside its Ganeti network on every backend, as snf-manage network-inspect shows
it: read from the clusters because an administrator asked (nothing else on a request path
calls a cluster).

One GET /2/networks/<BACKEND_PREFIX_ID>net-<id> per backend that is not offline; the reads
run side by side (at most MAX_PARALLEL_READS at a time), each bounded by its client's total
deadline, so a cluster that does not answer costs one deadline, not one per backend. An
offline backend is listed with its reason and not called. A 404 means the cluster has no
such network (`ganeti` None); any other failure is that backend's `error`, one line, never
raised.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import DomainError
from ..models import Backend, BackendNetwork, Network
from ..rapi import RapiClient, RapiError, RapiNotFound

# What is shown of Ganeti's network (rapi.rst /2/networks/[network_name], NET_FIELDS).
GANETI_FIELDS = ("name", "network", "gateway", "mac_prefix", "free_count", "reserved_count", "map",
                 "group_list", "inst_list", "external_reservations")
# What is shown of the backend_networks row.
ROW_FIELDS = ("state", "job_id", "job_status")
MAX_PARALLEL_READS = 8
ERROR_MAX = 500


def one_line(message: str) -> str:
    """An error as one line of bounded length."""
    text = " ".join(str(message).split())
    return text if len(text) <= ERROR_MAX else text[:ERROR_MAX - 3] + "..."


def read_ganeti_network(client: RapiClient, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """(the network's GANETI_FIELDS, None), (None, None) when the cluster has none by that
    name, or (None, the error) when it could not be read."""
    try:
        answer = client.network(name)
    except RapiNotFound:
        return None, None
    except RapiError as exc:
        return None, one_line(exc.message)
    if not isinstance(answer, dict):
        return None, f"GET /2/networks/{name}: the answer is not a network"
    return {key: answer.get(key) for key in GANETI_FIELDS}, None


def _row(row: BackendNetwork | None) -> dict[str, Any] | None:
    return None if row is None else {key: getattr(row, key) for key in ROW_FIELDS}


def inspect_network(session: Session, network: Network, client_for: Callable[[Backend], RapiClient],
                    prefix: str) -> dict[str, Any]:
    """{"network", "ganeti_name", "backends": [{"backend_id", "clustername", "offline",
    "row", "ganeti", "error"}]}, one entry per backend by id."""
    name = network.ganeti_name(prefix)
    rows = {row.backend_id: row for row in network.backend_networks}
    entries: list[dict[str, Any]] = []
    clients: list[tuple[dict[str, Any], RapiClient]] = []
    for backend in session.scalars(select(Backend).order_by(Backend.id)):
        entry = {"backend_id": backend.id, "clustername": backend.clustername, "offline": bool(backend.offline),
                 "row": _row(rows.get(backend.id)), "ganeti": None, "error": None}
        entries.append(entry)
        if backend.offline:
            entry["error"] = one_line(f"offline ({backend.offline_reason or 'no reason given'}): not read")
            continue
        try:
            # Opened here, in the caller's thread: the reads below touch no row and no session.
            clients.append((entry, client_for(backend)))
        except DomainError as exc:  # its stored password opens with no key (CredentialsError)
            entry["error"] = one_line(exc.message)
    if clients:
        with ThreadPoolExecutor(max_workers=min(len(clients), MAX_PARALLEL_READS),
                                thread_name_prefix="network-inspect") as pool:
            reads = [(entry, pool.submit(read_ganeti_network, client, name)) for entry, client in clients]
            for entry, read in reads:
                entry["ganeti"], entry["error"] = read.result()
    return {"network": network, "ganeti_name": name, "backends": entries}


# Ganeti's NIC fields of an instance (rapi.rst /2/instances/[instance_name], the nic.* lists).
NIC_FIELDS = ("name", "mac", "ip", "mode", "link", "network", "uuid")


def inspect_port(port, server, client: RapiClient | None, prefix: str) -> dict[str, Any]:
    """{"port", "ganeti_name", "instance", "nic", "error"}: a port beside the NIC of its name on
    its server's instance, read live (one GET /2/instances/<name>). `nic` None where the
    instance has no NIC of that name (or the port is on no server); a read that failed is
    `error`, one line."""
    found = {"port": port, "ganeti_name": port.ganeti_name(prefix), "instance": None, "nic": None, "error": None}
    if server is None or client is None:
        return found
    found["instance"] = server.instance_name(prefix)
    try:
        inst = client.instance(found["instance"])
    except RapiNotFound:
        found["error"] = f"the cluster has no instance {found['instance']}"
        return found
    except RapiError as exc:
        found["error"] = one_line(exc.message)
        return found
    columns = {key: list(inst.get(f"nic.{key}s") or []) for key in ("name", "mac", "ip", "mode", "link", "uuid")}
    columns["network"] = list(inst.get("nic.networks.names") or [])
    names = columns["name"]
    if found["ganeti_name"] in names:
        at = names.index(found["ganeti_name"])
        found["nic"] = {"index": at, **{key: (columns[key][at] if at < len(columns[key]) else None)
                                        for key in NIC_FIELDS}}
    return found
