"""Helpers for the reconciliation drills: the simulator's faults over HTTP and its Python
API, direct database writes a drill needs (aging a row, a lost operation), the CLI."""
from __future__ import annotations

import datetime as dt
import re
import threading
from collections import Counter
from typing import Any

import requests
from click.testing import CliRunner
from sqlalchemy import insert, select, update

from ganeti_sim import constants as C
from orchestrator.models import Backend, Flavor, Server

RAPI_AUTH = ("rapi", "rapi-secret")
# Every stack sits on the same fleet shape: cluster i is backend i+1 (matched by port below).


def cluster_of(stack, backend_id: int):
    """The SimCluster behind a backend row (matched by port: base_port=0 gives any port)."""
    with stack.session() as session:
        port = session.get(Backend, backend_id).port
    return next(c for c in stack.sim.clusters if c.port == port)


def backend_ids(stack) -> list[int]:
    with stack.session() as session:
        return list(session.scalars(select(Backend.id).order_by(Backend.id)))


def sim(cluster, method: str, path: str, **kw) -> requests.Response:
    """A request to one simulated cluster (RAPI or its /sim admin endpoints)."""
    response = requests.request(method, cluster.url + path, auth=RAPI_AUTH, timeout=10, **kw)
    assert response.status_code == 200, (method, path, response.status_code, response.text)
    return response


def wait_job(cluster, job_id: int, timeout: float = 20.0) -> dict:
    from tests.conftest import wait_for

    return wait_for(lambda: (lambda j: j if j["status"] in ("success", "error", "canceled") else None)(
        sim(cluster, "GET", f"/2/jobs/{job_id}").json()), timeout, what=f"job {job_id}")


def run_cli(*args: str):
    from orchestrator.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def cli_run_id(output: str) -> int:
    match = re.search(r"^run (\d+):", output, re.M)
    assert match, output
    return int(match.group(1))


def api_run(stack, run_id: int) -> dict:
    response = stack.client.get(f"/api/v1/reconciliation/runs/{run_id}", headers=stack.admin_headers)
    assert response.status_code == 200, response.json
    return response.json


def findings_for(run: dict, server_ids) -> dict[int, list[dict]]:
    wanted = set(server_ids)
    out: dict[int, list[dict]] = {}
    for f in run["findings"]:
        if f["server_id"] in wanted:
            out.setdefault(f["server_id"], []).append(f)
    return out


def kinds_for(run: dict, server_ids) -> dict[int, list[str]]:
    return {sid: sorted(f["kind"] for f in fs) for sid, fs in findings_for(run, server_ids).items()}


def run_task(stack, fixes: list[str] | None, staggered: bool = False, backend_id: int | None = None) -> dict:
    """The beat's task, run by the stack's real worker."""
    result = stack.celery.send_task("orchestrator.periodic.reconcile_servers",
                           kwargs={"fixes": fixes, "staggered": staggered, "backend_id": backend_id})
    return result.get(timeout=60)


def age(stack, server_ids, seconds: float = 600) -> None:
    """Pretend the servers last changed `seconds` ago (past reconciliation's grace period)."""
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)
    with stack.session() as session:
        session.execute(update(Server).where(Server.id.in_(list(server_ids))).values(updated_at=past)
                        .execution_options(synchronize_session=False))
        session.commit()


def set_columns(stack, server_id: int, **values: Any) -> None:
    """Write a server's columns directly (the drill's own hand in the database)."""
    with stack.session() as session:
        server = session.get(Server, server_id)
        for key, value in values.items():
            setattr(server, key, value)
        session.commit()


def sync_nics(stack, server_ids) -> None:
    """Record each server's NICs as its cluster shows them (as the agent's hook would)."""
    from orchestrator.reconciliation import instance_nics
    from tests.integration.helpers import instances_named

    for sid in server_ids:
        (inst,) = instances_named(stack, f"snf-{sid}")
        set_columns(stack, sid, nics=instance_nics(inst))


