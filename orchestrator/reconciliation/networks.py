"""Network reconciliation: every network's Ganeti network on every online backend, beside
its `backend_networks` row, as Synnefo's NetworkReconciler compares them.

One bulk networks call and one groups call per backend per run. What is found (each a
`Finding`, `instance` the Ganeti network's name, `details` with the network's id):

| kind | what | fix (when switched on) |
| --- | --- | --- |
| network-stale | a row not DELETED, no Ganeti network, and the network deleted or its removal there failed | the row DELETED as if OP_NETWORK_REMOVE had succeeded (the state function); the network deleted with it when no backend holds it any more, as the removal's finalize does |
| network-orphan | a Ganeti network with the prefix whose network is deleted or unknown | a deleted one: a network_remove operation; an unknown one (no row to be an operation's target): its disconnects and remove sent directly, as an orphan instance's remove is |
| network-missing | a row PENDING or ACTIVE, the network live, and no Ganeti network | a network_create operation (the row PENDING meanwhile) |
| network-groups | the Ganeti network not connected to every node group | a network_create operation: its plan sends only the missing connects |
| network-state | the row disagrees with Ganeti: PENDING or ERROR (or absent, or DELETED) while Ganeti holds it | a network_create operation: it concludes from what the cluster shows (no job when every group is connected) |
| network-reserved | an address Ganeti reserves externally that the subnet's pool has neither reserved nor in use | reserved in the pool (as `pool modify --add-reserved`); one a port or floating IP holds is reported, never fixed |

A pair (network, backend) with an operation in flight is left to that operation; a row or
network changed within the grace period is left for the next run; a backend whose last
operation for the network FAILED is left for that operation's retry (a fix would fail the
same way every run). Fixes that start operations write them in the write phase and hand
them over after the backend's commit, as every use case does.

Two phases per backend, as the servers' (no database lock is held during a RAPI call):
read (the bulk answers first, then the rows; compare, submit unknown orphans' removals),
then write (each fix re-checked under the network's lock).
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..auth import ADMIN_USER
from ..db import write_lock
from ..ganeti import OP_NETWORK_REMOVE
from ..models import (IN_FLIGHT, Backend, BackendNetwork, Finding, IPAddress, Network, NetworkState, Operation,
                      OpStatus, Pool, ReconciliationRun, Subnet, utcnow)
from ..network import operations as netops
from ..network import pools
from ..network.state import apply_network_report, refresh_network
from ..rapi import RapiError
from ..settings import NETWORK_FIX_KINDS as FIX_KINDS
from ..state import JobReport
from .rules import CHUNK, STALE_GRACE_S
from .run import over_backends

log = logging.getLogger(__name__)

KIND = {fix: f"network-{fix}" for fix in FIX_KINDS}  # the finding's kind of each fix
REASON = "orchestrator:reconciliation"
WHO = ADMIN_USER  # the fixes' operations are the administrators'


@dataclass
class NetworkOptions:
    prefix: str  # BACKEND_PREFIX_ID: Ganeti networks named <prefix>net-<id> are ours
    fixes: frozenset[str] = frozenset()
    # Staggered runs: only network ids lo < id <= hi (hi None: no bound); None: every network.
    window: tuple[int, int | None] | None = None
    grace_s: float = STALE_GRACE_S
    now: dt.datetime = field(default_factory=utcnow)
    # Hands a committed operation to the dispatcher (services.handover.run): fixes start operations.
    hand_over: Callable[[Operation], Any] | None = None

    def in_window(self, network_id: int) -> bool:
        if self.window is None:
            return True
        lo, hi = self.window
        return network_id > lo and (hi is None or network_id <= hi)


def fetch_networks(client) -> tuple[list[dict[str, Any]], list[str], dt.datetime]:
    """The one bulk networks call, the node groups' names, and when the answers came."""
    networks = client.networks(bulk=True)
    groups = [g["name"] if isinstance(g, dict) else str(g) for g in client.groups(bulk=False)]
    return networks, groups, utcnow()


