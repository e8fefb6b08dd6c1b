"""The multi-host drill: the product spread over 14 hosts (network namespaces on one bridge,
tests/multihost/cluster.py) takes a mixed load through both API hosts (creates, actions,
destroys, network creates) while a fault hits one host. Every operation reaches a final
state, as asked; nothing is lost or duplicated on the clusters.

The short form (`make test`, CI) runs one fault; the full form (DRILL_SCALE=full, `make
drill-cluster`) runs all four on one topology, a row of the drill table each.
"""
from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from orchestrator.models import IN_FLIGHT, Operation
from orchestrator.settings import Settings
from tests.conftest import record_drill, wait_for
from tests.drills.faults_helpers import jobs_per_operation
from tests.drills.mixed_load import MixedLoad
from tests.drills.scale import FULL, scaled
from tests.drills.test_network_kill_drill import _ganeti_networks, _jobs_by_network
from tests.multihost.cluster import Cluster

pytestmark = [pytest.mark.multihost, pytest.mark.integration, pytest.mark.xdist_group("multihost")]

OPERATIONS = scaled(80, 30)  # server operations per fault; a network create every NETWORK_EVERY more
NETWORK_EVERY = 10
IN_FLIGHT_MAX = 8
FAULT_AT = 1 / 3  # of the operations issued: the fault strikes, the rest are issued during or after it
BACK_AFTER = 8  # operations issued after the fault before the host comes back
SHORT_FAULT = "worker host's processes killed"


@dataclass
class Fault:
    """`strike` hits a host and returns what it did; `recover` brings the host back."""

    strike: Callable[[Cluster], str]
    recover: Callable[[Cluster], str]


PRODUCT_QUEUES = ("provisioning", "polling", "events", "periodic", "celery")


def _leaders(cluster: Cluster, on: str) -> str:
    queues = cluster.rabbits[1].queues()
    return f"{sum(1 for q in PRODUCT_QUEUES if queues[q]['leader'] == on)} of {len(PRODUCT_QUEUES)} queue leaders"


def _kill_rabbit(cluster: Cluster) -> str:
    # rmq1 comes first in every process's broker list: each client was connected to it.
    leaders = _leaders(cluster, cluster.rabbits[0].nodename)
    return f"rmq1 ({leaders}): {cluster.kill_host('rmq1')} processes SIGKILLed"


def _restart_rabbit(cluster: Cluster) -> str:
    started = time.monotonic()
    rabbit = cluster.rabbits[0]
    rabbit.start()
    rabbit.wait_booted()
    return f"back and rejoined after {time.monotonic() - started:.0f}s"


def _kill_worker(cluster: Cluster) -> str:
    busy, tasks = cluster.busiest_worker()
    cluster.killed_worker = busy
    return f"{busy} (holding {tasks} tasks): {cluster.kill_host(busy)} processes SIGKILLed"


def _restart_worker(cluster: Cluster) -> str:
    cluster.start_workers(cluster.killed_worker)
    return f"{cluster.killed_worker} back"


def _kill_api(cluster: Cluster) -> str:
    return f"api1: {cluster.kill_host('api1')} processes SIGKILLed"


def _restart_api(cluster: Cluster) -> str:
    cluster.start_api("api1")
    cluster.wait_api("api1")
    return "api1 back"


def _kill_beat(cluster: Cluster) -> str:
    leader = cluster.active_beat()
    killed_at = time.monotonic()
    count = cluster.kill_host(leader)
    standby = cluster.active_beat()
    assert standby != leader
    cluster.killed_beat = leader
    return f"{leader} ({count} processes) SIGKILLed; {standby} took the lock in {time.monotonic() - killed_at:.1f}s"


def _restart_beat(cluster: Cluster) -> str:
    cluster.start_beat(cluster.killed_beat)
    return f"{cluster.killed_beat} back as standby"


