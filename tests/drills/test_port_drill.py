"""Port drill: a thousand port creations at once on one /22, beside a burst of MAC_FILTERED
network creations drawing MAC prefixes, each request a thread with its own session calling
the use case, as API and CLI requests would.

What is asserted: no address and no MAC prefix is handed out twice; none is lost (every port
created holds exactly the address it was answered with, every network its prefix, and the
pools mark exactly those used); every refusal is a Conflict saying the pool is exhausted,
and there are refusals only once it is (the successes are exactly the pool's capacity); the
pools' figures are exact afterwards. On PostgreSQL (row locks), and on SQLite (its write
lock) with fewer requests.
"""
from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import count

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import sessionmaker

from orchestrator import db, migrate
from orchestrator.auth import ADMIN, Principal
from orchestrator.errors import Conflict
from orchestrator.models import IPAddress, Network, Pool, Port
from orchestrator.network import pools
from orchestrator.services import networks as svc
from tests.conftest import context_for, record_drill
from tests.drills.scale import scaled

pytestmark = [pytest.mark.slow]

USER = Principal("drill", False)
_databases = count()

# kind: (port creations, their subnet, addresses left free in it, network creations, MAC prefixes
# free in the pool, threads at once)
SHAPES = {
    "postgresql": (scaled(1000, 1000), "10.20.0.0/22", scaled(950, 950), scaled(300, 120), scaled(250, 100), 100),
    "sqlite": (scaled(400, 200), "10.20.0.0/24", scaled(240, 180), scaled(100, 40), scaled(80, 30), 16),
}


def _database(kind: str, request, tmp_path) -> tuple[str, object]:
    """A migrated database and an engine of its own, with a connection for every thread."""
    threads = SHAPES[kind][-1]
    if kind == "postgresql":
        url = request.getfixturevalue("postgres_server").create_database(
            f"ports_{os.getpid()}_{int(time.time())}_{next(_databases)}")
        migrate.upgrade(url)
        return url, create_engine(url, pool_size=threads, max_overflow=0, pool_timeout=120)
    url = f"sqlite:///{tmp_path / 'ports.db'}"
    migrate.upgrade(url)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, pool_size=threads,
                           max_overflow=0, pool_timeout=120)
    event.listen(engine, "connect", db._sqlite_pragmas)
    return url, engine