def reconcile_networks(session: Session, backends: Iterable[Backend], client_for, options: NetworkOptions, *,
                       trigger: str = "beat", lock=None) -> ReconciliationRun:
    """One run over the online `backends` (each under `lock(backend)`, as the servers'
    run); `servers_checked` counts the (network, backend) pairs checked."""
    run = ReconciliationRun(trigger=trigger, fixes=sorted(KIND[f] for f in options.fixes), started_at=options.now,
                            backends_checked=[], backends_skipped={}, servers_checked=0)
    session.add(run)
    session.commit()

    def check_one(backend: Backend, client, fetched) -> int:
        return NetworkPass(session, run, backend, client, options).run_once(fetched)

    pass_ = over_backends(session, run, backends, client_for, fetch_networks, check_one, lock)
    log.info("network reconciliation run=%s trigger=%s checked=%s pairs=%s skipped=%s",
             run.id, trigger, pass_.checked, pass_.total, pass_.skipped)
    return run


def external_reservations(gnet: dict[str, Any]) -> list[str]:
    """Ganeti's `external_reservations`: addresses joined by ", " (a list is taken too)."""
    value = gnet.get("external_reservations") or []
    items = value.split(",") if isinstance(value, str) else value
    return [str(item).strip() for item in items if str(item).strip()]


def connected_groups(gnet: dict[str, Any]) -> set[str]:
    """The groups of `group_list` ([group, mode, link, vlan] each)."""
    return {entry[0] for entry in gnet.get("group_list") or [] if entry}