FAULTS = {
    "RabbitMQ node killed and restarted": Fault(_kill_rabbit, _restart_rabbit),
    SHORT_FAULT: Fault(_kill_worker, _restart_worker),
    "API host killed": Fault(_kill_api, _restart_api),
    "active beat killed": Fault(_kill_beat, _restart_beat),
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    with Cluster(tmp_path_factory.mktemp("multihost")).up() as up:
        yield up


def _create_network(cluster: Cluster, name: str, index: int) -> tuple[int, list[int]]:
    response = cluster.client.post("/api/v1/networks", headers=cluster.admin_headers, json={
        "name": name, "type": "CUSTOM", "shared": True, "cidr": f"10.232.{index}.0/24"})
    assert response.status_code == 202, response.json
    return response.json["id"], [op["id"] for op in response.json["operations"]]


def _ended(cluster: Cluster, op_ids: list[int]) -> dict[int, Operation]:
    with cluster.session() as session:
        ops = session.scalars(select(Operation).where(Operation.id.in_(op_ids))).all()
        return {op.id: op for op in ops if op.status not in IN_FLIGHT}


def drill(cluster: Cluster, name: str, fault: Fault, rng: random.Random, networks_made: list[int],
          index: int) -> dict:
    """One row: a mixed load with `fault` striking a third of the way in, followed to the end."""
    load = MixedLoad(cluster, f"mh{index}", rng, pool=(6, 16))
    networks: dict[int, list[int]] = {}
    notes, struck_at = [], None
    answered0, refused0 = dict(cluster.client.answered), sum(cluster.client.refused.values())
    started = time.monotonic()
    give_up = started + scaled(900, 150)
    while len(load.issued) < OPERATIONS and time.monotonic() < give_up:
        load.refresh()
        if struck_at is None and len(load.issued) >= OPERATIONS * FAULT_AT:
            notes.append(fault.strike(cluster))
            struck_at = len(load.issued)
        elif struck_at is not None and len(notes) == 1 and len(load.issued) >= struck_at + BACK_AFTER:
            notes.append(fault.recover(cluster))
        while len(load.in_flight) < IN_FLIGHT_MAX and len(load.issued) < OPERATIONS:
            if len(load.issued) // NETWORK_EVERY >= len(networks) and len(load.issued) % NETWORK_EVERY == 0:
                net_index = len(networks_made)
                network_id, op_ids = _create_network(cluster, f"{load.prefix}-net-{net_index}", net_index)
                networks[network_id] = op_ids
                networks_made.append(network_id)
            if load.issue_one() is None:
                break
        time.sleep(0.1)
    if len(notes) == 1:
        notes.append(fault.recover(cluster))
    stuck = load.wait_all(timeout=scaled(300, 120))
    net_ops = [op for ops in networks.values() for op in ops]
    try:
        net_ended = wait_for(lambda: (lambda e: e if len(e) == len(net_ops) else None)(_ended(cluster, net_ops)),
                             120, interval=0.5, what="the network operations to end")
    except AssertionError:
        net_ended = _ended(cluster, net_ops)
    seconds = time.monotonic() - started

    checked = load.cluster_check()
    jobs = jobs_per_operation(cluster)
    twice = [i.op_id for i in load.issued.values() if jobs[i.op_id] > 1]
    prefix = Settings().backend_prefix_id  # the drill's hosts keep the default
    ganeti_nets, net_jobs = _ganeti_networks(cluster), _jobs_by_network(cluster)
    clusters = [c.name for c in cluster.sim.clusters]
    names = [f"{prefix}net-{nid}" for nid in networks]
    net_lost = sum(1 for n in names if ganeti_nets[n] < len(clusters))
    net_dup = sum(1 for n in names for cl in clusters
                  if any(net_jobs.get((cl, n), Counter())[op] > 1 for op in ("OP_NETWORK_ADD", "OP_NETWORK_CONNECT")))
    statuses = Counter(cluster.client.get(f"/api/v1/networks/{nid}", headers=cluster.admin_headers).json["status"]
                       for nid in networks)

    operations = len(load.issued) + len(net_ops)
    as_expected = sum(1 for i in load.issued.values() if i.ok) + sum(
        1 for op in net_ended.values() if op.status == "SUCCEEDED")
    lost = len(stuck) + (len(net_ops) - len(net_ended)) + checked["missing"] + checked["left"] + net_lost
    duplicated = checked["duplicated"] + len(twice) + net_dup
    kinds = load.summary()
    row = dict(fault=name, operations=operations, as_expected=as_expected, lost=lost, duplicated=duplicated,
               seconds=seconds, stuck=load.describe(stuck), wrong_state=checked["wrong_state"],
               bad=Counter(f"{i.kind}: {i.why}" for i in load.issued.values() if i.ended and not i.ok),
               networks=statuses, twice=twice,
               notes="; ".join(notes) + "; " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
                     + f", {len(networks)} network creates ({len(net_ops)} backend operations); API answers "
                     + ", ".join(f"{url.split('//')[1]} {n - answered0[url]}"
                                 for url, n in cluster.client.answered.items())
                     + f" (connections refused {sum(cluster.client.refused.values()) - refused0})")
    record_drill(f"multi-host: {name}", operations, as_expected, lost, duplicated, seconds, extra=row["notes"])
    return row


def _table(rows: list[dict]) -> str:
    lines = ["| fault | operations | as expected | lost | duplicated | time (s) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['fault']} | {r['operations']} | {r['as_expected']} | {r['lost']} | {r['duplicated']} "
              f"| {r['seconds']:.0f} |" for r in rows]
    return "\n".join(lines)


@pytest.mark.timeout(scaled(3600, 480))
def test_faults_under_mixed_load(cluster):
    seed = int(os.environ.get("DRILL_SEED", time.time_ns() % 10**9))
    rng = random.Random(seed)
    faults = list(FAULTS) if FULL else [SHORT_FAULT]
    rows, networks = [], []
    for index, name in enumerate(faults):
        rows.append(drill(cluster, name, FAULTS[name], rng, networks, index))
    foreign = cluster.foreign_files()
    # The product's queues, as the brokers hold them at the end: quorum queues, on every node.
    queues = cluster.rabbits[1].queues()
    nodes = sorted(r.nodename for r in cluster.rabbits)
    print(f"\nmulti-host drill (seed {seed}; up in {cluster.up_seconds:.0f}s; side by side: "
          + ", ".join(f"{k} {v:.0f}s" for k, v in cluster.timings.items()) + ")")
    print(_table(rows))
    for row in rows:
        print(f"{row['fault']}: {row['notes']}")
    for row in rows:
        assert not row["stuck"], row["stuck"]
        assert not row["bad"], row["bad"]
        assert row["lost"] == 0 and row["duplicated"] == 0 and row["wrong_state"] == 0, row
        assert row["as_expected"] == row["operations"], row
        assert row["networks"] == Counter({"ACTIVE": row["networks"].total()}), row["networks"]
    assert all(row["operations"] >= OPERATIONS for row in rows)
    assert not foreign, foreign
    for name in PRODUCT_QUEUES:
        assert queues[name]["type"] == "quorum" and sorted(queues[name]["members"]) == nodes, queues.get(name)
