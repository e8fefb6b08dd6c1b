"""Helpers of the network and pool reconciliation drills: public networks made through the
API, drift made on the simulator over its RAPI (as an operator's gnt-network would, behind
the product's back), rows aged past the grace period, the CLI's table read back."""
from __future__ import annotations

import datetime as dt
import itertools

import requests
from sqlalchemy import update

from orchestrator.models import Backend, BackendNetwork, Network
from tests.integration.helpers import RAPI_AUTH, wait_operation
from tests.reconciliation.helpers import cluster_of, run_cli, sim, wait_job

_cidrs = (f"198.51.{i}.0/24" for i in itertools.count(10))


def first_backend(stack) -> int:
    with stack.session() as session:
        return session.query(Backend).order_by(Backend.id).first().id


def public_network(stack, backend_id: int, **body) -> dict:
    """A public network ACTIVE on one backend (its network_create ended)."""
    body = {"name": "recon-net", "type": "CUSTOM", "shared": True, "cidr": next(_cidrs),
            "backend_ids": [backend_id], **body}
    response = stack.client.post("/api/v1/networks", json=body, headers=stack.admin_headers)
    assert response.status_code == 202, response.json
    for op in response.json["operations"]:
        assert wait_operation(stack, op["id"], timeout=60)["status"] == "SUCCEEDED"
    shown = network(stack, response.json["id"])
    assert shown["status"] == "ACTIVE", shown
    return {**shown, "cidr": body["cidr"]}


def network(stack, network_id: int) -> dict:
    response = stack.client.get(f"/api/v1/networks/{network_id}", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return response.json


def ganeti_name(stack, network_id: int) -> str:
    return f"{stack.ctx.settings.backend_prefix_id}net-{network_id}"


def ganeti_network(stack, backend_id: int, name: str) -> dict | None:
    """The Ganeti network as the backend's cluster reports it in its bulk list (None: absent)."""
    response = requests.get(cluster_of(stack, backend_id).url + "/2/networks", params={"bulk": 1},
                            auth=RAPI_AUTH, timeout=5)
    response.raise_for_status()
    return next((n for n in response.json() if n["name"] == name), None)


def behind_the_back(stack, backend_id: int, method: str, path: str, **body) -> dict:
    """One RAPI write on the backend's cluster, not through the product, and its job's end."""
    cluster = cluster_of(stack, backend_id)
    job = sim(cluster, method, path, json=body or None).json()
    return wait_job(cluster, int(job))


def groups(gnet: dict | None) -> list[str]:
    return [g[0] for g in (gnet or {}).get("group_list") or []]


def age(stack, network_id: int, seconds: float = 600) -> None:
    """The network and its rows last changed `seconds` ago (past the grace period)."""
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)
    with stack.session() as session:
        session.execute(update(Network).where(Network.id == network_id).values(updated_at=past))
        session.execute(update(BackendNetwork).where(BackendNetwork.network_id == network_id)
                        .values(updated_at=past))
        session.commit()


def row_state(stack, network_id: int, backend_id: int) -> str | None:
    with stack.session() as session:
        row = session.query(BackendNetwork).filter_by(network_id=network_id, backend_id=backend_id).one_or_none()
        return row.state if row is not None else None


def operation_ids(stack, network_id: int) -> list[int]:
    from orchestrator.models import Operation

    with stack.session() as session:
        return [op.id for op in session.query(Operation).filter_by(network_id=network_id).order_by(Operation.id)]


def reconcile(*args: str) -> tuple[str, list[str]]:
    """`orchestrator reconcile ...`: its whole output, and the table's lines."""
    result = run_cli("reconcile", *args)
    assert result.exit_code == 0, result.output
    return result.output, result.output.splitlines()


def lines_about(lines: list[str], name: str) -> list[str]:
    """The table's rows naming `name` (a Ganeti network's name, or a pool's own row)."""
    return [line for line in lines if f" {name} " in f" {line} "]