class RequestLog:
    """Every request each simulated cluster receives, recorded on the simulator's side
    (its WSGI app's `handle`), so a drill can count bulk calls without mocking the client."""

    def __init__(self, clusters):
        self.clusters = list(clusters)
        self.entries: list[tuple[str, str, str, str]] = []
        self._lock = threading.Lock()

    def install(self) -> "RequestLog":
        for cluster in self.clusters:
            original = cluster.app.handle

            def handle(environ, _original=original, _name=cluster.name):
                with self._lock:
                    self.entries.append((_name, environ["REQUEST_METHOD"], environ.get("PATH_INFO") or "/",
                                         environ.get("QUERY_STRING") or ""))
                return _original(environ)

            cluster.app.handle = handle  # the instance attribute shadows the method
        return self

    def uninstall(self) -> None:
        for cluster in self.clusters:
            cluster.app.__dict__.pop("handle", None)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def rapi(self) -> list[tuple[str, str, str, str]]:
        """RAPI requests only (not the drills' own /sim admin calls)."""
        with self._lock:
            return [e for e in self.entries if not e[2].startswith("/sim")]

    def bulk_instance_calls(self) -> Counter:
        return Counter(name for name, method, path, query in self.rapi()
                       if method == "GET" and path.rstrip("/") == "/2/instances" and "bulk=1" in query)

    def per_cluster(self) -> Counter:
        return Counter(name for name, *_ in self.rapi())


def adopt_instances(stack, backend_id: int, count: int, *, flavor_id: int = 1, image_id: int = 1,
                    user_id: str = "recon-scale") -> list[int]:
    """`count` servers that are in agreement: instances added with the simulator's
    `populate` (stopped, so they hold no memory), renamed to the servers' names, and rows
    bulk-inserted with SQLAlchemy core (ids from RETURNING, so sequences stay right)."""
    cluster = cluster_of(stack, backend_id)
    state = cluster.cluster
    with stack.session() as session:
        ram = session.get(Flavor, flavor_id).ram
    names = state.populate(count, memory=ram, disk=256, prefix="recon")
    with state.lock:
        insts = [state.instances[n] for n in names]
        for inst in insts:
            state.set_running(inst, False)
            inst.admin_state = C.ADMIN_DOWN
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    rows = [{"user_id": user_id, "name": f"recon-{i}", "flavor_id": flavor_id, "image_id": image_id,
             "backend_id": backend_id, "operstate": "STOPPED", "build_percentage": 100,
             "backend_opcode": "OP_INSTANCE_SHUTDOWN", "backend_job_status": "success",
             "nics": [{"index": 0, "ip": None, "mac": inst.nics[0]["mac"], "network": None}],
             "created_at": long_ago, "updated_at": long_ago} for i, inst in enumerate(insts)]
    with stack.session() as session:
        ids = list(session.scalars(insert(Server).returning(Server.id, sort_by_parameter_order=True), rows))
        session.commit()
    with state.lock:
        for inst, sid in zip(insts, ids):
            old, new = inst.name, f"snf-{sid}"
            del state.instances[old]
            inst.name = new
            state.instances[new] = inst
            node = state.nodes[inst.pnode]
            node.pinst.discard(old)
            node.pinst.add(new)
    return ids


def forget_servers(stack, backend_id: int, server_ids) -> None:
    """Undo `adopt_instances`: instances removed from the simulator, rows marked deleted."""
    state = cluster_of(stack, backend_id).cluster
    with state.lock:
        for sid in server_ids:
            inst = state.instances.get(f"snf-{sid}")
            if inst is not None:
                state.remove_instance(inst)
    ids = list(server_ids)
    with stack.session() as session:
        for start in range(0, len(ids), 1000):
            session.execute(update(Server).where(Server.id.in_(ids[start:start + 1000]))
                            .values(deleted=True, operstate="DESTROYED")
                            .execution_options(synchronize_session=False))
        session.commit()
