"""Concurrency drill: 300 creates at once over three backends whose capacity fits 200."""
from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select, update

from ganeti_sim import SimCluster
from orchestrator.catalog import ADMIN_OFFLINE_REASON
from orchestrator.models import Backend, Operation, Server
from tests.conftest import Worker, record_drill, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.integration]

VM_MIB = 1024
# VMs each cluster's nodes fit: two nodes per cluster, so 50+50, 30+30, 20+20.
FITS = {"drill-a.sim.local": 100, "drill-b.sim.local": 60, "drill-c.sim.local": 40}
CREATES = 300


def _node_memory(vms_per_node: int) -> int:
    # The node's own 1024 MiB, the VMs, and half a VM of slack that fits nothing.
    return 1024 + vms_per_node * VM_MIB + VM_MIB // 2


@pytest.mark.parametrize("stack", ["postgresql"], indirect=True)
def test_three_hundred_creates_over_capacity_two_hundred(stack, tmp_path):
    clusters = [SimCluster(name, job_duration=0.2, nodes=2, node_memory=_node_memory(fit // 2),
                           node_disk=10 * 1024 * 1024, node_cpus=128).start()
                for name, fit in FITS.items()]
    stack.worker.stop()
    drill_worker = None
    try:
        with stack.session() as session:
            session.execute(update(Backend).values(drained=True))  # the stack's own clusters sit out
            ids = []
            for cluster in clusters:
                backend = Backend(clustername=cluster.name, host="127.0.0.1", port=cluster.port, scheme="http",
                                  username="rapi", password=stack.ctx.credentials.seal("rapi-secret"),
                                  verify_tls=False, drained=False)
                session.add(backend)
                session.flush()
                ids.append(backend.id)
            session.commit()
        for backend_id in ids:  # fresh figures before the rush, as the periodic refresh gives
            assert stack.client.post(f"/api/v1/backends/{backend_id}/refresh",
                                     headers=stack.admin_headers).status_code == 200
        # No refresh during the rush: reservations alone keep the figures.
        env = {**stack.env, "BACKEND_REFRESH_MIN": "60"}
        drill_worker = Worker(env, tmp_path / "worker.log", concurrency=4, name="rush").start()

        started = time.monotonic()
        created = [stack.create_server(name=f"rush-{i}") for i in range(CREATES)]
        assert all(status == 202 for status, _ in created)
        op_ids = [body["operation"]["id"] for _, body in created]

        def all_ended():
            with stack.session() as session:
                ops = session.scalars(select(Operation).where(Operation.id.in_(op_ids))).all()
                return ops if all(op.finished_at is not None for op in ops) else None

        wait_for(all_ended, 240, interval=1.0, what="300 creates to end")
        elapsed = time.monotonic() - started
        with stack.session() as session:
            servers = session.scalars(select(Server).where(Server.id.in_([b["id"] for _, b in created]))).all()
            states = Counter(s.operstate for s in servers)
            by_backend = Counter(s.backend.clustername for s in servers if s.operstate == "STARTED")
            errors = {s.backend_log_msg for s in servers if s.operstate == "ERROR"}
            reserved = {b.clustername: b.mfree for b in session.scalars(select(Backend).where(Backend.id.in_(ids)))}
    finally:
        if drill_worker is not None:
            drill_worker.stop()
        with stack.session() as session:
            session.execute(update(Backend).where(Backend.clustername.not_in(list(FITS))).values(drained=False))
            # Its clusters stop with it: taken out as an operator would, so the beat leaves them be.
            session.execute(update(Backend).where(Backend.clustername.in_(list(FITS))).values(
                drained=True, offline=True, offline_reason=ADMIN_OFFLINE_REASON))
            session.commit()
        for cluster in clusters:
            cluster.stop()
        stack.worker.start()

    running = {c.name: sum(1 for i in c.instances.values() if i.running) for c in clusters}
    over = {c.name: [n.name for n in c.nodes.values() if n.mfree < 0 or n.mem_used > n.mtotal - n.mnode]
            for c in clusters}
    record_drill("300 creates at once, room for 200 on 3 backends", CREATES, states["STARTED"] + states["ERROR"],
                 CREATES - sum(states.values()), 0, elapsed,
                 extra=f"ACTIVE by backend {dict(by_backend)}; ERROR {states['ERROR']}")
    assert states == Counter({"STARTED": 200, "ERROR": 100}), (states, errors)
    assert dict(by_backend) == FITS  # the score spreads them until every backend is full
    assert running == FITS
    assert not any(over.values()), over
    assert all(v >= 0 for v in reserved.values()), reserved
    assert len(errors) == 1 and "no backend has room" in next(iter(errors)), errors
