"""Network reconciliation on the real stack (workers, Redis, the simulator over HTTP, SQLite
and PostgreSQL): each kind of drift is made on the simulator behind the product's back (or,
for a row's state, by the drill's own hand in the database), a detect-only run records it
and changes nothing, then a run with its fix repairs it through the product's own
operations, and the simulator (or the pool) shows it repaired."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from orchestrator.models import BackendNetwork, Network, Pool, Subnet
from tests.conftest import wait_for
from tests.integration.helpers import clear_faults, set_faults, wait_operation
from tests.reconciliation.conftest import STACKS
from tests.reconciliation.helpers import api_run, cli_run_id, run_cli
from tests.reconciliation.net_helpers import (age, behind_the_back, first_backend, ganeti_name, ganeti_network,
                                              groups, lines_about, network, operation_ids, public_network, reconcile,
                                              row_state)

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", STACKS, indirect=True)]


def findings_of(stack, output: str, name: str) -> list[dict]:
    """The CLI's run's findings (as the API shows them) about the Ganeti network `name`."""
    run = api_run(stack, cli_run_id(output))
    return [f for f in run["findings"] if f["instance"] == name]


def fix_operation(finding: dict) -> int:
    assert finding["fixed"] is True, finding
    return int(finding["fix"].rsplit(" ", 1)[1])


def test_a_network_removed_behind_the_products_back_is_found_then_created_again(stack):
    backend = first_backend(stack)
    net = public_network(stack, backend, name="recon-missing")
    name = ganeti_name(stack, net["id"])
    behind_the_back(stack, backend, "PUT", f"/2/networks/{name}/disconnect", group_name="default")
    assert behind_the_back(stack, backend, "DELETE", f"/2/networks/{name}")["status"] == "success"
    age(stack, net["id"])
    ops_before = operation_ids(stack, net["id"])

    output, lines = reconcile("networks", "--backend", str(backend))
    (row,) = lines_about(lines, name)
    assert "network-missing" in row and "False" in row, output
    (found,) = findings_of(stack, output, name)
    assert found["kind"] == "network-missing" and found["details"]["network_id"] == net["id"]
    assert found["details"]["db"] == "ACTIVE" and found["fixed"] is False
    assert ganeti_network(stack, backend, name) is None  # detect only: nothing changed
    assert operation_ids(stack, net["id"]) == ops_before
    assert row_state(stack, net["id"], backend) == "ACTIVE"

    output, lines = reconcile("networks", "--backend", str(backend), "--fix-missing")
    (row,) = lines_about(lines, name)
    assert "network_create operation" in row and "True" in row, output
    (found,) = findings_of(stack, output, name)
    op_id = fix_operation(found)
    assert op_id not in ops_before
    assert wait_operation(stack, op_id, timeout=60)["status"] == "SUCCEEDED"
    gnet = ganeti_network(stack, backend, name)
    assert gnet is not None and gnet["network"] == net["cidr"]
    assert groups(gnet) == ["default"]
    assert row_state(stack, net["id"], backend) == "ACTIVE"
    assert network(stack, net["id"])["status"] == "ACTIVE"
    age(stack, net["id"])
    output, _lines = reconcile("networks", "--backend", str(backend))
    assert findings_of(stack, output, name) == []  # in agreement again


def test_an_orphan_network_of_no_known_network_is_found_then_removed(stack):
    backend = first_backend(stack)
    name = ganeti_name(stack, 900_000 + hash(stack.kind) % 1000)
    assert behind_the_back(stack, backend, "POST", "/2/networks", network_name=name,
                           network="100.64.77.0/24")["status"] == "success"
    connected = behind_the_back(stack, backend, "PUT", f"/2/networks/{name}/connect", group_name="default",
                                network_mode="bridged", network_link="br9", conflicts_check=False)
    assert connected["status"] == "success", connected

    output, lines = reconcile("networks", "--backend", str(backend))
    (row,) = lines_about(lines, name)
    assert "network-orphan" in row, output
    (found,) = findings_of(stack, output, name)
    assert found["details"]["db"] == "absent" and found["details"]["groups"] == ["default"]
    assert found["fixed"] is False
    assert groups(ganeti_network(stack, backend, name)) == ["default"]

    output, lines = reconcile("networks", "--backend", str(backend), "--fix-orphans")
    (found,) = findings_of(stack, output, name)
    assert found["fixed"] is True and "remove submitted as job" in found["fix"], found
    wait_for(lambda: ganeti_network(stack, backend, name) is None, 20, what="the orphan to be removed")


def test_an_orphan_of_a_deleted_network_is_removed_by_a_network_remove_operation(stack):
    backend = first_backend(stack)
    net = public_network(stack, backend, name="recon-deleted")
    name = ganeti_name(stack, net["id"])
    with stack.session() as session:  # the database lost it (e.g. restored from an older copy)
        session.execute(update(BackendNetwork).where(BackendNetwork.network_id == net["id"]).values(state="DELETED"))
        session.execute(update(Network).where(Network.id == net["id"]).values(deleted=True, state="DELETED"))
        session.commit()
    age(stack, net["id"])

    output, _lines = reconcile("networks", "--backend", str(backend))
    (found,) = findings_of(stack, output, name)
    assert found["kind"] == "network-orphan" and found["details"]["db"] == "deleted" and not found["fixed"]
    assert ganeti_network(stack, backend, name) is not None

    output, _lines = reconcile("networks", "--backend", str(backend), "--fix-orphans")
    (found,) = findings_of(stack, output, name)
    assert "network_remove operation" in found["fix"]
    assert wait_operation(stack, fix_operation(found), timeout=60)["status"] == "SUCCEEDED"
    assert ganeti_network(stack, backend, name) is None


def test_a_group_disconnected_behind_the_products_back_is_connected_again(stack):
    backend = first_backend(stack)
    net = public_network(stack, backend, name="recon-groups")
    name = ganeti_name(stack, net["id"])
    behind_the_back(stack, backend, "PUT", f"/2/networks/{name}/disconnect", group_name="default")
    assert groups(ganeti_network(stack, backend, name)) == []
    age(stack, net["id"])

    output, lines = reconcile("networks", "--backend", str(backend))
    (row,) = lines_about(lines, name)
    assert "network-groups" in row and "default" in row, output
    (found,) = findings_of(stack, output, name)
    assert found["details"]["groups_missing"] == ["default"] and not found["fixed"]
    assert groups(ganeti_network(stack, backend, name)) == []

    output, _lines = reconcile("networks", "--backend", str(backend), "--fix-groups")
    (found,) = findings_of(stack, output, name)
    assert wait_operation(stack, fix_operation(found), timeout=60)["status"] == "SUCCEEDED"
    assert groups(ganeti_network(stack, backend, name)) == ["default"]
    assert row_state(stack, net["id"], backend) == "ACTIVE"


def test_a_reservation_added_in_ganeti_is_reserved_in_the_pool(stack):
    backend = first_backend(stack)
    net = public_network(stack, backend, name="recon-reserved", cidr="198.51.200.0/24")
    name = ganeti_name(stack, net["id"])
    assert behind_the_back(stack, backend, "PUT", f"/2/networks/{name}/modify",
                           add_reserved_ips=["198.51.200.77"])["status"] == "success"
    age(stack, net["id"])

    def pool_reserves() -> bool:
        from orchestrator.network import pools

        with stack.session() as session:
            subnet = session.query(Subnet).filter_by(network_id=net["id"], ip_version=4).one()
            pool = session.get(Pool, subnet.pool_id)
            index = pools.index_of(pool, "198.51.200.77")
            return bool(pools._load(pool)[1] & (1 << index))

    output, lines = reconcile("networks", "--backend", str(backend))
    (row,) = lines_about(lines, name)
    assert "network-reserved" in row and "198.51.200.77" in row, output
    assert not pool_reserves()

    output, lines = reconcile("networks", "--backend", str(backend), "--fix-reserved")
    (found,) = findings_of(stack, output, name)
    assert found["fixed"] is True and "reserved in pool" in found["fix"], found
    assert pool_reserves()
    inspect = stack.client.get(f"/api/v1/subnets/{found['details']['subnet_id']}/inspect",
                               headers=stack.admin_headers).json
    assert inspect["pool"]["map"][77] == "X"
    output, _lines = reconcile("networks", "--backend", str(backend))
    assert findings_of(stack, output, name) == []


def test_a_row_whose_state_disagrees_with_ganeti_is_set_from_the_cluster(stack):
    backend = first_backend(stack)
    net = public_network(stack, backend, name="recon-state")
    name = ganeti_name(stack, net["id"])
    with stack.session() as session:  # the drill's own hand: the row says PENDING, Ganeti holds it whole
        session.execute(update(BackendNetwork).where(BackendNetwork.network_id == net["id"]).values(state="PENDING"))
        session.commit()
    age(stack, net["id"])

    output, lines = reconcile("networks", "--backend", str(backend))
    (found,) = findings_of(stack, output, name)
    assert found["kind"] == "network-state" and found["details"]["db"] == "PENDING" and not found["fixed"]
    assert row_state(stack, net["id"], backend) == "PENDING"

    output, _lines = reconcile("networks", "--backend", str(backend), "--fix-state")
    (found,) = findings_of(stack, output, name)
    assert wait_operation(stack, fix_operation(found), timeout=60)["status"] == "SUCCEEDED"
    assert row_state(stack, net["id"], backend) == "ACTIVE"
    assert network(stack, net["id"])["status"] == "ACTIVE"


def test_a_stale_row_of_a_network_whose_removal_failed_is_deleted(stack):
    backend = first_backend(stack)
    net = public_network(stack, backend, name="recon-stale")
    name = ganeti_name(stack, net["id"])
    set_faults(stack, op_failure_rate={"OP_NETWORK_REMOVE": 1.0}, message="cannot remove it now")
    try:
        response = stack.client.delete(f"/api/v1/networks/{net['id']}", headers=stack.admin_headers)
        assert response.status_code == 202, response.json
        (removal,) = [op for op in response.json["operations"] if op["kind"] == "network_remove"]
        assert wait_operation(stack, removal["id"], timeout=60)["status"] == "FAILED"
    finally:
        clear_faults(stack)
    assert behind_the_back(stack, backend, "DELETE", f"/2/networks/{name}")["status"] == "success"
    age(stack, net["id"])

    output, _lines = reconcile("networks", "--backend", str(backend))
    (found,) = findings_of(stack, output, name)
    assert found["kind"] == "network-stale" and not found["fixed"], found
    assert row_state(stack, net["id"], backend) == "ACTIVE"

    output, _lines = reconcile("networks", "--backend", str(backend), "--fix-stale")
    (found,) = findings_of(stack, output, name)
    assert found["fixed"] is True and "deleted" in found["fix"], found
    assert row_state(stack, net["id"], backend) == "DELETED"
    assert stack.client.get(f"/api/v1/networks/{net['id']}", headers=stack.admin_headers).status_code == 404


def test_the_beat_task_is_staggered_and_bad_input_is_refused(stack):
    result = stack.celery.send_task("orchestrator.periodic.reconcile_networks",
                                    kwargs={"fixes": [], "staggered": True}).get(timeout=60)
    assert result["run"] and result["skipped"] == {}
    assert "reconcile-networks" in stack.celery.conf.beat_schedule
    assert "reconcile-pools" in stack.celery.conf.beat_schedule
    unknown = run_cli("reconcile", "networks", "--backend", "999999")
    assert unknown.exit_code == 1 and "backend 999999 does not exist" in unknown.output
    flag = run_cli("reconcile", "networks", "--fix-everything")
    assert flag.exit_code != 0 and "No such option" in flag.output


def test_staggered_runs_check_every_network_within_reconciliation_min(stack, short_reconciliation_min):
    """Five beat-like runs (RECONCILIATION_MIN 0.5, a run each 0.1 min) cover every network
    once: a drift is found by exactly one of them, and the pairs they checked add up to a
    full run's."""
    from orchestrator.services.context import Context
    from orchestrator.services.reconciliation import NETWORK_CURSOR, run_networks

    backend = first_backend(stack)
    for i in range(6):
        public_network(stack, backend, name=f"recon-stagger-{i}")
    drifted = public_network(stack, backend, name="recon-stagger-drift")
    name = ganeti_name(stack, drifted["id"])
    behind_the_back(stack, backend, "PUT", f"/2/networks/{name}/disconnect", group_name="default")
    age(stack, drifted["id"])
    ctx = Context(stack.ctx.settings.replace(reconciliation_min=short_reconciliation_min,
                                             reconciliation_interval_min=0.1), stack.ctx.dispatcher)
    stack.ctx.redis.delete(NETWORK_CURSOR)
    with stack.session() as session:
        full = run_networks(ctx, session, fixes=frozenset(), backend_id=backend, staggered=False).servers_checked
    checked, found = [], 0
    while not checked or int(stack.ctx.redis.get(NETWORK_CURSOR) or 0) != 0:
        assert len(checked) < 5, checked  # a cycle is at most RECONCILIATION_MIN / interval runs
        with stack.session() as session:
            run = run_networks(ctx, session, fixes=frozenset(), backend_id=backend, staggered=True, trigger="beat")
            assert run.trigger == "beat:networks"
            checked.append(run.servers_checked)
            found += sum(1 for f in run.findings if f.instance == name)
    assert found == 1, checked
    assert sum(checked) == full and len(checked) >= 2, (checked, full)
