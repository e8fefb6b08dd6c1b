"""Pool reconciliation on the real stack (SQLite and PostgreSQL): a value leaked from a pool
(marked in use, held by nothing) and values in use but marked free, made by the drill's own
hand in the database, are found by a detect-only run (nothing changed), then fixed: the
leaked value back in its pool, the held ones marked in use. The bridge pool counts the
links of PHYSICAL_VLAN networks, an address pool every live address of its subnet, with a
port or without (a floating IP's)."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from orchestrator.models import IPAddress, Network, Pool, Subnet
from orchestrator.network import pools
from tests.reconciliation.conftest import STACKS
from tests.reconciliation.helpers import api_run, cli_run_id, run_cli
from tests.reconciliation.net_helpers import lines_about, reconcile

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", STACKS, indirect=True)]


def bits(stack, pool_id: int, value: str) -> tuple[bool, bool]:
    """(in use, reserved) of one value of a pool, as its row says."""
    with stack.session() as session:
        pool = session.get(Pool, pool_id)
        available, reserved = pools._load(pool)
        index = pools.index_of(pool, value)
        return not available & (1 << index), bool(reserved & (1 << index))


def set_bit(stack, pool_id: int, value: str, *, used: bool) -> None:
    """The drill's own hand: one value marked in use, or free, with nothing else changed."""
    with stack.session() as session:
        pool = session.get(Pool, pool_id)
        available, reserved = pools._load(pool)
        index = pools.index_of(pool, value)
        available = available & ~(1 << index) if used else available | (1 << index)
        pools._store(pool, available, reserved)
        session.commit()


def pool_findings(stack, output: str, pool_id: int) -> dict[str, dict]:
    run = api_run(stack, cli_run_id(output))
    return {f["kind"]: f for f in run["findings"] if f["details"].get("pool_id") == pool_id}


def post(stack, path: str, body: dict) -> dict:
    response = stack.client.post(path, json=body, headers=stack.admin_headers)
    assert response.status_code in (200, 201, 202), response.json
    return response.json


def test_an_address_pool_with_a_leaked_value_and_held_addresses_marked_free(stack):
    net = post(stack, "/api/v1/networks", {"name": "recon-pool", "type": "CUSTOM", "cidr": "10.77.0.0/24"})
    with stack.session() as session:
        subnet = session.query(Subnet).filter_by(network_id=net["id"], ip_version=4).one()
        subnet_id, pool_id = subnet.id, subnet.pool_id
    port = post(stack, "/api/v1/ports", {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.77.0.10"}]})
    floating = post(stack, "/api/v1/ports", {"network_id": net["id"], "fixed_ips": [{"ip_address": "10.77.0.11"}]})
    with stack.session() as session:  # .11 becomes an address on no port, as a floating IP between servers is
        session.execute(update(IPAddress).where(IPAddress.port_id == floating["id"]).values(port_id=None))
        session.commit()
    assert port["fixed_ips"][0]["ip_address"] == "10.77.0.10"
    set_bit(stack, pool_id, "10.77.0.50", used=True)  # leaked: in use, held by nothing
    set_bit(stack, pool_id, "10.77.0.10", used=False)  # held by the port, marked free
    set_bit(stack, pool_id, "10.77.0.11", used=False)  # held with no port, marked free

    output, lines = reconcile("pools")
    name = f"{stack.ctx.settings.backend_prefix_id}net-{net['id']}"
    shown = [line for line in lines if f" {pool_id} " in f" {line} " and "ip" in line]
    assert any("pool-leaked" in line and "10.77.0.50" in line for line in shown), output
    assert any("pool-unmarked" in line and "10.77.0.10,10.77.0.11" in line for line in shown), output
    found = pool_findings(stack, output, pool_id)
    assert found["pool-leaked"]["details"]["values"] == ["10.77.0.50"]
    assert found["pool-unmarked"]["details"]["values"] == ["10.77.0.10", "10.77.0.11"]
    assert found["pool-unmarked"]["instance"] == name and found["pool-unmarked"]["details"]["subnet_id"] == subnet_id
    assert not any(f["fixed"] for f in found.values())
    assert bits(stack, pool_id, "10.77.0.50") == (True, False)  # detect only: nothing changed
    assert bits(stack, pool_id, "10.77.0.10") == (False, False)

    output, _lines = reconcile("pools", "--fix-leaked")
    found = pool_findings(stack, output, pool_id)
    assert found["pool-leaked"]["fixed"] is True and "returned 1 value" in found["pool-leaked"]["fix"]
    assert found["pool-unmarked"]["fixed"] is False and found["pool-unmarked"]["fix"] is None
    assert bits(stack, pool_id, "10.77.0.50") == (False, False)
    assert bits(stack, pool_id, "10.77.0.10") == (False, False)

    output, _lines = reconcile("pools", "--fix-all")
    found = pool_findings(stack, output, pool_id)
    assert list(found) == ["pool-unmarked"] and found["pool-unmarked"]["fixed"] is True
    assert bits(stack, pool_id, "10.77.0.10") == (True, False)
    assert bits(stack, pool_id, "10.77.0.11") == (True, False)
    output, _lines = reconcile("pools")
    assert pool_findings(stack, output, pool_id) == {}
    inspect = stack.client.get(f"/api/v1/subnets/{subnet_id}/inspect", headers=stack.admin_headers).json
    assert inspect["pool"]["used"] == 2


def test_the_bridge_pool_against_the_links_of_physical_vlan_networks(stack):
    net = post(stack, "/api/v1/networks", {"name": "recon-vlan", "type": "PHYSICAL_VLAN"})
    with stack.session() as session:
        row = session.get(Network, net["id"])
        link, pool_id = row.link, row.link_pool_id
        pool = session.get(Pool, pool_id)
        spare = next(pools.value_of(pool, i) for i in range(pool.size)
                     if pools._load(pool)[0] & (1 << i) and not pools._load(pool)[1] & (1 << i))
    set_bit(stack, pool_id, link, used=False)  # the network's bridge looks free: the next network would take it
    set_bit(stack, pool_id, spare, used=True)  # and a bridge no network has looks taken

    output, lines = reconcile("pools")
    rows = [line for line in lines_about(lines, str(pool_id)) if "bridge" in line]
    assert any("pool-unmarked" in line and link in line for line in rows), output
    assert any("pool-leaked" in line and spare in line for line in rows), output
    assert bits(stack, pool_id, link) == (False, False)

    output, _lines = reconcile("pools", "--fix-unmarked", "--fix-leaked")
    found = pool_findings(stack, output, pool_id)
    assert all(f["fixed"] for f in found.values()) and set(found) == {"pool-leaked", "pool-unmarked"}
    assert bits(stack, pool_id, link) == (True, False)
    assert bits(stack, pool_id, spare) == (False, False)


def test_pool_runs_refuse_an_unknown_flag_and_the_beat_task_runs(stack):
    flag = run_cli("reconcile", "pools", "--fix-everything")
    assert flag.exit_code != 0 and "No such option" in flag.output
    result = stack.celery.send_task("orchestrator.periodic.reconcile_pools",
                                    kwargs={"fixes": [], "staggered": True}).get(timeout=60)
    assert result["run"] is not None and result["pools_checked"] >= 1