class NetworkPass:
    """One pass over one backend's networks; `run_once` returns the pairs it checked."""

    def __init__(self, session: Session, run: ReconciliationRun, backend: Backend, client, options: NetworkOptions):
        self.session, self.run, self.backend, self.client, self.opts = session, run, backend, client, options
        self.backend_id = backend.id
        self.cutoff = options.now - dt.timedelta(seconds=options.grace_s)
        self.report_ts = options.now.timestamp()
        self.findings: list[dict[str, Any]] = []
        self.to_fix: list[tuple[dict[str, Any], int, Callable[[Network, dict[str, Any]], None]]] = []
        self.started: list[Operation] = []

    # -- bookkeeping ----------------------------------------------------------------------
    def name(self, network_id: int) -> str:
        return f"{self.opts.prefix}net-{network_id}"

    def finding(self, fix: str, network_id: int, details: dict[str, Any]) -> dict[str, Any]:
        row = {"run_id": self.run.id, "kind": KIND[fix], "backend_id": self.backend_id, "server_id": None,
               "instance": self.name(network_id), "details": {"network_id": network_id, **details},
               "fixed": False, "fix": None}
        self.findings.append(row)
        return row

    def recent(self, when: dt.datetime | None) -> bool:
        return when is not None and when > self.cutoff

    # -- read phase ---------------------------------------------------------------------
    def run_once(self, fetched) -> int:
        gnets, groups, fetched_at = fetched if fetched is not None else fetch_networks(self.client)
        self.report_ts = fetched_at.timestamp()
        by_id: dict[int, dict[str, Any]] = {}
        for gnet in gnets:
            network_id = Network.id_of_ganeti_network(gnet.get("name"), self.opts.prefix)
            if network_id is not None and self.opts.in_window(network_id):
                by_id[network_id] = gnet
        del gnets
        # Operations in flight before the rows: one that ends between the two reads shows in
        # the rows as changed just now, never as an idle row out of date.
        busy = self.in_flight()
        rows = self.load_rows()
        networks = self.load_networks(set(by_id) | {r.network_id for r in rows.values()})
        latest = self.latest_ops({i for i in set(rows) | set(by_id) if i not in busy
                                  and self.suspect(networks.get(i), rows.get(i), by_id.get(i), groups)})
        checked = 0
        for network_id in sorted(set(rows) | set(by_id)):
            if network_id in busy:
                continue  # its operation's chain (or its events) settles it
            checked += 1
            network, row, gnet = networks.get(network_id), rows.get(network_id), by_id.get(network_id)
            if network is None or network.deleted:
                self.check_gone(network_id, network, row, gnet, latest.get(network_id))
            else:
                self.check_live(network, row, gnet, groups, latest.get(network_id))
        self.check_reservations({i: g for i, g in by_id.items() if i not in busy and i in networks
                                 and not networks[i].deleted})
        self.write()
        return checked

    def in_flight(self) -> set[int]:
        return set(self.session.scalars(select(Operation.network_id).where(
            Operation.backend_id == self.backend_id, Operation.network_id.is_not(None),
            Operation.status.in_(IN_FLIGHT))))

    def load_rows(self) -> dict[int, Any]:
        query = select(BackendNetwork.id, BackendNetwork.network_id, BackendNetwork.state,
                       BackendNetwork.updated_at).where(BackendNetwork.backend_id == self.backend_id)
        if self.opts.window is not None:
            lo, hi = self.opts.window
            query = query.where(BackendNetwork.network_id > lo)
            if hi is not None:
                query = query.where(BackendNetwork.network_id <= hi)
        return {r.network_id: r for r in self.session.execute(query)}

    def load_networks(self, ids: set[int]) -> dict[int, Any]:
        found: dict[int, Any] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            for r in self.session.execute(select(Network.id, Network.deleted, Network.updated_at)
                                          .where(Network.id.in_(ordered[start:start + CHUNK]))):
                found[r.id] = r
        return found

    def latest_ops(self, ids: set[int]) -> dict[int, Any]:
        """Each network's latest operation on this backend (its kind and status)."""
        found: dict[int, Any] = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            for r in self.session.execute(
                    select(Operation.network_id, Operation.id, Operation.kind, Operation.status, Operation.error)
                    .where(Operation.backend_id == self.backend_id,
                           Operation.network_id.in_(ordered[start:start + CHUNK]))
                    .order_by(Operation.id)):
                found[r.network_id] = r
        return found

    @staticmethod
    def suspect(network, row, gnet, groups: list[str]) -> bool:
        """Whether the pair may be a drift, so its latest operation is worth reading (most
        pairs agree: their operations are never read)."""
        state = row.state if row is not None else None
        if network is None or network.deleted:
            return gnet is not None or state not in (None, NetworkState.DELETED.value)
        if gnet is None:
            return state in (NetworkState.PENDING.value, NetworkState.ACTIVE.value)
        return state != NetworkState.ACTIVE.value or not set(groups) <= connected_groups(gnet)

    def check_gone(self, network_id: int, network, row, gnet, latest) -> None:
        """A deleted or unknown network: its Ganeti network is an orphan; a row still up is stale."""
        if network is not None and self.recent(network.updated_at):
            return  # deleted just now: the bulk answer may predate it
        if gnet is None:
            if row is not None and row.state != NetworkState.DELETED.value and not self.recent(row.updated_at):
                self.stale(network_id, row, "the network is deleted")
            return
        found = self.finding("orphan", network_id, {
            "db": "absent" if network is None else "deleted", "groups": sorted(connected_groups(gnet))})
        if "orphan" not in self.opts.fixes:
            return
        if network is None:
            self.remove_unknown(found, gnet)
        elif self.failed_before(found, latest):
            return
        else:
            self.to_fix.append((found, network_id, self.fix_orphan))

    def check_live(self, network, row, gnet, groups: list[str], latest) -> None:
        network_id = network.id
        if row is not None and self.recent(row.updated_at):
            return  # a create or removal that just ended: the grace period
        removing = latest is not None and latest.kind == netops.NETWORK_REMOVE
        db_state = row.state if row is not None else None
        if gnet is None:
            if db_state in (None, NetworkState.DELETED.value, NetworkState.ERROR.value):
                return  # not there, as the row says; or a failed create, its retry the operator's
            if removing:
                self.stale(network_id, row, f"its removal failed (operation {latest.id})")
                return
            found = self.finding("missing", network_id, {"db": db_state, "cluster": "absent"})
            self.start_create(found, "missing", network_id, latest)
            return
        if removing:
            return  # a removal that failed with the network still there: its retry is the operator's
        hanging = sorted(set(groups) - connected_groups(gnet))
        if db_state in (None, NetworkState.DELETED.value):
            found = self.finding("state", network_id, {"db": db_state or "no row", "cluster": "present",
                                                       "groups_missing": hanging})
            self.start_create(found, "state", network_id, latest)
        elif hanging:
            found = self.finding("groups", network_id, {"db": db_state, "groups_missing": hanging})
            self.start_create(found, "groups", network_id, latest)
        elif db_state != NetworkState.ACTIVE.value:
            found = self.finding("state", network_id, {"db": db_state, "cluster": "connected to every group"})
            self.start_create(found, "state", network_id, latest)

    def stale(self, network_id: int, row, why: str) -> None:
        found = self.finding("stale", network_id, {"db": row.state, "cluster": "absent", "why": why})
        if "stale" in self.opts.fixes:
            self.to_fix.append((found, network_id, self.fix_stale))

    def failed_before(self, found: dict[str, Any], latest) -> bool:
        """The latest operation of the pair failed: a new one would fail the same way each run."""
        if latest is None or latest.status != OpStatus.FAILED.value:
            return False
        found["fix"] = (f"left alone: operation {latest.id} ({latest.kind}) failed: {latest.error or 'no error'}; "
                        f"retry it (orchestrator operation retry {latest.id})")
        return True

    def start_create(self, found: dict[str, Any], fix: str, network_id: int, latest) -> None:
        if fix in self.opts.fixes and not self.failed_before(found, latest):
            self.to_fix.append((found, network_id, self.fix_create))

    def remove_unknown(self, found: dict[str, Any], gnet: dict[str, Any]) -> None:
        """No row to be an operation's target: the disconnects and the remove (depending on
        them) are sent here, in the read phase, as an orphan instance's remove is."""
        name = gnet["name"]
        try:
            disconnects = [self.client.disconnect_network(name, group, reason=REASON)
                           for group in sorted(connected_groups(gnet))]
            job = self.client.delete_network(name, depends=disconnects or None, reason=REASON)
        except RapiError as exc:
            found["fix"] = f"remove failed: {exc.message}"
            return
        found["fixed"] = True
        found["fix"] = (f"disconnect jobs {disconnects}, remove submitted as job {job}" if disconnects
                        else f"remove submitted as job {job}")

    def check_reservations(self, gnets: dict[int, dict[str, Any]]) -> None:
        """Ganeti's external reservations the subnet's pool does not know (Synnefo's
        reconcile_externally_reserved)."""
        wanted = {i: external_reservations(g) for i, g in gnets.items()}
        wanted = {i: ips for i, ips in wanted.items() if ips}
        if not wanted:
            return
        ordered = sorted(wanted)
        for start in range(0, len(ordered), CHUNK):
            rows = self.session.execute(
                select(Subnet.network_id, Subnet.id, Pool).join(Pool, Pool.id == Subnet.pool_id)
                .where(Subnet.network_id.in_(ordered[start:start + CHUNK]), Subnet.deleted.is_(False),
                       Subnet.ip_version == 4, Pool.deleted.is_(False))).all()
            for network_id, subnet_id, pool in rows:
                unknown = unknown_reservations(pool, wanted[network_id])
                if not unknown:
                    continue
                found = self.finding("reserved", network_id, {"subnet_id": subnet_id, "pool_id": pool.id,
                                                              "addresses": unknown})
                if "reserved" in self.opts.fixes:
                    self.to_fix.append((found, network_id, self.fix_reserved))

    # -- write phase ---------------------------------------------------------------------
    def write(self) -> None:
        if self.to_fix:
            write_lock(self.session)
        for found, network_id, fix in sorted(self.to_fix, key=lambda item: item[1]):
            network = netops.lock_network(self.session, network_id)
            fix(network, found)
        self.session.flush()
        if self.findings:
            self.session.execute(insert(Finding), self.findings)
        self.session.commit()
        for op in self.started:
            if self.opts.hand_over is not None:
                self.opts.hand_over(op)

    def row(self, network: Network) -> BackendNetwork | None:
        return next((r for r in network.backend_networks if r.backend_id == self.backend_id), None)

    def busy_now(self, network: Network) -> Operation | None:
        return self.session.scalars(select(Operation).where(
            Operation.network_id == network.id, Operation.backend_id == self.backend_id,
            Operation.status.in_(IN_FLIGHT)).limit(1)).first()

    def changed(self, network: Network, found: dict[str, Any]) -> bool:
        """Re-checked under the network's lock: an operation started meanwhile, or the row
        moved (its state no longer the one seen)."""
        op = self.busy_now(network)
        if op is not None:
            found["fix"] = f"left alone: operation {op.id} ({op.kind}) started meanwhile"
            return True
        row = self.row(network)
        seen = found["details"].get("db")
        now = row.state if row is not None else None
        if seen in ("no row", "absent"):
            seen = None
        if network.deleted and found["kind"] not in (KIND["orphan"], KIND["stale"]):
            found["fix"] = "left alone: the network was deleted meanwhile"
            return True
        if found["kind"] != KIND["orphan"] and seen != now:
            found["fix"] = f"left alone: the row changed meanwhile ({seen} -> {now})"
            return True
        return False

    def fix_stale(self, network: Network, found: dict[str, Any]) -> None:
        if self.changed(network, found):
            return
        row = self.row(network)
        report = JobReport(None, OP_NETWORK_REMOVE, "success", self.report_ts,
                           log_msg="reconciliation: the network is gone from the cluster")
        if not apply_network_report(row, report):
            found["fix"] = "left alone: the row has a newer report from the cluster"
            return
        how = "row DELETED, as if a remove had succeeded"
        if not network.deleted and all(r.state == NetworkState.DELETED.value for r in network.backend_networks):
            from ..network.networks import delete_rows

            delete_rows(self.session, network)
            how += "; no backend holds the network any more: deleted"
        found["fixed"], found["fix"] = True, how

    def fix_create(self, network: Network, found: dict[str, Any]) -> None:
        if self.changed(network, found):
            return
        row = self.row(network)
        if row is None:
            row = BackendNetwork(network=network, backend_id=self.backend_id)
            self.session.add(row)
        row.state = NetworkState.PENDING.value  # a new attempt, as place_networks starts one
        op = netops.create_operation(network, self.backend_id, WHO)
        op.params = {"reconciliation_run": self.run.id}
        if not self.add_operation(op, found):
            return
        refresh_network(network)
        found["fixed"], found["fix"] = True, f"network_create operation {op.id}"

    def fix_orphan(self, network: Network, found: dict[str, Any]) -> None:
        if self.changed(network, found):
            return
        op = netops.new_remove(network, self.backend_id, WHO)
        op.params = {"reconciliation_run": self.run.id}
        if self.add_operation(op, found):
            found["fixed"], found["fix"] = True, f"network_remove operation {op.id}"

    def add_operation(self, op: Operation, found: dict[str, Any]) -> bool:
        try:
            with self.session.begin_nested():
                self.session.add(op)
                self.session.flush()
        except IntegrityError:  # a racing request started one (one in flight per network and backend)
            found["fix"] = "left alone: an operation started meanwhile"
            return False
        self.started.append(op)
        return True

    def fix_reserved(self, network: Network, found: dict[str, Any]) -> None:
        pool = pools.lock(self.session, found["details"]["pool_id"])
        if pool.deleted:
            found["fix"] = "left alone: the pool was deleted meanwhile"
            return
        available, _reserved = pools._load(pool)
        done, held = [], []
        for address in found["details"]["addresses"]:
            index = pools.index_of(pool, address)
            if index is None:
                continue
            if not available & (1 << index):
                held.append(address)
                continue
            pools.reserve(pool, [address])
            done.append(address)
        if held:
            holders = self.holders(found["details"]["subnet_id"], held)
            found["details"]["held"] = holders
        parts = []
        if done:
            parts.append(f"reserved in pool {pool.id}: {', '.join(done)}")
        if held:
            parts.append(f"left alone: {', '.join(held)} held in the database (free it in Ganeti with "
                         "remove_reserved_ips, or move its holder)")
        found["fixed"], found["fix"] = bool(done) and not held, "; ".join(parts) or None

    def holders(self, subnet_id: int, addresses: list[str]) -> dict[str, Any]:
        rows = self.session.execute(select(IPAddress.address, IPAddress.port_id).where(
            IPAddress.subnet_id == subnet_id, IPAddress.address.in_(addresses), IPAddress.deleted.is_(False)))
        return {address: ({"port_id": port_id} if port_id is not None else "floating IP") for address, port_id in rows}


def unknown_reservations(pool: Pool, addresses: list[str]) -> list[str]:
    """The addresses of the pool that it has neither reserved nor handed out (values outside
    the pool, e.g. of another subnet, are not this pool's to know)."""
    available, reserved = pools._load(pool)
    unknown = []
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            continue
        index = pools.index_of(pool, address)
        if index is None:
            continue
        bit = 1 << index
        if available & bit and not reserved & bit:
            unknown.append(address)
    return unknown
