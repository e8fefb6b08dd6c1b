"""Drills: each fault the simulator can inject behind the product's back is detected with
the right kind, left alone when not asked to fix, fixed when asked, and visible through
GET /api/v1/reconciliation/runs/{id}; through the CLI and through the beat's task."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator.models import Flavor, Operation, Server
from orchestrator.settings import FIX_KINDS
from tests.conftest import wait_for
from tests.integration.helpers import instances_named
from tests.reconciliation.conftest import STACKS
from tests.reconciliation.helpers import (age, api_run, backend_ids, cli_run_id, cluster_of, findings_for, kinds_for,
                                          run_cli, run_task, set_columns, sim, sync_nics, wait_job)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", STACKS, indirect=True)]

ORPHAN_ID = 900_001  # far above any id the drills' databases reach


def _create_active(stack, names: list[str]) -> dict[str, dict]:
    """Create servers together (the worker runs them in parallel) and wait for ACTIVE."""
    created = {}
    for name in names:
        status, body = stack.create_server(name=name)
        assert status == 202, body
        created[name] = body
    servers = {}
    for name, body in created.items():
        server = stack.wait_status(body["id"], {"ACTIVE", "ERROR"}, timeout=60)
        assert server["status"] == "ACTIVE", server
        servers[name] = server
    return servers


def _flavor(stack, cpu: int, ram: int, disk: int) -> int:
    """A flavor the drill needs (the demo flavors all have different disks)."""
    with stack.session() as session:
        found = session.scalars(select(Flavor).where(Flavor.cpu == cpu, Flavor.ram == ram, Flavor.disk == disk,
                                                     Flavor.disk_template == "plain")).first()
        if found is None:
            found = Flavor(name=f"recon-c{cpu}r{ram}d{disk}", cpu=cpu, ram=ram, disk=disk, disk_template="plain")
            session.add(found)
            session.commit()
        return found.id


def _last_create_job(stack, server_id: int) -> int:
    with stack.session() as session:
        return session.scalars(select(Operation.job_id).where(Operation.server_id == server_id,
                                                              Operation.kind == "create")).one()


def test_every_fault_detected_left_alone_then_fixed(stack, clean_faults):
    names = ["gone", "crashed", "resized", "renic", "lostbuild", "vanished"]
    servers = _create_active(stack, names)
    ids = {name: s["id"] for name, s in servers.items()}
    clusters = {name: cluster_of(stack, s["backend_id"]) for name, s in servers.items()}
    sync_nics(stack, ids.values())  # as the agent's hook would have: the NICs are known
    bigger = _flavor(stack, cpu=2, ram=2048, disk=10)
    first = cluster_of(stack, backend_ids(stack)[0])

    # The faults, all behind the product's back.
    sim(clusters["gone"], "DELETE", f"/sim/instances/snf-{ids['gone']}")
    sim(first, "POST", "/sim/instances", json={"name": f"snf-{ORPHAN_ID}", "memory": 128, "disks": [256]})
    assert sim(clusters["crashed"], "POST", f"/sim/instances/snf-{ids['crashed']}/crash").json()["status"] \
        == "ERROR_down"
    sim(clusters["resized"], "PUT", f"/sim/instances/snf-{ids['resized']}/beparams", json={"memory": 2048, "vcpus": 2})
    job = sim(clusters["renic"], "PUT", f"/2/instances/snf-{ids['renic']}/modify",
              json={"nics": [["modify", 0, {"ip": "192.0.2.77"}]]}).json()
    assert wait_job(clusters["renic"], job)["status"] == "success"
    # A build whose operation was lost while its job went on to succeed...
    set_columns(stack, ids["lostbuild"], operstate="BUILD", build_percentage=40, backend_job_status="running",
                backend_time=None)
    # ... and one whose job and instance vanished from the cluster.
    vanished_job = _last_create_job(stack, ids["vanished"])
    set_columns(stack, ids["vanished"], operstate="BUILD", build_percentage=40, backend_job_status="running",
                backend_time=None)
    with clusters["vanished"].cluster.lock:
        clusters["vanished"].queue.jobs.pop(vanished_job)
    sim(clusters["vanished"], "DELETE", f"/sim/instances/snf-{ids['vanished']}")
    age(stack, ids.values())  # past the grace period

    expected = {ids["gone"]: ["stale"], ORPHAN_ID: ["orphan"], ids["crashed"]: ["state"],
                ids["resized"]: ["flavor"], ids["renic"]: ["nics"], ids["lostbuild"]: ["build"],
                ids["vanished"]: ["build"]}

    # 1. Detect only (the CLI's default): every kind found, nothing changed.
    detect = run_cli("reconcile", "servers")
    assert detect.exit_code == 0, detect.output
    for kind in ("stale", "orphan", "state", "flavor", "nics", "build"):
        assert kind in detect.output
    run = api_run(stack, cli_run_id(detect.output))
    assert run["trigger"] == "cli" and run["fixes"] == [] and run["finished_at"]
    listed = stack.client.get("/api/v1/reconciliation/runs", headers=stack.admin_headers).json
    listed = listed if isinstance(listed, list) else listed["items"]  # newest first
    assert listed[0]["id"] == run["id"] and listed[0]["finding_count"] == len(run["findings"]) >= len(expected)
    assert kinds_for(run, expected) == expected
    assert not any(f["fixed"] for fs in findings_for(run, expected).values() for f in fs)
    details = {sid: fs[0]["details"] for sid, fs in findings_for(run, expected).items()}
    assert details[ids["crashed"]]["cluster_status"] == "ERROR_down"
    assert details[ids["resized"]]["cluster"] == {"ram": 2048, "cpu": 2}
    assert details[ids["renic"]]["cluster"][0]["ip"] == "192.0.2.77" and details[ids["renic"]]["db"][0]["ip"] is None
    assert details[ids["lostbuild"]]["job_status"] == "success"
    assert (details[ids["vanished"]]["job_status"], details[ids["vanished"]]["cluster"]) == ("vanished", "absent")
    assert stack.server(ids["gone"])["status"] == "ACTIVE"
    assert stack.server(ids["crashed"])["status"] == "ACTIVE"
    assert stack.server(ids["resized"])["flavor_id"] == 1
    assert stack.server(ids["renic"])["nics"][0]["ip"] is None
    assert stack.server(ids["lostbuild"])["status"] == "BUILD"
    assert stack.server(ids["vanished"])["status"] == "BUILD"
    assert f"snf-{ORPHAN_ID}" in first.instances

    # 2. Detect again through the beat's task: checking is not a change, the grace period
    #    does not start over, the same findings come back.
    again = api_run(stack, run_task(stack, fixes=[])["run"])
    assert again["trigger"] == "beat" and kinds_for(again, expected) == expected

    # 3. Fix one kind only: only that kind is fixed.
    only_state = run_cli("reconcile", "servers", "--fix-state")
    assert only_state.exit_code == 0, only_state.output
    run = api_run(stack, cli_run_id(only_state.output))
    assert run["fixes"] == ["state"]
    for sid, found in findings_for(run, expected).items():
        assert [f["fixed"] for f in found] == [sid == ids["crashed"]], found
    assert stack.server(ids["crashed"])["status"] == "STOPPED"
    assert stack.server(ids["gone"])["status"] == "ACTIVE" and stack.server(ids["lostbuild"])["status"] == "BUILD"

    # 4. Fix everything (the beat's task with every switch on).
    run = api_run(stack, run_task(stack, fixes=list(FIX_KINDS))["run"])
    del expected[ids["crashed"]]
    assert kinds_for(run, expected) == expected
    fixes = {sid: fs[0] for sid, fs in findings_for(run, expected).items()}
    assert all(f["fixed"] for f in fixes.values()), fixes
    assert "remove submitted" in fixes[ORPHAN_ID]["fix"]
    assert stack.server(ids["gone"])["status"] == "DELETED"
    assert stack.server(ids["resized"])["flavor_id"] == bigger
    assert stack.server(ids["renic"])["nics"][0]["ip"] == "192.0.2.77"
    lost = stack.server(ids["lostbuild"])
    assert lost["status"] == "ACTIVE" and lost["backend_job_status"] == "success"
    vanished = stack.server(ids["vanished"])
    assert vanished["status"] == "ERROR" and "no instance exists" in vanished["backend_log_msg"]
    wait_for(lambda: f"snf-{ORPHAN_ID}" not in first.instances, 20, what="the orphan's removal")

    # 5. Nothing left to find about these servers.
    final = api_run(stack, cli_run_id(run_cli("reconcile", "servers").output))
    assert kinds_for(final, expected) == {}


def test_stale_waits_for_grace_and_for_operations_in_flight(stack):
    servers = _create_active(stack, ["fresh-gone", "busy-gone"])
    fresh, busy = servers["fresh-gone"]["id"], servers["busy-gone"]["id"]
    for server in servers.values():
        sim(cluster_of(stack, server["backend_id"]), "DELETE", f"/sim/instances/snf-{server['id']}")
    with stack.session() as session:  # an operation in flight (its chain is not driven here)
        op = Operation(kind="start", server_id=busy, user_id="admin", status="RUNNING", step="submit",
                       backend_id=servers["busy-gone"]["backend_id"])
        session.add(op)
        session.commit()
        op_id = op.id
    age(stack, [busy])

    result = run_cli("reconcile", "servers", "--fix-stale")
    run = api_run(stack, cli_run_id(result.output))
    assert kinds_for(run, [fresh, busy]) == {}  # one changed just now, one is being operated on
    assert stack.server(fresh)["status"] == "ACTIVE" and stack.server(busy)["status"] == "ACTIVE"

    with stack.session() as session:
        session.get(Operation, op_id).status = "FAILED"
        session.commit()
    age(stack, [fresh, busy])
    run = api_run(stack, cli_run_id(run_cli("reconcile", "servers", "--fix-stale").output))
    assert kinds_for(run, [fresh, busy]) == {fresh: ["stale"], busy: ["stale"]}
    assert all(f["fixed"] for fs in findings_for(run, [fresh, busy]).values() for f in fs)
    assert stack.server(fresh)["status"] == "DELETED" and stack.server(busy)["status"] == "DELETED"


def test_build_is_left_alone_while_its_job_runs_then_finished(stack, clean_faults):
    """A create whose operation was lost mid-build (the job submitted, the chain gone): while
    the job runs nothing is found; once it ended, the build is finished from its result."""
    backend_id = backend_ids(stack)[0]
    cluster = cluster_of(stack, backend_id)
    with stack.session() as session:
        server = Server(user_id="recon", name="midbuild", flavor_id=1, image_id=1, backend_id=backend_id,
                        operstate="BUILD", nics=[])
        session.add(server)
        session.commit()
        sid = server.id
    cluster.faults.op_delay = 3.0  # a slow create
    job = sim(cluster, "POST", "/2/instances", json={
        "__version__": 1, "mode": "create", "instance_name": f"snf-{sid}", "disk_template": "plain",
        "disks": [{"size": 1024}], "nics": [{}], "os_type": "snf-image+default",
        "beparams": {"maxmem": 1024, "minmem": 1024, "vcpus": 1}, "name_check": False, "ip_check": False}).json()
    wait_for(lambda: sim(cluster, "GET", f"/2/jobs/{job}").json()["status"] == "running", 5, what="job running")
    cluster.faults.op_delay = 0.0
    set_columns(stack, sid, backend_job_id=job, backend_job_status="running", backend_opcode="OP_INSTANCE_CREATE")
    age(stack, [sid])

    run = api_run(stack, cli_run_id(run_cli("reconcile", "servers", "--backend", str(backend_id),
                                            "--fix-build").output))
    assert kinds_for(run, [sid]) == {}
    assert stack.server(sid)["status"] == "BUILD"

    assert wait_job(cluster, job)["status"] == "success"
    run = api_run(stack, cli_run_id(run_cli("reconcile", "servers", "--backend", str(backend_id),
                                            "--fix-build").output))
    (found,) = findings_for(run, [sid])[sid]
    assert found["kind"] == "build" and found["fixed"] and found["details"]["job_status"] == "success"
    assert stack.server(sid)["status"] == "ACTIVE"
    assert run["backends_checked"] == [backend_id]


def test_a_held_lock_skips_the_backend(stack):
    from orchestrator.models import Backend
    from orchestrator.reconciliation import redis_lock

    first, second = backend_ids(stack)
    with stack.session() as session:
        guard = redis_lock(stack.ctx.redis)(session.get(Backend, first))
    assert guard is not None
    try:
        result = run_cli("reconcile", "servers")
        run = api_run(stack, cli_run_id(result.output))
        assert run["backends_checked"] == [second]
        assert "lock" in run["backends_skipped"][str(first)]
    finally:
        guard.release()
    run = api_run(stack, cli_run_id(run_cli("reconcile", "servers").output))
    assert run["backends_checked"] == [first, second]


def test_an_offline_node_is_not_a_state_drift(stack, clean_faults):
    """An instance whose node gives no data (ERROR_nodeoffline) is not taken for stopped."""
    (server,) = _create_active(stack, ["on-offline-node"]).values()
    cluster = cluster_of(stack, server["backend_id"])
    node = cluster.instances[f"snf-{server['id']}"].pnode
    sim(cluster, "POST", f"/sim/nodes/{node}", json={"offline": True})
    try:
        age(stack, [server["id"]])
        (inst,) = instances_named(stack, f"snf-{server['id']}")
        assert inst["status"] == "ERROR_nodeoffline" and inst["oper_state"] is None
        run = api_run(stack, cli_run_id(run_cli("reconcile", "servers", "--fix-state").output))
        assert "state" not in kinds_for(run, [server["id"]]).get(server["id"], [])
        assert stack.server(server["id"])["status"] == "ACTIVE"
    finally:
        sim(cluster, "POST", f"/sim/nodes/{node}", json={"offline": False})