def _setup(ctx, sessions, cidr: str, free_addresses: int, free_prefixes: int) -> tuple[int, int, int]:
    """The pools, the network and its subnet; the subnet's pool left with `free_addresses`
    (an operator reserved the others), the MAC-prefix pool with `free_prefixes`."""
    with sessions() as session:
        # aa:00:0 (DEFAULT_MAC_PREFIX) is reserved: free_prefixes + 1 values, all in aa.
        mac = svc.create_pool(ctx, session, ADMIN, type="mac-prefix", base="aa:00:0", size=free_prefixes + 2)
        net = svc.create_network(ctx, session, ADMIN, name="drill-net", owner=USER.user_id)
        subnet = svc.create_subnet(ctx, session, USER, network_id=net.id, cidr=cidr)
        pool = subnet.pool
        last = ipaddress.ip_network(cidr).broadcast_address - 1
        extra = pool.free - free_addresses
        svc.modify_pool(ctx, session, ADMIN, pool.id, add_reserved=[str(last - i) for i in range(extra)])
        assert (pool.free, mac.free) == (free_addresses, free_prefixes)
        return net.id, subnet.id, mac.id


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_concurrent_ports_and_networks_never_share_an_address_or_a_prefix(kind, request, tmp_path):
    ports_wanted, cidr, free_addresses, networks_wanted, free_prefixes, threads = SHAPES[kind]
    url, engine = _database(kind, request, tmp_path)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    ctx = context_for(url)
    try:
        net_id, subnet_id, mac_pool_id = _setup(ctx, sessions, cidr, free_addresses, free_prefixes)
        with sessions() as session:
            before = {p.id: (p.free, p.used, p.reserved) for p in session.scalars(select(Pool))}

        go = threading.Event()  # the first `threads` requests start together

        def create_port(i: int):
            go.wait(timeout=60)
            with sessions() as session:
                try:
                    port = svc.create_port(ctx, session, USER, network_id=net_id, name=f"p{i}")
                    return "port", (port.id, port.mac, [ip["ip_address"] for ip in port.fixed_ips])
                except Conflict as exc:
                    return "port-refused", exc.message

        def create_network(i: int):
            go.wait(timeout=60)
            with sessions() as session:
                try:
                    network = svc.create_network(ctx, session, USER, name=f"n{i}")
                    return "network", (network.id, network.mac_prefix)
                except Conflict as exc:
                    return "network-refused", exc.message

        jobs = [(create_port, i) for i in range(ports_wanted)] + [(create_network, i) for i in range(networks_wanted)]
        jobs = [jobs[i] for i in _interleave(ports_wanted, networks_wanted)]
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [pool.submit(fn, i) for fn, i in jobs]
            started = time.monotonic()
            go.set()
            results = [f.result() for f in futures]  # any other exception fails the drill here
        elapsed = time.monotonic() - started

        outcome = Counter(what for what, _ in results)
        made_ports = [value for what, value in results if what == "port"]
        made_networks = [value for what, value in results if what == "network"]
        refusals = [value for what, value in results if what.endswith("refused")]

        with sessions() as session:
            live = {p.id: p for p in session.scalars(select(Port).where(Port.deleted.is_(False)))}
            held = session.execute(select(IPAddress.port_id, IPAddress.address)
                                   .where(IPAddress.subnet_id == subnet_id, IPAddress.deleted.is_(False))).all()
            subnet_pool = session.scalars(select(Pool).where(Pool.type == "ip")).one()
            mac_pool = session.get(Pool, mac_pool_id)
            every_prefix = dict(session.execute(select(Network.id, Network.mac_prefix)
                                                .where(Network.deleted.is_(False))).all())
            prefixes = {i: p for i, p in every_prefix.items() if i != net_id}  # the drill's networks
            used_addresses = {pools.value_of(subnet_pool, i) for i, c in enumerate(_used_bits(subnet_pool)) if c}
            used_prefixes = {pools.value_of(mac_pool, i) for i, c in enumerate(_used_bits(mac_pool)) if c}
            figures = {"ip": (subnet_pool.free, subnet_pool.used, subnet_pool.reserved),
                       "mac": (mac_pool.free, mac_pool.used, mac_pool.reserved)}

        answered = {port_id: addresses[0] for port_id, _mac, addresses in made_ports}
        addresses = [address for _port, address in held]
        duplicated = (len(addresses) - len(set(addresses))) + (len(every_prefix) - len(set(every_prefix.values())))
        lost = (len(set(answered) ^ set(live))  # a port answered and not there, or there unanswered
                + sum(1 for port_id, address in held if answered.get(port_id) != address)
                + len(set(answered.values()) ^ used_addresses)  # the pool's bitmap against the rows
                + len(set(every_prefix.values()) ^ used_prefixes)
                + len({net_id for net_id, _ in made_networks} ^ set(prefixes)))
        as_expected = (len(made_ports) == free_addresses) + (len(made_networks) == free_prefixes)
        record_drill(f"{ports_wanted} ports on one {cidr} ({free_addresses} free) + {networks_wanted} MAC_FILTERED "
                     f"networks ({free_prefixes} prefixes), {threads} threads, {kind}",
                     ports_wanted + networks_wanted,
                     len(made_ports) + len(made_networks) + len(refusals), lost, duplicated, elapsed,
                     extra=f"ports {len(made_ports)}, networks {len(made_networks)}, refused "
                           f"{outcome['port-refused']}+{outcome['network-refused']}; "
                           f"{(len(made_ports) + len(made_networks)) / elapsed:.0f} writes/s")

        assert duplicated == 0 and lost == 0
        assert as_expected == 2, outcome
        assert outcome == Counter({"port": free_addresses, "port-refused": ports_wanted - free_addresses,
                                   "network": free_prefixes, "network-refused": networks_wanted - free_prefixes})
        assert all("has no free address" in m or "no mac-prefix is left" in m for m in refusals), set(refusals)
        assert len({mac for _id, mac, _a in made_ports}) == len(made_ports)
        assert all(len(a) == 1 for _id, _mac, a in made_ports)
        assert len(held) == len(live) == free_addresses
        # Exact figures: every free address and prefix taken, the reservations untouched.
        ip_before = before[subnet_pool.id]
        assert figures["ip"] == (0, ip_before[1] + free_addresses, ip_before[2])
        mac_before = before[mac_pool_id]
        assert figures["mac"] == (0, mac_before[1] + free_prefixes, mac_before[2])
    finally:
        engine.dispose()


def _interleave(ports: int, networks: int) -> list[int]:
    """Job indexes with the network creations spread among the port creations."""
    order, step = [], max(1, ports // max(1, networks))
    network_jobs = iter(range(ports, ports + networks))
    for i in range(ports):
        order.append(i)
        if i % step == 0:
            order.extend(j for j in [next(network_jobs, None)] if j is not None)
    order.extend(network_jobs)
    return order


def _used_bits(pool: Pool) -> list[bool]:
    available = int.from_bytes(pool.available_map, "little")
    return [not available >> i & 1 for i in range(pool.size)]
